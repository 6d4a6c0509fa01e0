import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  actionExecutions,
  CREATE_PIPELINE,
  eventually,
  latestExecution,
  sourceAndBuild,
  waitForStatus,
  type Execution,
} from '../support/executions';
import { newAccount, type TestAccount } from '../support/factories';
import { GitRepo } from '../support/git-repo';
import { startTestServer, type TestServer } from '../support/test-server';

/**
 * Every state change of an execution appends one event in the transaction of the change
 * (issue 8, points 1 and 2), shaped as CodePipeline's EventBridge events. Read here straight
 * from the outbox in the order written, so this holds without the sequencer or a subscriber.
 */
let server: TestServer;
let account: TestAccount;
let repo: GitRepo;
let db: Client;

const approval = { category: 'Approval', owner: 'Sluice', provider: 'Manual', version: '1' };

interface EventRow {
  detail_type: string;
  stage_name: string | null;
  action_name: string | null;
  action_execution_id: string | null;
  state: string;
  detail: Record<string, unknown>;
}

async function eventsOf(executionId: string): Promise<EventRow[]> {
  const { rows } = await db.query<EventRow>(
    `SELECT detail_type, stage_name, action_name, action_execution_id, state, detail FROM pipeline_events
      WHERE account_id = $1 AND execution_id = $2 ORDER BY id`,
    [account.accountId, executionId],
  );
  return rows;
}

/** `Pipeline STARTED`, `Stage Build FAILED`, `Action Build/Build SUCCEEDED`. */
function line(e: EventRow): string {
  const kind = e.detail_type.split(' ')[0];
  if (kind === 'Pipeline') return `Pipeline ${e.state}`;
  if (kind === 'Stage') return `Stage ${e.stage_name} ${e.state}`;
  return `Action ${e.stage_name}/${e.action_name} ${e.state}`;
}

async function linesUntil(executionId: string, last: string): Promise<string[]> {
  const rows = await eventually(
    () => eventsOf(executionId),
    (r) => r.map(line).includes(last),
  );
  return rows.map(line);
}

const STOP = `mutation($p: String!, $e: ID!, $r: String) {
  stopPipelineExecution(pipelineName: $p, pipelineExecutionId: $e, abandon: true, reason: $r) { status } }`;
const RETRY = `mutation($p: String!, $s: String!, $e: ID!) {
  retryStageExecution(pipelineName: $p, stageName: $s, pipelineExecutionId: $e, retryMode: FAILED_ACTIONS) { status } }`;

beforeAll(async () => {
  server = await startTestServer();
  account = await newAccount(server, 'events');
  repo = GitRepo.create({ 'app.txt': 'hello\n' });
  db = new Client({ connectionString: server.databaseUrl });
  await db.connect();
});
afterAll(async () => {
  await db.end();
  await server.stop();
  repo.remove();
});

describe('execution events in the outbox', () => {
  let first: Execution;

  it('a run writes one event per state change, in order, up to the approval request', async () => {
    const declaration = sourceAndBuild('release', repo.dir, 'echo built');
    (declaration.stages as unknown[]).push({
      name: 'Prod',
      actions: [{ name: 'Approve', actionTypeId: approval, configuration: { CustomData: 'ship it?' } }],
    });
    await account.root.ok(CREATE_PIPELINE, { p: declaration });
    first = (await latestExecution(account.root, 'release'))!;
    expect(await linesUntil(first.pipelineExecutionId, 'Action Prod/Approve STARTED')).toEqual([
      'Pipeline STARTED',
      'Stage Source STARTED',
      'Action Source/Checkout STARTED',
      'Action Source/Checkout SUCCEEDED',
      'Stage Source SUCCEEDED',
      'Stage Build STARTED',
      'Action Build/Build STARTED',
      'Action Build/Build SUCCEEDED',
      'Stage Build SUCCEEDED',
      'Stage Prod STARTED',
      'Action Prod/Approve STARTED',
    ]);
    const events = await eventsOf(first.pipelineExecutionId);
    expect(events[0].detail).toMatchObject({
      pipeline: 'release',
      executionId: first.pipelineExecutionId,
      state: 'STARTED',
      version: 1,
      executionTrigger: { triggerType: 'CREATE_PIPELINE' },
      executionType: 'STANDARD',
    });
    const built = events.find((e) => line(e) === 'Action Build/Build SUCCEEDED')!;
    expect(built.detail).toMatchObject({
      stage: 'Build',
      action: 'Build',
      region: 'local',
      type: { owner: 'Sluice', category: 'Build', provider: 'Shell', version: '1' },
      version: 1,
      inputArtifacts: [{ name: 'Src' }],
      outputArtifacts: [{ name: 'Built' }],
      executionResult: { externalExecutionState: 'SUCCEEDED' },
    });
    const checkout = events.find((e) => line(e) === 'Action Source/Checkout SUCCEEDED')!;
    expect(checkout.detail.executionResult).toMatchObject({ externalExecutionId: repo.head() });
    const request = events.at(-1)!;
    expect(request.detail.approvalRequest).toEqual({ expiresAt: expect.any(String) });
    // The token answers the approval: it is never in an event.
    const token = (await actionExecutions(account.root, 'release', first.pipelineExecutionId)).find(
      (a) => a.actionName === 'Approve',
    )!.token!;
    expect(token).toBeTruthy();
    expect(JSON.stringify(events)).not.toContain(token);
  });

  it('the approval decision ends the action, the stage and the execution, one event each', async () => {
    const token = (await actionExecutions(account.root, 'release', first.pipelineExecutionId)).find(
      (a) => a.actionName === 'Approve',
    )!.token!;
    await account.root.ok(
      `mutation($t: String!) { putApprovalResult(pipelineName: "release", stageName: "Prod", actionName: "Approve",
         token: $t, result: { status: APPROVED, summary: "looks good" }) }`,
      { t: token },
    );
    await waitForStatus(account.root, 'release', first.pipelineExecutionId, 'SUCCEEDED');
    const lines = await linesUntil(first.pipelineExecutionId, 'Pipeline SUCCEEDED');
    expect(lines.slice(11)).toEqual([
      'Action Prod/Approve SUCCEEDED',
      'Stage Prod SUCCEEDED',
      'Pipeline SUCCEEDED',
    ]);
    const decided = (await eventsOf(first.pipelineExecutionId))[11];
    expect(decided.detail.executionResult).toMatchObject({ externalExecutionSummary: 'looks good' });
    // A second decision is refused and writes nothing.
    const again = await account.root.request(
      `mutation($t: String!) { putApprovalResult(pipelineName: "release", stageName: "Prod", actionName: "Approve",
         token: $t, result: { status: REJECTED, summary: "too late" }) }`,
      { t: token },
    );
    expect(again.errors?.[0].extensions?.code).toBe('CONFLICT');
    expect(await eventsOf(first.pipelineExecutionId)).toHaveLength(14);
  });

  it('a failure, then a retry: FAILED up the chain, then RESUMED and the action again', async () => {
    await account.root.ok(CREATE_PIPELINE, {
      p: sourceAndBuild('flaky', repo.dir, 'test -f /tmp/never-there-$RANDOM || exit 3'),
    });
    const run = (await latestExecution(account.root, 'flaky'))!;
    await waitForStatus(account.root, 'flaky', run.pipelineExecutionId, 'FAILED');
    const failed = await eventsOf(run.pipelineExecutionId);
    expect(failed.map(line).slice(-3)).toEqual([
      'Action Build/Build FAILED',
      'Stage Build FAILED',
      'Pipeline FAILED',
    ]);
    expect(failed.at(-3)!.detail.executionResult).toMatchObject({ errorCode: 'JOB_FAILED' });
    expect(failed.at(-1)!.detail.summary).toContain('Stage Build failed');

    await account.root.ok(RETRY, { p: 'flaky', s: 'Build', e: run.pipelineExecutionId });
    const after = (
      await eventually(
        () => eventsOf(run.pipelineExecutionId),
        (r) => r.filter((e) => line(e) === 'Pipeline FAILED').length === 2,
      )
    ).map(line);
    expect(after.slice(failed.length)).toEqual([
      'Pipeline RESUMED',
      'Stage Build RESUMED',
      'Action Build/Build STARTED',
      'Action Build/Build FAILED',
      'Stage Build FAILED',
      'Pipeline FAILED',
    ]);
  });

  it('an abandoning stop: the action ABANDONED, then the stage and the execution STOPPED with the reason', async () => {
    await account.root.ok(CREATE_PIPELINE, { p: sourceAndBuild('slow', repo.dir, 'sleep 60') });
    const run = (await latestExecution(account.root, 'slow'))!;
    await linesUntil(run.pipelineExecutionId, 'Action Build/Build STARTED');
    await account.root.ok(STOP, { p: 'slow', e: run.pipelineExecutionId, r: 'wrong branch' });
    await waitForStatus(account.root, 'slow', run.pipelineExecutionId, 'STOPPED');
    const events = await eventsOf(run.pipelineExecutionId);
    expect(events.map(line).slice(-3)).toEqual([
      'Action Build/Build ABANDONED',
      'Stage Build STOPPED',
      'Pipeline STOPPED',
    ]);
    expect(events.at(-1)!.detail.stopReason).toBe('wrong branch');
  });

  it('an action the engine fails at once still starts first', async () => {
    // A build's exported variables are known only at run time, so this passes validation.
    const declaration = sourceAndBuild('unresolved', repo.dir, 'true');
    (declaration.stages as unknown[]).push({
      name: 'Use',
      actions: [
        {
          name: 'Echo',
          actionTypeId: { category: 'Build', owner: 'Sluice', provider: 'Shell', version: '1' },
          configuration: { Commands: 'echo #{BuildVariables.Missing}' },
          inputArtifacts: [{ name: 'Src' }],
        },
      ],
    });
    await account.root.ok(CREATE_PIPELINE, { p: declaration });
    const run = (await latestExecution(account.root, 'unresolved'))!;
    await waitForStatus(account.root, 'unresolved', run.pipelineExecutionId, 'FAILED');
    const events = await eventsOf(run.pipelineExecutionId);
    expect(events.map(line).slice(-4)).toEqual([
      'Action Use/Echo STARTED',
      'Action Use/Echo FAILED',
      'Stage Use FAILED',
      'Pipeline FAILED',
    ]);
    expect(events.at(-3)!.detail.executionResult).toMatchObject({ errorCode: 'CONFIGURATION_ERROR' });
    // Each action execution has exactly one start and one end.
    const byAction = new Map<string, string[]>();
    for (const e of events.filter((x) => x.action_execution_id)) {
      byAction.set(e.action_execution_id!, [...(byAction.get(e.action_execution_id!) ?? []), e.state]);
    }
    expect([...byAction.values()]).toEqual([
      ['STARTED', 'SUCCEEDED'],
      ['STARTED', 'SUCCEEDED'],
      ['STARTED', 'FAILED'],
    ]);
  });
});
