import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  actionExecutions,
  CREATE_PIPELINE,
  eventually,
  latestExecution,
  start,
  START,
  waitForStatus,
  type Execution,
  gitSourceStage,
} from '../support/executions';
import { allow, newAccount, userWithPolicy, type TestAccount } from '../support/factories';
import { GitRepo } from '../support/git-repo';
import { startTestServer, type TestServer } from '../support/test-server';

let server: TestServer;
let account: TestAccount;
let repo: GitRepo;
let deployDir: string;

const shell = { category: 'Build', owner: 'Sluice', provider: 'Shell', version: '1' };
const approval = { category: 'Approval', owner: 'Sluice', provider: 'Manual', version: '1' };
const directory = { category: 'Deploy', owner: 'Sluice', provider: 'Directory', version: '1' };

const BUILDSPEC = `version: 0.2
env:
  exported-variables: [Version]
phases:
  build:
    commands:
      - export Version="$(cat VERSION)-#{variables.Flavour}"
      - mkdir -p dist && cp app.txt dist/ && echo "$Version" > dist/version.txt
      - echo "built $Version"
artifacts:
  base-directory: dist
  files: ['**/*']
`;

/** git → build (buildspec, exported variables) → approval → deploy to a folder. */
function releasePipeline(name: string): Record<string, unknown> {
  return {
    name,
    variables: [{ name: 'Flavour', defaultValue: 'plain' }],
    stages: [
      gitSourceStage(repo.dir, 'SourceVariables'),
      {
        name: 'Build',
        actions: [
          {
            name: 'Compile',
            actionTypeId: shell,
            configuration: { BuildSpec: BUILDSPEC },
            inputArtifacts: [{ name: 'Src' }],
            outputArtifacts: [{ name: 'App' }],
            namespace: 'BuildVariables',
          },
        ],
      },
      {
        name: 'Prod',
        actions: [
          {
            name: 'Approve',
            actionTypeId: approval,
            runOrder: 1,
            configuration: {
              CustomData: 'Release #{BuildVariables.Version} of #{SourceVariables.CommitId}?',
            },
          },
          {
            name: 'Deploy',
            actionTypeId: directory,
            runOrder: 2,
            configuration: { TargetDirectory: deployDir },
            inputArtifacts: [{ name: 'App' }],
          },
        ],
      },
    ],
  };
}

const STATE = `query($n: String!) { pipelineState(name: $n) { pipelineName pipelineVersion stageStates {
  stageName inboundTransitionState { enabled disabledReason lastChangedBy }
  inboundExecutions { pipelineExecutionId status } latestExecution { pipelineExecutionId status }
  actionStates { actionName latestExecution { actionExecutionId status summary token } } } } }`;

interface State {
  pipelineState: {
    stageStates: {
      stageName: string;
      inboundTransitionState: {
        enabled: boolean;
        disabledReason: string | null;
        lastChangedBy: string | null;
      };
      inboundExecutions: { pipelineExecutionId: string; status: string }[];
      latestExecution: { pipelineExecutionId: string; status: string } | null;
      actionStates: {
        actionName: string;
        latestExecution: {
          actionExecutionId: string;
          status: string;
          summary: string | null;
          token: string | null;
        } | null;
      }[];
    }[];
  };
}

const APPROVE = `mutation($p: String!, $s: String!, $a: String!, $t: String!, $status: ApprovalStatus!, $sum: String!) {
  putApprovalResult(pipelineName: $p, stageName: $s, actionName: $a, token: $t, result: { status: $status, summary: $sum }) }`;

async function approvalToken(pipeline: string, stage = 'Prod', action = 'Approve'): Promise<string> {
  const state = await eventually(
    () => account.root.ok<State>(STATE, { n: pipeline }),
    (s) =>
      Boolean(
        s.pipelineState.stageStates
          .find((x) => x.stageName === stage)
          ?.actionStates.find((a) => a.actionName === action)?.latestExecution?.token,
      ),
  );
  return state.pipelineState.stageStates
    .find((x) => x.stageName === stage)!
    .actionStates.find((a) => a.actionName === action)!.latestExecution!.token!;
}

beforeAll(async () => {
  server = await startTestServer();
  account = await newAccount(server, 'runs');
  repo = GitRepo.create({ 'app.txt': 'hello\n', VERSION: '1.0' });
  deployDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-deploy-'));
});
afterAll(async () => {
  await server.stop();
  repo.remove();
  fs.rmSync(deployDir, { recursive: true, force: true });
});

describe('a release pipeline runs for real', () => {
  let first: Execution;

  it('creating the pipeline starts it: source, build, then it waits for approval', async () => {
    await account.root.ok(CREATE_PIPELINE, { p: releasePipeline('release') });
    first = (await latestExecution(account.root, 'release'))!;
    expect(first.trigger.triggerType).toBe('CREATE_PIPELINE');
    const token = await approvalToken('release');
    expect(token).toMatch(/^[0-9a-f-]{36}$/);
    const actions = await actionExecutions(account.root, 'release', first.pipelineExecutionId);
    const compile = actions.find((a) => a.actionName === 'Compile')!;
    expect(compile).toMatchObject({
      status: 'SUCCEEDED',
      output: { outputVariables: { Version: '1.0-plain' } },
    });
    const approve = actions.find((a) => a.actionName === 'Approve')!;
    expect(approve.input.resolvedConfiguration?.CustomData).toBe(`Release 1.0-plain of ${repo.head()}?`);
    expect(approve.input.configuration.CustomData).toContain('#{BuildVariables.Version}');
    const state = await account.root.ok<State>(STATE, { n: 'release' });
    expect(state.pipelineState.stageStates.map((s) => s.latestExecution?.status)).toEqual([
      'SUCCEEDED',
      'SUCCEEDED',
      'IN_PROGRESS',
    ]);
  });

  it('the build log is readable, and holds nothing of the server’s environment', async () => {
    const compile = (await actionExecutions(account.root, 'release', first.pipelineExecutionId)).find(
      (a) => a.actionName === 'Compile',
    )!;
    const log = await account.root.ok<{ actionExecutionLog: { text: string; complete: boolean } }>(
      `query($p: String!, $a: String!) { actionExecutionLog(pipelineName: $p, actionExecutionId: $a) { text nextOffset complete } }`,
      { p: 'release', a: compile.actionExecutionId },
    );
    expect(log.actionExecutionLog.text).toContain('built 1.0-plain');
    expect(log.actionExecutionLog.complete).toBe(true);
  });

  it('an approver of Prod approves; the deploy switches the current release', async () => {
    const prodApprover = await userWithPolicy(
      server,
      account,
      allow(
        'codepipeline:PutApprovalResult',
        `arn:sluice:codepipeline:local:${account.accountId}:release/Prod/*`,
      ),
      'prod-approver',
    );
    const token = await approvalToken('release');
    await prodApprover.ok(APPROVE, {
      p: 'release',
      s: 'Prod',
      a: 'Approve',
      t: token,
      status: 'APPROVED',
      sum: 'ship it',
    });
    const done = await waitForStatus(account.root, 'release', first.pipelineExecutionId, 'SUCCEEDED');
    expect(done.currentStage).toBe('Prod');
    expect(done.artifactRevisions).toEqual([
      { name: 'Src', revisionId: repo.head(), revisionSummary: 'first' },
    ]);
    expect(fs.readFileSync(path.join(deployDir, 'current', 'version.txt'), 'utf8').trim()).toBe('1.0-plain');
    const approve = (await actionExecutions(account.root, 'release', first.pipelineExecutionId)).find(
      (a) => a.actionName === 'Approve',
    )!;
    expect(approve).toMatchObject({
      status: 'SUCCEEDED',
      summary: 'ship it',
      updatedBy: `arn:sluice:iam::${account.accountId}:user/prod-approver`,
    });
    // The same approver may not approve in another stage.
    await prodApprover.fails(
      APPROVE,
      { p: 'release', s: 'Staging', a: 'Approve', t: token, status: 'APPROVED', sum: 'x' },
      'ACCESS_DENIED',
    );
    // A decided approval cannot be decided again.
    await account.root.fails(
      APPROVE,
      { p: 'release', s: 'Prod', a: 'Approve', t: token, status: 'REJECTED', sum: 'no' },
      'CONFLICT',
    );
  });

  it('artifacts are listed with their hashes and sizes, and download through signed links', async () => {
    const { artifacts } = await account.root.ok<{
      artifacts: {
        name: string;
        sha256: string;
        sizeBytes: number;
        producedBy: string;
        downloadUrl: string;
      }[];
    }>(
      `query($p: String!, $e: ID!) { artifacts(pipelineName: $p, pipelineExecutionId: $e) { name sha256 sizeBytes producedBy downloadUrl } }`,
      { p: 'release', e: first.pipelineExecutionId },
    );
    expect(artifacts.map((a) => [a.name, a.producedBy])).toEqual([
      ['Src', 'Checkout'],
      ['App', 'Compile'],
    ]);
    expect(artifacts.every((a) => /^[0-9a-f]{64}$/.test(a.sha256) && a.sizeBytes > 0)).toBe(true);
    // The link needs no token; what it serves is the very artifact.
    const app = artifacts[1];
    const download = await fetch(app.downloadUrl);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('application/zip');
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(app.sha256);
    const forged = new URL(app.downloadUrl);
    forged.searchParams.set('expires', String(Number(forged.searchParams.get('expires')) + 3600));
    expect((await fetch(forged)).status).toBe(404);
    const otherName = app.downloadUrl.replace('/App?', '/Src?');
    expect((await fetch(otherName)).status).toBe(404);
  });

  it('a manual start takes variable overrides and is idempotent per clientRequestToken', async () => {
    const run = await account.root.ok<{ startPipelineExecution: Execution }>(START, {
      n: 'release',
      v: [{ name: 'Flavour', value: 'spicy' }],
      t: 'deploy-42',
    });
    const again = await account.root.ok<{ startPipelineExecution: Execution }>(START, {
      n: 'release',
      t: 'deploy-42',
    });
    expect(again.startPipelineExecution.pipelineExecutionId).toBe(
      run.startPipelineExecution.pipelineExecutionId,
    );
    expect(run.startPipelineExecution).toMatchObject({
      trigger: {
        triggerType: 'START_PIPELINE_EXECUTION',
        triggerDetail: `arn:sluice:iam::${account.accountId}:root`,
      },
      variables: [{ name: 'Flavour', resolvedValue: 'spicy' }],
      pipelineVersion: 1,
    });
    const token = await approvalToken('release');
    await account.root.ok(APPROVE, {
      p: 'release',
      s: 'Prod',
      a: 'Approve',
      t: token,
      status: 'REJECTED',
      sum: 'not today',
    });
    const failed = await waitForStatus(
      account.root,
      'release',
      run.startPipelineExecution.pipelineExecutionId,
      'FAILED',
    );
    expect(failed.statusSummary).toMatch(/Prod.*Approve.*not today/);
    const bad = await account.root.fails(
      START,
      { n: 'release', v: [{ name: 'Nope', value: 'x' }] },
      'BAD_USER_INPUT',
    );
    expect(bad.message).toMatch(/Nope/);
    await account.root.fails(START, { n: 'no-such-pipeline' }, 'NOT_FOUND');
  });
});

describe('approval timeout', () => {
  it('an approval nobody answers fails when its time is up', async () => {
    await account.root.ok(CREATE_PIPELINE, { p: { ...releasePipeline('waiting'), name: 'waiting' } });
    const e = (await latestExecution(account.root, 'waiting'))!;
    await approvalToken('waiting');
    // Seven days are long for a test: move the deadline instead of the clock.
    const db = new Client({ connectionString: server.databaseUrl });
    await db.connect();
    try {
      await db.query(
        `UPDATE action_executions SET timeout_at = now() - interval '1 second'
          WHERE pipeline_name = 'waiting' AND action_name = 'Approve' AND status = 'IN_PROGRESS'`,
      );
    } finally {
      await db.end();
    }
    const failed = await waitForStatus(account.root, 'waiting', e.pipelineExecutionId, 'FAILED');
    expect(failed.statusSummary).toMatch(/Approve.*timed out/);
  });
});

describe('transitions', () => {
  it('a disabled transition holds executions in front of the stage; the newest enters when enabled', async () => {
    await account.root.ok(CREATE_PIPELINE, {
      p: {
        name: 'gated',
        stages: [
          (releasePipeline('x').stages as unknown[])[0],
          {
            name: 'Build',
            actions: [
              {
                name: 'Echo',
                actionTypeId: shell,
                configuration: { Commands: 'echo #{SourceVariables.CommitId}' },
                inputArtifacts: [{ name: 'Src' }],
              },
            ],
          },
        ],
      },
    });
    const created = (await latestExecution(account.root, 'gated'))!;
    await waitForStatus(account.root, 'gated', created.pipelineExecutionId, 'SUCCEEDED');
    await account.root.ok(
      `mutation { disableStageTransition(pipelineName: "gated", stageName: "Build", transitionType: INBOUND, reason: "freeze for the holidays") }`,
    );
    const a = await start(account.root, 'gated');
    const state = await eventually(
      () => account.root.ok<State>(STATE, { n: 'gated' }),
      (s) => s.pipelineState.stageStates[1].inboundExecutions.length === 1,
    );
    expect(state.pipelineState.stageStates[1].inboundTransitionState).toEqual({
      enabled: false,
      disabledReason: 'freeze for the holidays',
      lastChangedBy: `arn:sluice:iam::${account.accountId}:root`,
    });
    const b = await start(account.root, 'gated');
    // The older waiting execution is superseded by the newer one (SUPERSEDED mode).
    await waitForStatus(account.root, 'gated', a.pipelineExecutionId, 'SUPERSEDED');
    expect((await latestExecution(account.root, 'gated'))!.status).toBe('IN_PROGRESS');
    await account.root.ok(
      `mutation { enableStageTransition(pipelineName: "gated", stageName: "Build", transitionType: INBOUND) }`,
    );
    await waitForStatus(account.root, 'gated', b.pipelineExecutionId, 'SUCCEEDED');
    await account.root.fails(
      `mutation { disableStageTransition(pipelineName: "gated", stageName: "Source", transitionType: INBOUND, reason: "x") }`,
      undefined,
      'CONFLICT',
    );
  });
});
