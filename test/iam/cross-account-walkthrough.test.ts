import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  CREATE_PIPELINE,
  gitSourceStage,
  latestExecution,
  waitForStatus,
} from '../support/executions';
import { allow, newAccount, userWithPolicy, type TestAccount } from '../support/factories';
import type { GraphQLClient } from '../support/graphql-client';
import { GitRepo } from '../support/git-repo';
import { startTestServer, type TestServer } from '../support/test-server';

/**
 * docs/cross-account.md, step by step (issue 9, point 4): account A's release pipeline `rel`
 * is approved in production by carol, a user of partner account B, through A's role
 * ProdApprover — and by nobody else.
 */
let server: TestServer;
let a: TestAccount;
let b: TestAccount;
let repo: GitRepo;

const ASSUME = `mutation($r: String!, $x: String) {
  assumeRole(roleArn: $r, roleSessionName: "carol-approves", externalId: $x) { accessToken principal { arn } } }`;
const STATE = `query { pipelineState(name: "rel") { stageStates { stageName
  actionStates { actionName latestExecution { status token } } } } }`;
const APPROVE = `mutation($s: String!, $t: String!) { putApprovalResult(pipelineName: "rel", stageName: $s,
  actionName: "Approve", token: $t, result: { status: APPROVED, summary: "ok from B" }) }`;

interface State {
  pipelineState: {
    stageStates: {
      stageName: string;
      actionStates: {
        actionName: string;
        latestExecution: { status: string; token: string | null } | null;
      }[];
    }[];
  };
}

const approval = { category: 'Approval', owner: 'Sluice', provider: 'Manual', version: '1' };
const approvalStage = (name: string): object => ({
  name,
  actions: [{ name: 'Approve', actionTypeId: approval }],
});

/** The approval token of `stage` once its approval waits, as GetPipelineState shows it. */
async function waitingToken(client: GraphQLClient, stage: string): Promise<string> {
  const state = await eventually(
    () => client.ok<State>(STATE),
    (s) =>
      s.pipelineState.stageStates.find((st) => st.stageName === stage)?.actionStates[0].latestExecution
        ?.status === 'IN_PROGRESS',
  );
  return state.pipelineState.stageStates.find((st) => st.stageName === stage)!.actionStates[0]
    .latestExecution!.token!;
}

beforeAll(async () => {
  server = await startTestServer();
  repo = GitRepo.create({ 'README.md': 'release me\n' });
  a = await newAccount(server, 'release-owner');
  b = await newAccount(server, 'partner');
});
afterAll(async () => {
  await server.stop();
  repo.remove();
});

describe('cross-account approval walkthrough', () => {
  it('carol of account B approves Prod of A’s pipeline through role ProdApprover, and nothing more', async () => {
    // 1. Account A: the pipeline, with manual approvals in Staging and Prod.
    await a.root.ok(CREATE_PIPELINE, {
      p: { name: 'rel', stages: [gitSourceStage(repo.dir), approvalStage('Staging'), approvalStage('Prod')] },
    });
    const pipelineArn = `arn:sluice:codepipeline:local:${a.accountId}:rel`;

    // 2. Account A: the role, trusting account B when it gives the external id.
    const { createRole } = await a.root.ok<{ createRole: { arn: string } }>(
      `mutation($d: JSON!) { createRole(roleName: "ProdApprover", assumeRolePolicyDocument: $d) { arn } }`,
      {
        d: {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: `arn:sluice:iam::${b.accountId}:root` },
              Action: 'sts:AssumeRole',
              Condition: { StringEquals: { 'sts:ExternalId': 'rel-prod-7731' } },
            },
          ],
        },
      },
    );
    const roleArn = createRole.arn;
    await a.root.ok(
      `mutation($d: JSON!) { putRolePolicy(roleName: "ProdApprover", policyName: "ApproveProd", policyDocument: $d) }`,
      {
        d: {
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Action: 'codepipeline:GetPipelineState', Resource: pipelineArn },
            { Effect: 'Allow', Action: 'codepipeline:PutApprovalResult', Resource: `${pipelineArn}/Prod/*` },
          ],
        },
      },
    );

    // 3. Account B: carol may assume it; dave may not; both exist in B.
    const carol = await userWithPolicy(server, b, allow('sts:AssumeRole', roleArn), 'carol');
    const dave = await userWithPolicy(server, b, allow('codepipeline:*'), 'dave');

    // 4. Carol assumes the role (with the external id) and reads the pipeline's state.
    await carol.fails(ASSUME, { r: roleArn }, 'ACCESS_DENIED'); // without the external id
    await dave.fails(ASSUME, { r: roleArn, x: 'rel-prod-7731' }, 'ACCESS_DENIED'); // no sts:AssumeRole
    const { assumeRole } = await carol.ok<{
      assumeRole: { accessToken: string; principal: { arn: string } };
    }>(ASSUME, { r: roleArn, x: 'rel-prod-7731' });
    expect(assumeRole.principal.arn).toBe(
      `arn:sluice:sts::${a.accountId}:assumed-role/ProdApprover/carol-approves`,
    );
    const session = carol.withToken(assumeRole.accessToken);

    // 5. Staging waits: carol may read it but not approve it; A approves Staging itself.
    const execution = (await latestExecution(a.root, 'rel'))!;
    const stagingToken = await waitingToken(session, 'Staging');
    await session.fails(APPROVE, { s: 'Staging', t: stagingToken }, 'ACCESS_DENIED');
    await session.fails(
      `mutation { startPipelineExecution(name: "rel") { pipelineExecutionId } }`,
      undefined,
      'ACCESS_DENIED',
    );
    await a.root.ok(APPROVE, { s: 'Staging', t: stagingToken });

    // 6. Prod waits: carol approves it, and the release completes.
    const prodToken = await waitingToken(session, 'Prod');
    await session.ok(APPROVE, { s: 'Prod', t: prodToken });
    await waitForStatus(a.root, 'rel', execution.pipelineExecutionId, 'SUCCEEDED');

    // 7. A deletes the role: carol's session stops working.
    await a.root.ok(`mutation { deleteRole(roleName: "ProdApprover") }`);
    await eventually(
      () => session.request(STATE),
      (r) => r.errors?.[0]?.extensions?.code === 'UNAUTHENTICATED',
      5,
    );
    await carol.fails(ASSUME, { r: roleArn, x: 'rel-prod-7731' }, 'ACCESS_DENIED');
  });
});
