import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CREATE_PIPELINE,
  actionExecutions,
  executions,
  firstRunEnded,
  gitSourceStage,
  start,
  waitForStatus,
} from '../support/executions';
import { newAccount, userWithPolicy, type TestAccount } from '../support/factories';
import { GitRepo } from '../support/git-repo';
import type { GraphQLClient } from '../support/graphql-client';
import { startTestServer, type TestServer } from '../support/test-server';

/**
 * Pipeline service roles (issue 9, point 5): the declaration's roleArn, pipeline and action
 * level, makes actions act as sessions of those roles; naming a role needs iam:PassRole.
 * End to end through GraphQL and the engine.
 */
let server: TestServer;
let a: TestAccount; // owns the calling pipelines
let c: TestAccount; // owns pipelines A starts through roles of its own
let repo: GitRepo;
let db: Client;

const invokePipeline = { category: 'Invoke', owner: 'Sluice', provider: 'Pipeline', version: '1' };
const approval = { category: 'Approval', owner: 'Sluice', provider: 'Manual', version: '1' };

const CREATE_ROLE = `mutation($n: String!, $d: JSON!) {
  createRole(roleName: $n, assumeRolePolicyDocument: $d) { arn } }`;
const PUT_ROLE_POLICY = `mutation($n: String!, $d: JSON!) {
  putRolePolicy(roleName: $n, policyName: "perms", policyDocument: $d) }`;
const PUT_USER_POLICY = `mutation($u: String!, $d: JSON!) {
  putUserPolicy(userName: $u, policyName: "test", policyDocument: $d) }`;
const UPDATE_PIPELINE = `mutation($p: PipelineDeclarationInput!) { updatePipeline(pipeline: $p) { name version } }`;
const GET_PIPELINE = `query($n: String!) { pipeline(name: $n) { name version } }`;
type Statement = Record<string, unknown>;
const policy = (...statements: Statement[]): object => ({ Version: '2012-10-17', Statement: statements });
const allowing = (action: string | string[], resource: string | string[] = '*'): Statement => ({
  Effect: 'Allow',
  Action: action,
  Resource: resource,
});
const trusting = (principal: string): object =>
  policy({ Effect: 'Allow', Principal: { AWS: principal }, Action: 'sts:AssumeRole' });
/** What a pipeline author needs for the pipelines themselves, without iam:* or sts:*. */
const pipelineWork = allowing('codepipeline:*');

const pipelineArn = (account: TestAccount, name: string): string =>
  `arn:sluice:codepipeline:local:${account.accountId}:${name}`;
const roleArn = (account: TestAccount, name: string): string =>
  `arn:sluice:iam::${account.accountId}:role/${name}`;
const userArn = (account: TestAccount, name: string): string =>
  `arn:sluice:iam::${account.accountId}:user/${name}`;

async function role(owner: TestAccount, name: string, trust: object, permissions?: object): Promise<string> {
  const { createRole } = await owner.root.ok<{ createRole: { arn: string } }>(CREATE_ROLE, {
    n: name,
    d: trust,
  });
  if (permissions) await owner.root.ok(PUT_ROLE_POLICY, { n: name, d: permissions });
  return createRole.arn;
}

/** A pipeline whose second stage waits for an approval: a target that stays put once started. */
function target(name: string): Record<string, unknown> {
  return {
    name,
    stages: [gitSourceStage(repo.dir), { name: 'Gate', actions: [{ name: 'Wait', actionTypeId: approval }] }],
  };
}

/** A pipeline whose second stage starts `pipelineName` (a name, an ARN, or a reference). */
function caller(
  name: string,
  pipelineName: string,
  extra: { roleArn?: string; actionRoleArn?: string; variables?: object[] } = {},
): Record<string, unknown> {
  return {
    name,
    ...(extra.roleArn ? { roleArn: extra.roleArn } : {}),
    ...(extra.variables ? { variables: extra.variables } : {}),
    stages: [
      gitSourceStage(repo.dir),
      {
        name: 'Release',
        actions: [
          {
            name: 'Call',
            actionTypeId: invokePipeline,
            configuration: { PipelineName: pipelineName },
            ...(extra.actionRoleArn ? { roleArn: extra.actionRoleArn } : {}),
          },
        ],
      },
    ],
  };
}

async function action(client: GraphQLClient, pipeline: string, executionId: string, name: string) {
  return (await actionExecutions(client, pipeline, executionId)).find((x) => x.actionName === name);
}

async function auditEvents(accountId: string, eventName: string): Promise<Record<string, unknown>[]> {
  const { rows } = await db.query<{ event: Record<string, unknown> }>(
    'SELECT event FROM audit_events WHERE account_id = $1 AND event_name = $2 ORDER BY seq',
    [accountId, eventName],
  );
  return rows.map((r) => r.event);
}

beforeAll(async () => {
  server = await startTestServer();
  a = await newAccount(server, 'builders');
  c = await newAccount(server, 'production');
  repo = GitRepo.create({ 'README.md': 'hello' });
  db = new Client({ connectionString: server.databaseUrl });
  await db.connect();
  await c.root.ok(CREATE_PIPELINE, { p: target('prod') });
  await a.root.ok(CREATE_PIPELINE, { p: target('allowed-target') });
  await a.root.ok(CREATE_PIPELINE, { p: target('other-target') });
}, 60_000);

afterAll(async () => {
  await db?.end();
  repo?.remove();
  await server?.stop();
});

describe('iam:PassRole', () => {
  it('is needed on every role a declaration names, to create or update it; nothing is written without it', async () => {
    const pipelineRole = await role(a, 'deployer', trusting(a.accountId));
    const remoteRole = roleArn(c, 'remote-starter'); // need not exist: PassRole asks A's policies only
    const author = await userWithPolicy(server, a, policy(pipelineWork), 'passer');

    const denied = await author.fails(
      CREATE_PIPELINE,
      { p: caller('passed', 'allowed-target', { roleArn: pipelineRole }) },
      'ACCESS_DENIED',
    );
    expect(denied.message).toBe(
      `${userArn(a, 'passer')} is not authorized to perform iam:PassRole on ${pipelineRole}`,
    );
    expect(denied.extensions?.decisionId).toMatch(/^[0-9a-f-]{36}$/); // explained like any denial
    await author.fails(GET_PIPELINE, { n: 'passed' }, 'NOT_FOUND');
    expect(await executions(a.root, 'allowed-target')).toHaveLength(1);
    const refusals = (await auditEvents(a.accountId, 'CreatePipeline')).filter(
      (e) => e.errorCode === 'ACCESS_DENIED',
    );
    expect(refusals).toHaveLength(1);
    expect(refusals[0].errorMessage).toBe(denied.message);

    // Spelled in another case, the role is checked as stored: a Deny on its name holds.
    await a.root.ok(PUT_USER_POLICY, {
      u: 'passer',
      d: policy(pipelineWork, allowing('iam:PassRole'), {
        ...allowing('iam:PassRole', pipelineRole),
        Effect: 'Deny',
      }),
    });
    const shouted = await author.fails(
      CREATE_PIPELINE,
      { p: caller('passed', 'allowed-target', { roleArn: roleArn(a, 'DEPLOYER') }) },
      'ACCESS_DENIED',
    );
    expect(shouted.message).toBe(
      `${userArn(a, 'passer')} is not authorized to perform iam:PassRole on ${pipelineRole} with an explicit deny in a policy`,
    );

    // Allowed on the pipeline's role but not on the action's (another account's): still denied.
    await a.root.ok(PUT_USER_POLICY, {
      u: 'passer',
      d: policy(pipelineWork, allowing('iam:PassRole', pipelineRole)),
    });
    const both = caller('passed', 'allowed-target', { roleArn: pipelineRole, actionRoleArn: remoteRole });
    const remote = await author.fails(CREATE_PIPELINE, { p: both }, 'ACCESS_DENIED');
    expect(remote.message).toBe(
      `${userArn(a, 'passer')} is not authorized to perform iam:PassRole on ${remoteRole}`,
    );
    await author.fails(GET_PIPELINE, { n: 'passed' }, 'NOT_FOUND');

    await a.root.ok(PUT_USER_POLICY, {
      u: 'passer',
      d: policy(pipelineWork, allowing('iam:PassRole', [pipelineRole, remoteRole])),
    });
    await author.ok(CREATE_PIPELINE, { p: both });

    // Every update passes the roles again.
    await a.root.ok(PUT_USER_POLICY, {
      u: 'passer',
      d: policy(pipelineWork, allowing('iam:PassRole', remoteRole)),
    });
    const update = await author.fails(UPDATE_PIPELINE, { p: both }, 'ACCESS_DENIED');
    expect(update.message).toBe(
      `${userArn(a, 'passer')} is not authorized to perform iam:PassRole on ${pipelineRole}`,
    );
    expect(
      (await author.ok<{ pipeline: { version: number } }>(GET_PIPELINE, { n: 'passed' })).pipeline.version,
    ).toBe(1);
    // Without roles, nothing is passed and nothing more is needed.
    await author.ok(UPDATE_PIPELINE, { p: caller('passed', 'allowed-target') });
  });
});

describe('an action role in another account', () => {
  it("lets A's pipeline start C's pipeline when C's role trusts A and may start it", async () => {
    const starter = await role(
      c,
      'release-starter',
      trusting(a.accountId),
      policy(allowing('codepipeline:StartPipelineExecution', pipelineArn(c, 'prod'))),
    );
    const releaser = await userWithPolicy(
      server,
      a,
      policy(pipelineWork, allowing(['iam:PassRole', 'sts:AssumeRole'], starter)),
      'releaser',
    );

    const before = (await executions(c.root, 'prod')).length;
    await releaser.ok(CREATE_PIPELINE, {
      p: caller('release', pipelineArn(c, 'prod'), { actionRoleArn: starter }),
    });
    const run = await firstRunEnded(releaser, 'release');
    const call = await action(releaser, 'release', run.pipelineExecutionId, 'Call');
    expect(run.status, call?.summary ?? '').toBe('SUCCEEDED');
    const started = await executions(c.root, 'prod');
    expect(started).toHaveLength(before + 1);
    expect(call?.output.outputVariables).toEqual({ PipelineExecutionId: started[0].pipelineExecutionId });
    // C's trigger says who started it: A's pipeline, as a session of C's role.
    const session = `arn:sluice:sts::${c.accountId}:assumed-role/release-starter/sluice-release-${run.pipelineExecutionId.slice(0, 8)}`;
    expect(started[0].trigger).toEqual({ triggerType: 'START_PIPELINE_EXECUTION', triggerDetail: session });
    expect(call?.summary).toBe(`Started prod execution ${started[0].pipelineExecutionId}`);
  });

  it('fails the action with PERMISSION_ERROR when the role does not trust A, does not exist, or A may not assume it, alike', async () => {
    const untrusting = await role(
      c,
      'insiders-only',
      trusting(c.accountId),
      policy(allowing('codepipeline:StartPipelineExecution', pipelineArn(c, 'prod'))),
    );
    const ghost = roleArn(c, 'no-such-role');
    // Trusting A, but A's author has no sts:AssumeRole on it: across accounts both must agree.
    const unpermitted = await role(
      c,
      'needs-permission',
      trusting(a.accountId),
      policy(allowing('codepipeline:StartPipelineExecution', pipelineArn(c, 'prod'))),
    );
    const hopeful = await userWithPolicy(
      server,
      a,
      policy(
        pipelineWork,
        allowing(['iam:PassRole', 'sts:AssumeRole'], [untrusting, ghost]),
        allowing('iam:PassRole', unpermitted),
      ),
      'hopeful',
    );
    const before = (await executions(c.root, 'prod')).length;
    for (const [name, roleName] of [
      ['untrusted', untrusting],
      ['ghostly', ghost],
      ['unpermitted', unpermitted],
    ]) {
      await hopeful.ok(CREATE_PIPELINE, {
        p: caller(name, pipelineArn(c, 'prod'), { actionRoleArn: roleName }),
      });
      const run = await firstRunEnded(hopeful, name);
      expect(run.status).toBe('FAILED');
      expect(await action(hopeful, name, run.pipelineExecutionId, 'Call')).toMatchObject({
        status: 'FAILED',
        failureType: 'PERMISSION_ERROR',
        summary:
          `Could not start pipeline ${pipelineArn(c, 'prod')}: could not assume the action's role ${roleName}: ` +
          `${userArn(a, 'hopeful')} is not authorized to perform sts:AssumeRole on ${roleName}`,
      });
    }
    expect(await executions(c.root, 'prod')).toHaveLength(before);
  });

  it("fails the next run's action once the role is deleted", async () => {
    const starter = await role(
      c,
      'short-lived',
      trusting(a.accountId),
      policy(allowing('codepipeline:StartPipelineExecution', pipelineArn(c, 'prod'))),
    );
    const mortal = await userWithPolicy(
      server,
      a,
      policy(pipelineWork, allowing(['iam:PassRole', 'sts:AssumeRole'], starter)),
      'mortal',
    );
    await mortal.ok(CREATE_PIPELINE, {
      p: caller('mortal-release', pipelineArn(c, 'prod'), { actionRoleArn: starter }),
    });
    expect((await firstRunEnded(mortal, 'mortal-release')).status).toBe('SUCCEEDED');
    const before = (await executions(c.root, 'prod')).length;

    await c.root.ok(`mutation { deleteRole(roleName: "short-lived") }`);
    const next = await start(mortal, 'mortal-release');
    await waitForStatus(mortal, 'mortal-release', next.pipelineExecutionId, 'FAILED');
    expect(await action(mortal, 'mortal-release', next.pipelineExecutionId, 'Call')).toMatchObject({
      failureType: 'PERMISSION_ERROR',
      summary:
        `Could not start pipeline ${pipelineArn(c, 'prod')}: could not assume the action's role ${starter}: ` +
        `${userArn(a, 'mortal')} is not authorized to perform sts:AssumeRole on ${starter}`,
    });
    expect(await executions(c.root, 'prod')).toHaveLength(before);
  });
});

describe('a pipeline role', () => {
  it("limits what Invoke/Pipeline may start to the role's permissions, not the author's", async () => {
    const broad = await userWithPolicy(server, a, policy(pipelineWork), 'broad');
    // Trusting the author by name: in its own account that needs no sts:AssumeRole of the author.
    const service = await role(
      a,
      'narrow-service',
      trusting(userArn(a, 'broad')),
      policy(allowing('codepipeline:StartPipelineExecution', pipelineArn(a, 'allowed-target'))),
    );
    // The author may start every pipeline of the account itself.
    await a.root.ok(PUT_USER_POLICY, {
      u: 'broad',
      d: policy(pipelineWork, allowing('iam:PassRole', service)),
    });
    await broad.ok(CREATE_PIPELINE, {
      p: caller('narrow', '#{variables.target}', {
        roleArn: service,
        variables: [{ name: 'target', defaultValue: 'other-target' }],
      }),
    });
    const session = (id: string) =>
      `arn:sluice:sts::${a.accountId}:assumed-role/narrow-service/sluice-narrow-${id.slice(0, 8)}`;
    const denied = await firstRunEnded(broad, 'narrow');
    expect(denied.status).toBe('FAILED');
    expect(await action(broad, 'narrow', denied.pipelineExecutionId, 'Call')).toMatchObject({
      failureType: 'PERMISSION_ERROR',
      summary:
        `Could not start pipeline other-target: ${session(denied.pipelineExecutionId)} is not authorized to ` +
        `perform codepipeline:StartPipelineExecution on ${pipelineArn(a, 'other-target')}`,
    });
    expect(await executions(a.root, 'other-target')).toHaveLength(1);

    const allowed = await start(broad, 'narrow', [{ name: 'target', value: 'allowed-target' }]);
    await waitForStatus(broad, 'narrow', allowed.pipelineExecutionId, 'SUCCEEDED');
    const started = await executions(a.root, 'allowed-target');
    expect(started[0].trigger).toEqual({
      triggerType: 'START_PIPELINE_EXECUTION',
      triggerDetail: session(allowed.pipelineExecutionId),
    });

    // Every action acts as the role: without it the first one (a Git source) fails already.
    await a.root.ok(`mutation { deleteRole(roleName: "narrow-service") }`);
    const orphan = await start(broad, 'narrow', [{ name: 'target', value: 'allowed-target' }]);
    await waitForStatus(broad, 'narrow', orphan.pipelineExecutionId, 'FAILED');
    expect(await action(broad, 'narrow', orphan.pipelineExecutionId, 'Checkout')).toMatchObject({
      failureType: 'PERMISSION_ERROR',
      summary:
        `Could not assume the pipeline role ${service}: ${userArn(a, 'broad')} is not authorized to perform ` +
        `sts:AssumeRole on ${service}`,
    });
  });

  it('acts, for a pipeline its account root last changed, as a session the root starts as its account', async () => {
    const service = await role(
      a,
      'root-service',
      trusting(a.accountId),
      policy(allowing('codepipeline:StartPipelineExecution', pipelineArn(a, 'allowed-target'))),
    );
    await a.root.ok(CREATE_PIPELINE, { p: caller('rooted', 'allowed-target', { roleArn: service }) });
    const run = await firstRunEnded(a.root, 'rooted');
    expect(run.status, run.statusSummary ?? '').toBe('SUCCEEDED');
    expect((await executions(a.root, 'allowed-target'))[0].trigger.triggerDetail).toBe(
      `arn:sluice:sts::${a.accountId}:assumed-role/root-service/sluice-rooted-${run.pipelineExecutionId.slice(0, 8)}`,
    );
  });

  it("starts an action's role in another account from the pipeline role's session (role chaining)", async () => {
    const chainer = await userWithPolicy(server, a, policy(pipelineWork), 'chainer');
    const remote = roleArn(c, 'chained-starter');
    const service = await role(
      a,
      'chain-service',
      trusting(userArn(a, 'chainer')),
      policy(allowing('sts:AssumeRole', remote)),
    );
    await role(
      c,
      'chained-starter',
      trusting(service),
      policy(allowing('codepipeline:StartPipelineExecution', pipelineArn(c, 'prod'))),
    );
    await a.root.ok(PUT_USER_POLICY, {
      u: 'chainer',
      d: policy(pipelineWork, allowing('iam:PassRole', [service, remote])),
    });
    await chainer.ok(CREATE_PIPELINE, {
      p: caller('chained', pipelineArn(c, 'prod'), { roleArn: service, actionRoleArn: remote }),
    });
    const run = await firstRunEnded(chainer, 'chained');
    const call = await action(chainer, 'chained', run.pipelineExecutionId, 'Call');
    expect(run.status, call?.summary ?? '').toBe('SUCCEEDED');
    expect((await executions(c.root, 'prod'))[0].trigger.triggerDetail).toBe(
      `arn:sluice:sts::${c.accountId}:assumed-role/chained-starter/sluice-chained-${run.pipelineExecutionId.slice(0, 8)}`,
    );
  });
});
