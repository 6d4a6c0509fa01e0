import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  actionExecutions,
  CREATE_PIPELINE,
  eventually,
  EXECUTION_FIELDS,
  latestExecution,
  sourceAndBuild,
  start,
  waitForStatus,
  type Execution,
} from '../support/executions';
import { newAccount, type TestAccount } from '../support/factories';
import { GitRepo } from '../support/git-repo';
import { startTestServer, type TestServer } from '../support/test-server';

let server: TestServer;
let account: TestAccount;
let repo: GitRepo;
let flags: string;

const STOP = `mutation($p: String!, $e: ID!, $abandon: Boolean, $r: String) {
  stopPipelineExecution(pipelineName: $p, pipelineExecutionId: $e, abandon: $abandon, reason: $r) { status } }`;
const RETRY = `mutation($p: String!, $s: String!, $e: ID!, $m: StageRetryMode!) {
  retryStageExecution(pipelineName: $p, stageName: $s, pipelineExecutionId: $e, retryMode: $m) { ${EXECUTION_FIELDS} } }`;
const ROLLBACK = `mutation($p: String!, $s: String!, $t: ID!) {
  rollbackStage(pipelineName: $p, stageName: $s, targetPipelineExecutionId: $t) { ${EXECUTION_FIELDS} } }`;

async function createAndSettle(
  declaration: Record<string, unknown>,
  status = 'SUCCEEDED',
): Promise<Execution> {
  await account.root.ok(CREATE_PIPELINE, { p: declaration });
  const created = (await latestExecution(account.root, declaration.name as string))!;
  return waitForStatus(account.root, declaration.name as string, created.pipelineExecutionId, status);
}

beforeAll(async () => {
  // These builds are steered through flag files in a shared temp folder, which bubblewrap's
  // private /tmp would hide: the slot-uid sandbox lets them see it (test/engine/sandbox
  // covers both sandboxes).
  server = await startTestServer({ SLUICE_SANDBOX: 'uid' });
  account = await newAccount(server, 'control');
  repo = GitRepo.create({ 'app.txt': 'v1\n' });
  flags = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-flags-'));
  fs.chmodSync(flags, 0o777);
});
afterAll(async () => {
  await server.stop();
  repo.remove();
  fs.rmSync(flags, { recursive: true, force: true });
});

describe('stop', () => {
  it('waits for running actions, then STOPPED; a second plain stop is a CONFLICT', async () => {
    await createAndSettle(sourceAndBuild('stop-wait', repo.dir, `sleep 2 && touch ${flags}/waited`));
    fs.rmSync(`${flags}/waited`);
    const e = await start(account.root, 'stop-wait');
    await waitForRunning('stop-wait', e.pipelineExecutionId, 'Build');
    expect(
      (
        await account.root.ok<{ stopPipelineExecution: { status: string } }>(STOP, {
          p: 'stop-wait',
          e: e.pipelineExecutionId,
          r: 'hold on',
        })
      ).stopPipelineExecution.status,
    ).toBe('IN_PROGRESS');
    await account.root.fails(STOP, { p: 'stop-wait', e: e.pipelineExecutionId }, 'CONFLICT');
    const stopped = await waitForStatus(account.root, 'stop-wait', e.pipelineExecutionId, 'STOPPED');
    expect(stopped.statusSummary).toMatch(/hold on/);
    expect(fs.existsSync(`${flags}/waited`)).toBe(true); // the running action finished
    await account.root.fails(STOP, { p: 'stop-wait', e: e.pipelineExecutionId }, 'CONFLICT');
  });

  it('abandon: running actions become ABANDONED and their process stops', async () => {
    await createAndSettle(
      sourceAndBuild(
        'stop-abandon',
        repo.dir,
        `test -f ${flags}/long || exit 0; sleep 30; touch ${flags}/not-abandoned`,
      ),
    );
    fs.writeFileSync(`${flags}/long`, '');
    const e = await start(account.root, 'stop-abandon');
    await waitForRunning('stop-abandon', e.pipelineExecutionId, 'Build');
    await account.root.ok(STOP, {
      p: 'stop-abandon',
      e: e.pipelineExecutionId,
      abandon: true,
      r: 'wrong commit',
    });
    await waitForStatus(account.root, 'stop-abandon', e.pipelineExecutionId, 'STOPPED', 20);
    const build = (await actionExecutions(account.root, 'stop-abandon', e.pipelineExecutionId)).find(
      (a) => a.stageName === 'Build',
    )!;
    expect(build.status).toBe('ABANDONED');
    await new Promise((r) => setTimeout(r, 1500));
    expect(fs.existsSync(`${flags}/not-abandoned`)).toBe(false);
    fs.rmSync(`${flags}/long`);
  });
});

describe('retry', () => {
  it('FAILED_ACTIONS re-runs the failed action of the latest execution; an older one cannot be retried', async () => {
    const failed = await createAndSettle(
      sourceAndBuild('retry', repo.dir, `test -f ${flags}/fixed`),
      'FAILED',
    );
    expect(failed.statusSummary).toMatch(/Build/);
    fs.writeFileSync(`${flags}/fixed`, '');
    const retried = await account.root.ok<{ retryStageExecution: Execution }>(RETRY, {
      p: 'retry',
      s: 'Build',
      e: failed.pipelineExecutionId,
      m: 'FAILED_ACTIONS',
    });
    expect(retried.retryStageExecution.status).toBe('IN_PROGRESS');
    await waitForStatus(account.root, 'retry', failed.pipelineExecutionId, 'SUCCEEDED');
    const builds = (await actionExecutions(account.root, 'retry', failed.pipelineExecutionId)).filter(
      (a) => a.stageName === 'Build',
    );
    expect(builds.map((b) => b.status).sort()).toEqual(['FAILED', 'SUCCEEDED']);
    // Retrying a stage that succeeded is refused, explaining why.
    const refused = await account.root.fails(
      RETRY,
      { p: 'retry', s: 'Build', e: failed.pipelineExecutionId, m: 'ALL_ACTIONS' },
      'CONFLICT',
    );
    expect(refused.message).toMatch(/only a failed or stopped stage/);
    fs.rmSync(`${flags}/fixed`);
    const second = await start(account.root, 'retry');
    await waitForStatus(account.root, 'retry', second.pipelineExecutionId, 'FAILED');
    const third = await start(account.root, 'retry');
    await waitForStatus(account.root, 'retry', third.pipelineExecutionId, 'FAILED');
    const older = await account.root.fails(
      RETRY,
      { p: 'retry', s: 'Build', e: second.pipelineExecutionId, m: 'ALL_ACTIONS' },
      'CONFLICT',
    );
    expect(older.message).toMatch(/only the latest execution/);
  });

  it('onFailure RETRY retries once automatically', async () => {
    const declaration = sourceAndBuild(
      'auto-retry',
      repo.dir,
      `if [ -f ${flags}/once ]; then exit 0; fi; touch ${flags}/once; exit 1`,
    );
    (declaration.stages as { onFailure?: unknown }[])[1].onFailure = {
      result: 'RETRY',
      retryConfiguration: { retryMode: 'FAILED_ACTIONS' },
    };
    const done = await createAndSettle(declaration, 'SUCCEEDED');
    const builds = (await actionExecutions(account.root, 'auto-retry', done.pipelineExecutionId)).filter(
      (a) => a.stageName === 'Build',
    );
    expect(builds.map((b) => b.status).sort()).toEqual(['FAILED', 'SUCCEEDED']);
  });
});

/**
 * An empty file every job may append to: each job slot runs as its own uid, so a file one
 * job created is not another's to write.
 */
function sharedLog(file: string): void {
  fs.writeFileSync(file, '');
  fs.chmodSync(file, 0o666);
}

describe('rollback', () => {
  it('re-runs a stage with an earlier execution’s revision; never the source stage', async () => {
    const deployLog = `${flags}/deployed`;
    sharedLog(deployLog);
    const good = await createAndSettle(sourceAndBuild('roll', repo.dir, `cat app.txt >> ${deployLog}`));
    const goodCommit = repo.head();
    repo.commit({ 'app.txt': 'v2\n' }, 'second');
    const newer = await start(account.root, 'roll');
    await waitForStatus(account.root, 'roll', newer.pipelineExecutionId, 'SUCCEEDED');
    const { rollbackStage } = await account.root.ok<{ rollbackStage: Execution }>(ROLLBACK, {
      p: 'roll',
      s: 'Build',
      t: good.pipelineExecutionId,
    });
    expect(rollbackStage).toMatchObject({
      executionType: 'ROLLBACK',
      rollbackTargetPipelineExecutionId: good.pipelineExecutionId,
      trigger: { triggerType: 'MANUAL_ROLLBACK' },
    });
    await waitForStatus(account.root, 'roll', rollbackStage.pipelineExecutionId, 'SUCCEEDED');
    expect(fs.readFileSync(deployLog, 'utf8').trim().split('\n')).toEqual(['v1', 'v2', 'v1']);
    expect(goodCommit).not.toBe(repo.head());
    await account.root.fails(ROLLBACK, { p: 'roll', s: 'Source', t: good.pipelineExecutionId }, 'CONFLICT');
    const notRollback = await account.root.fails(
      ROLLBACK,
      { p: 'roll', s: 'Build', t: rollbackStage.pipelineExecutionId },
      'CONFLICT',
    );
    expect(notRollback.message).toMatch(/itself a rollback/);
  });
});

describe('onFailure ROLLBACK and pipelines that start pipelines', () => {
  it('a failed stage rolls back automatically to the last execution that succeeded there', async () => {
    const log = `${flags}/auto-rollback`;
    sharedLog(log);
    const declaration = sourceAndBuild(
      'auto-roll',
      repo.dir,
      `cat app.txt >> ${log}; ! grep -q broken app.txt`,
    );
    (declaration.stages as { onFailure?: unknown }[])[1].onFailure = { result: 'ROLLBACK' };
    const good = await createAndSettle(declaration);
    const fixed = repo.head();
    repo.commit({ 'app.txt': 'broken\n' }, 'break it');
    const bad = await start(account.root, 'auto-roll');
    await waitForStatus(account.root, 'auto-roll', bad.pipelineExecutionId, 'FAILED');
    const rollback = await eventually(
      () => latestExecution(account.root, 'auto-roll'),
      (e) => e?.executionType === 'ROLLBACK' && e.status === 'SUCCEEDED',
    );
    expect(rollback).toMatchObject({
      trigger: { triggerType: 'AUTOMATED_ROLLBACK', triggerDetail: bad.pipelineExecutionId },
      rollbackTargetPipelineExecutionId: good.pipelineExecutionId,
    });
    expect(fs.readFileSync(log, 'utf8').trim().split('\n').at(-1)).not.toBe('broken');
    repo.commit({ 'app.txt': 'v1\n' }, 'repair');
    expect(fixed).not.toBe(repo.head());
  });

  it('Invoke/Pipeline starts another pipeline with variables', async () => {
    await createAndSettle({
      ...sourceAndBuild('downstream', repo.dir, `echo "#{variables.Who}" > ${flags}/downstream`),
      variables: [{ name: 'Who', defaultValue: 'nobody' }],
    });
    const upstream = sourceAndBuild('upstream', repo.dir, 'true');
    (upstream.stages as unknown[]).push({
      name: 'Trigger',
      actions: [
        {
          name: 'StartDownstream',
          actionTypeId: { category: 'Invoke', owner: 'Sluice', provider: 'Pipeline', version: '1' },
          configuration: { PipelineName: 'downstream', Variables: '[{"name":"Who","value":"upstream"}]' },
        },
      ],
    });
    const up = await createAndSettle(upstream);
    const invoke = (await actionExecutions(account.root, 'upstream', up.pipelineExecutionId)).find(
      (a) => a.stageName === 'Trigger',
    )!;
    const started = invoke.output.outputVariables.PipelineExecutionId;
    const down = await waitForStatus(account.root, 'downstream', started, 'SUCCEEDED');
    expect(down.variables).toEqual([{ name: 'Who', resolvedValue: 'upstream' }]);
    expect(fs.readFileSync(`${flags}/downstream`, 'utf8').trim()).toBe('upstream');
  });
});

describe('execution modes', () => {
  it('QUEUED runs every execution, one at a time per stage, in start order', async () => {
    const declaration = sourceAndBuild(
      'queued',
      repo.dir,
      `echo start >> ${flags}/queued.log; sleep 0.3; echo end >> ${flags}/queued.log`,
      {
        executionMode: 'QUEUED',
      },
    );
    sharedLog(`${flags}/queued.log`);
    const first = await createAndSettle(declaration);
    sharedLog(`${flags}/queued.log`);
    const runs = [
      await start(account.root, 'queued'),
      await start(account.root, 'queued'),
      await start(account.root, 'queued'),
    ];
    for (const run of runs) await waitForStatus(account.root, 'queued', run.pipelineExecutionId, 'SUCCEEDED');
    // Never two builds at once.
    expect(fs.readFileSync(`${flags}/queued.log`, 'utf8').trim().split('\n')).toEqual([
      'start',
      'end',
      'start',
      'end',
      'start',
      'end',
    ]);
    expect(first.status).toBe('SUCCEEDED');
  });

  it('PARALLEL runs executions side by side', async () => {
    const declaration = sourceAndBuild('parallel', repo.dir, 'sleep 1', { executionMode: 'PARALLEL' });
    await createAndSettle(declaration);
    const started = Date.now();
    const runs = await Promise.all([
      start(account.root, 'parallel'),
      start(account.root, 'parallel'),
      start(account.root, 'parallel'),
    ]);
    for (const run of runs)
      await waitForStatus(account.root, 'parallel', run.pipelineExecutionId, 'SUCCEEDED');
    // Three 1-second builds, all done well before they could have been in sequence.
    expect(Date.now() - started).toBeLessThan(6000);
  });
});

describe('variables', () => {
  it('an unresolvable reference fails the action, naming it', async () => {
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
    const failed = await createAndSettle(declaration, 'FAILED');
    const echo = (await actionExecutions(account.root, 'unresolved', failed.pipelineExecutionId)).find(
      (a) => a.stageName === 'Use',
    )!;
    expect(echo).toMatchObject({ status: 'FAILED', failureType: 'CONFIGURATION_ERROR' });
    expect(echo.summary).toContain('#{BuildVariables.Missing}');
    expect(failed.statusSummary).toContain('#{BuildVariables.Missing}');
  });
});

async function waitForRunning(pipeline: string, executionId: string, stage: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const actions = await actionExecutions(account.root, pipeline, executionId);
    if (actions.some((a) => a.stageName === stage && a.status === 'IN_PROGRESS')) {
      // Give the worker a moment to have the process running.
      await new Promise((r) => setTimeout(r, 500));
      return;
    }
    if (Date.now() > deadline) throw new Error(`no running action in ${stage}: ${JSON.stringify(actions)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
