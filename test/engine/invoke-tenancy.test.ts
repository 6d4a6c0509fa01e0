import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CREATE_PIPELINE,
  actionExecutions,
  executions,
  firstRunEnded,
  start,
  waitForStatus,
  gitSourceStage,
} from '../support/executions';
import { newAccount, userWithPolicy, type TestAccount } from '../support/factories';
import type { GraphQLClient } from '../support/graphql-client';
import { GitRepo } from '../support/git-repo';
import { startTestServer, type TestServer } from '../support/test-server';

/**
 * Invoke/Pipeline and Invoke/Webhook act for their own account only, end to end through GraphQL
 * (without service roles; with them, test/engine/service-roles.test.ts).
 */

let server: TestServer;
let a: TestAccount;
let b: TestAccount;
let repo: GitRepo;
let callee: http.Server;
let calleeUrl: string;
const deliveries: { headers: http.IncomingHttpHeaders; body: string }[] = [];

const invokePipeline = { category: 'Invoke', owner: 'Sluice', provider: 'Pipeline', version: '1' };
const invokeWebhook = { category: 'Invoke', owner: 'Sluice', provider: 'Webhook', version: '1' };

function withSecondStage(
  name: string,
  action: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name,
    stages: [gitSourceStage(repo.dir), { name: 'Next', actions: [{ name: 'Call', ...action }] }],
    ...extra,
  };
}

async function callAction(client: GraphQLClient, pipeline: string, executionId: string) {
  return (await actionExecutions(client, pipeline, executionId)).find((x) => x.actionName === 'Call');
}

beforeAll(async () => {
  server = await startTestServer();
  a = await newAccount(server, 'team-a');
  b = await newAccount(server, 'team-b');
  repo = GitRepo.create({ 'README.md': 'hello' });
  callee = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      deliveries.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => callee.listen(0, '127.0.0.1', resolve));
  calleeUrl = `http://127.0.0.1:${(callee.address() as AddressInfo).port}/hook`;
}, 60_000);

afterAll(async () => {
  callee?.closeAllConnections();
  await new Promise((resolve) => callee?.close(resolve));
  repo?.remove();
  await server?.stop();
});

describe('Invoke/Pipeline', () => {
  it('needs StartPipelineExecution on the target for the principal that last changed the caller', async () => {
    await a.root.ok(CREATE_PIPELINE, {
      p: withSecondStage('target', { actionTypeId: invokeWebhook, configuration: { Url: calleeUrl } }),
    });
    await firstRunEnded(a.root, 'target');
    const targetArn = `arn:sluice:codepipeline:local:${a.accountId}:target`;
    const callerArn = `arn:sluice:codepipeline:local:${a.accountId}:caller`;
    const userName = 'pipeline-author';
    const policy = (targets: string[]) => ({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: [
            'codepipeline:CreatePipeline',
            'codepipeline:UpdatePipeline',
            'codepipeline:Get*',
            'codepipeline:List*',
          ],
          Resource: '*',
        },
        { Effect: 'Allow', Action: 'codepipeline:StartPipelineExecution', Resource: targets },
      ],
    });
    const author = await userWithPolicy(server, a, policy([callerArn]), userName);

    await author.ok(CREATE_PIPELINE, {
      p: withSecondStage('caller', {
        actionTypeId: invokePipeline,
        configuration: { PipelineName: 'target' },
      }),
    });
    const denied = await firstRunEnded(author, 'caller');
    expect(denied.status).toBe('FAILED');
    expect(await callAction(author, 'caller', denied.pipelineExecutionId)).toMatchObject({
      status: 'FAILED',
      failureType: 'PERMISSION_ERROR',
      summary:
        `Could not start pipeline target: arn:sluice:iam::${a.accountId}:user/${userName}, who last changed ` +
        `pipeline caller, is not authorized to perform codepipeline:StartPipelineExecution on ${targetArn}`,
    });
    expect(await executions(a.root, 'target')).toHaveLength(1);

    // Granted StartPipelineExecution on the target, the same author's pipeline starts it.
    await a.root.ok(
      `mutation($u: String!, $d: JSON!) { putUserPolicy(userName: $u, policyName: "test", policyDocument: $d) }`,
      { u: userName, d: policy([callerArn, targetArn]) },
    );
    const allowed = await start(author, 'caller');
    await waitForStatus(author, 'caller', allowed.pipelineExecutionId, 'SUCCEEDED');
    const started = await callAction(author, 'caller', allowed.pipelineExecutionId);
    const targets = await executions(a.root, 'target');
    expect(targets).toHaveLength(2);
    expect(started?.output.outputVariables).toEqual({ PipelineExecutionId: targets[0].pipelineExecutionId });
    expect(targets[0].trigger).toEqual({
      triggerType: 'START_PIPELINE_EXECUTION',
      triggerDetail: `arn:pipeline-execution:caller/${allowed.pipelineExecutionId}`,
    });
  });

  it("refuses a target in another account without a role there, even for the account's root", async () => {
    await b.root.ok(CREATE_PIPELINE, {
      p: withSecondStage('theirs', { actionTypeId: invokeWebhook, configuration: { Url: calleeUrl } }),
    });
    await firstRunEnded(b.root, 'theirs');
    const theirs = `arn:sluice:codepipeline:local:${b.accountId}:theirs`;
    // Named directly, it is a validation error; through a variable, a PERMISSION_ERROR when it runs.
    const direct = await a.root.fails(
      CREATE_PIPELINE,
      {
        p: withSecondStage('cross', {
          actionTypeId: invokePipeline,
          configuration: { PipelineName: theirs },
        }),
      },
      'BAD_USER_INPUT',
    );
    expect(direct.extensions?.problems).toEqual([
      {
        path: 'stages[1](Next).actions[0](Call).configuration.PipelineName',
        message:
          "must be a pipeline of this account: a pipeline starts another account's pipeline only " +
          "through a role of that account in the action's roleArn",
      },
    ]);
    await a.root.ok(CREATE_PIPELINE, {
      p: withSecondStage(
        'cross',
        { actionTypeId: invokePipeline, configuration: { PipelineName: '#{variables.target}' } },
        { variables: [{ name: 'target', defaultValue: theirs }] },
      ),
    });
    const run = await firstRunEnded(a.root, 'cross');
    expect(run.status).toBe('FAILED');
    expect(await callAction(a.root, 'cross', run.pipelineExecutionId)).toMatchObject({
      failureType: 'PERMISSION_ERROR',
      summary:
        `Could not start pipeline ${theirs}: arn:sluice:iam::${a.accountId}:root, who last changed pipeline cross, ` +
        `acts in account ${a.accountId} only: a pipeline of account ${b.accountId} can be started through a role ` +
        `of that account in the action's roleArn`,
    });
    expect(await executions(b.root, 'theirs')).toHaveLength(1);
  });
});

describe('Invoke/Webhook', () => {
  const SECRET = `{ webhookSigningSecret }`;

  it("signs with the account's own secret, which the account reads with webhookSigningSecret", async () => {
    const secretA = (await a.root.ok<{ webhookSigningSecret: string }>(SECRET)).webhookSigningSecret;
    const secretB = (await b.root.ok<{ webhookSigningSecret: string }>(SECRET)).webhookSigningSecret;
    expect(secretA).toMatch(/^[0-9a-f]{64}$/);
    expect(secretB).not.toBe(secretA);

    const before = deliveries.length;
    await a.root.ok(CREATE_PIPELINE, {
      p: withSecondStage('notify', { actionTypeId: invokeWebhook, configuration: { Url: calleeUrl } }),
    });
    const run = await firstRunEnded(a.root, 'notify');
    expect(run.status).toBe('SUCCEEDED');
    const delivery = deliveries.slice(before).find((d) => JSON.parse(d.body).pipelineName === 'notify')!;
    const sign = (secret: string) =>
      `sha256=${createHmac('sha256', secret).update(delivery.body).digest('hex')}`;
    expect(delivery.headers['x-sluice-signature']).toBe(sign(secretA));
    expect(delivery.headers['x-sluice-signature']).not.toBe(sign(secretB));
    expect(JSON.parse(delivery.body)).toMatchObject({
      accountId: a.accountId,
      pipelineName: 'notify',
      stageName: 'Next',
      actionName: 'Call',
      pipelineExecutionId: run.pipelineExecutionId,
    });
  });

  it('keeps the secret from principals without codepipeline:ReadWebhookSigningSecret (read-only included)', async () => {
    const reader = await userWithPolicy(server, a, {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['codepipeline:Get*', 'codepipeline:List*'], Resource: '*' }],
    });
    const error = await reader.fails(SECRET, undefined, 'ACCESS_DENIED');
    expect(error.message).toMatch(/is not authorized to perform codepipeline:ReadWebhookSigningSecret on \*/);
    const allowed = await userWithPolicy(server, a, {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'codepipeline:ReadWebhookSigningSecret', Resource: '*' }],
    });
    expect((await allowed.ok<{ webhookSigningSecret: string }>(SECRET)).webhookSigningSecret).toBe(
      (await a.root.ok<{ webhookSigningSecret: string }>(SECRET)).webhookSigningSecret,
    );
  });
});
