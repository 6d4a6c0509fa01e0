import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { markPipelineDirty } from '../../src/engine/engine-signals';
import type { ClaimedJob, JobSuccessResult } from '../../src/jobs/job-data';
import { LogOffsetError, OutputArtifactConflictError, StaleJobError } from '../../src/jobs/job-errors';
import { JOB_CANCEL_CHANNEL, JobQueue } from '../../src/jobs/job-queue';
import { createDataSource } from '../../src/platform/db/database';
import { BadInputError, LimitExceededError } from '../../src/platform/errors';
import { freshDatabase } from '../support/database';
import { describeJobBrokerContract } from './job-broker-contract';
import {
  actionRecord,
  clearDirty,
  expireLeases,
  insertJob,
  isDirty,
  jobRecord,
  seedExecution,
  shellType,
  type JobSpec,
  type SeededExecution,
  type SeededJob,
} from './job-fixtures';

let url: string;
let ds: DataSource;
let ds2: DataSource;
let queue: JobQueue;
let queue2: JobQueue;
let execution: SeededExecution;

const sha = (char: string): string => char.repeat(64);
const noResult: JobSuccessResult = { outputVariables: {}, outputArtifacts: [] };

beforeAll(async () => {
  url = await freshDatabase();
  ds = createDataSource(url, 10);
  ds2 = createDataSource(url, 10);
  await Promise.all([ds.initialize(), ds2.initialize()]);
  queue = new JobQueue(ds, { leaseSeconds: 60, maxAttempts: 3 });
  queue2 = new JobQueue(ds2, { leaseSeconds: 60, maxAttempts: 3 });
  execution = await seedExecution(ds);
});

afterAll(async () => {
  await ds?.destroy();
  await ds2?.destroy();
});

describeJobBrokerContract('PostgreSQL JobQueue', () => ({
  brokers: [queue, queue2],
  async enqueue(count, type) {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push((await insertJob(ds, execution, { type })).jobId);
    return ids;
  },
  async loseLeases(jobIds) {
    await ds.query(`UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = ANY($1)`, [
      jobIds,
    ]);
    await queue.recoverExpiredLeases();
  },
}));

/** A fresh execution per test keeps artifacts, dirty flags and claims apart. */
let exec: SeededExecution;
beforeEach(async () => {
  exec = await seedExecution(ds, `p${Math.random().toString(36).slice(2, 10)}`);
});

/** Queues one job of its own type and claims it (and acknowledges it unless told not to). */
async function running(spec: JobSpec = {}, acknowledge = true): Promise<SeededJob & { claim: ClaimedJob }> {
  const type = spec.type ?? { ...shellType, provider: `Shell${Math.random().toString(36).slice(2, 8)}` };
  const seeded = await insertJob(ds, exec, { ...spec, type });
  const [claim] = await queue.claim(
    [`${type.category}/${type.owner}/${type.provider}/${type.version}`],
    1,
    'w',
  );
  expect(claim.id).toBe(seeded.jobId);
  if (acknowledge) expect(await queue.acknowledge(exec.accountId, claim.id, claim.nonce)).toBe('IN_PROGRESS');
  return { ...seeded, claim };
}

async function listen(channel: string): Promise<{ payloads: string[]; close(): Promise<void> }> {
  const client = new Client({ connectionString: url });
  await client.connect();
  const payloads: string[] = [];
  client.on('notification', (msg) => {
    if (msg.channel === channel) payloads.push(msg.payload ?? '');
  });
  await client.query(`LISTEN ${channel}`);
  return { payloads, close: () => client.end() };
}

async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 100));
}

describe('claim, acknowledge, heartbeat', () => {
  it('claims with a lease, a worker id and the attempt; acknowledging twice is harmless', async () => {
    const job = await running({}, false);
    const record = await jobRecord(ds, exec.accountId, job.jobId);
    expect(record).toMatchObject({
      status: 'DISPATCHED',
      attempt: 1,
      worker_id: 'w',
      nonce: job.claim.nonce,
    });
    expect(job.claim.leaseExpiresAt.getTime()).toBeGreaterThan(Date.now() + 50_000);
    expect(job.claim.data.pipelineContext.actionExecutionId).toBe(job.actionExecutionId);
    expect(job.claim.logOffset).toBe(0);
    expect(await queue.acknowledge(exec.accountId, job.jobId, job.claim.nonce)).toBe('IN_PROGRESS');
    expect(await queue2.acknowledge(exec.accountId, job.jobId, job.claim.nonce)).toBe('IN_PROGRESS');
    expect((await jobRecord(ds, exec.accountId, job.jobId)).status).toBe('IN_PROGRESS');
  });

  it('extends the lease on each heartbeat', async () => {
    const job = await running();
    await ds.query(`UPDATE jobs SET lease_expires_at = now() + interval '5 seconds' WHERE id = $1`, [
      job.jobId,
    ]);
    const beat = await queue.heartbeat(exec.accountId, job.jobId, job.claim.nonce);
    expect(beat.cancelRequested).toBe(false);
    expect(beat.leaseExpiresAt.getTime()).toBeGreaterThan(Date.now() + 50_000);
  });

  it('refuses a job id of another account as if it did not exist', async () => {
    const job = await running();
    const other = await seedExecution(ds);
    await expect(queue.heartbeat(other.accountId, job.jobId, job.claim.nonce)).rejects.toBeInstanceOf(
      StaleJobError,
    );
    await expect(queue.succeed(other.accountId, job.jobId, job.claim.nonce, noResult)).rejects.toBeInstanceOf(
      StaleJobError,
    );
  });
});

describe('succeed', () => {
  it('records outputs, variables and the summary, and marks the pipeline dirty, in one transaction', async () => {
    const job = await running({ outputs: ['out'] });
    await clearDirty(ds, exec);
    const result: JobSuccessResult = {
      outputVariables: { CommitId: 'abc' },
      summary: 'built',
      externalExecutionId: 'ext-1',
      outputArtifacts: [{ name: 'out', sha256: sha('a'), sizeBytes: 42 }],
    };
    expect(await queue.succeed(exec.accountId, job.jobId, job.claim.nonce, result)).toBe(true);
    expect((await jobRecord(ds, exec.accountId, job.jobId)).status).toBe('SUCCEEDED');
    expect(await actionRecord(ds, exec.accountId, job.actionExecutionId)).toMatchObject({
      status: 'SUCCEEDED',
      output_variables: { CommitId: 'abc' },
      summary: 'built',
      external_execution_id: 'ext-1',
    });
    const artifacts = await ds.query(
      'SELECT name, sha256, size_bytes, produced_by FROM execution_artifacts WHERE account_id = $1 AND pipeline_execution_id = $2',
      [exec.accountId, exec.pipelineExecutionId],
    );
    expect(artifacts).toEqual([{ name: 'out', sha256: sha('a'), size_bytes: '42', produced_by: 'Compile' }]);
    expect(await isDirty(ds, exec)).toBe(true);
  });

  it('is idempotent: a repeat changes nothing and returns false', async () => {
    const job = await running();
    expect(await queue.succeed(exec.accountId, job.jobId, job.claim.nonce, noResult)).toBe(true);
    await clearDirty(ds, exec);
    expect(
      await queue.succeed(exec.accountId, job.jobId, job.claim.nonce, { ...noResult, summary: 'again' }),
    ).toBe(false);
    expect((await actionRecord(ds, exec.accountId, job.actionExecutionId)).summary).toBeNull();
  });

  it('accepts a result straight from DISPATCHED (it implies the acknowledgement)', async () => {
    const job = await running({}, false);
    expect(await queue.succeed(exec.accountId, job.jobId, job.claim.nonce, noResult)).toBe(true);
    expect((await jobRecord(ds, exec.accountId, job.jobId)).status).toBe('SUCCEEDED');
  });

  it("shows a source revision as the action's external execution id and summary", async () => {
    const job = await running();
    await queue.succeed(exec.accountId, job.jobId, job.claim.nonce, {
      ...noResult,
      revision: { revisionId: 'c0ffee', revisionSummary: 'Fix the build' },
    });
    expect(await actionRecord(ds, exec.accountId, job.actionExecutionId)).toMatchObject({
      external_execution_id: 'c0ffee',
      summary: 'Fix the build',
    });
  });

  it('ignores the result for an action that already ended (abandoned), but ends the job', async () => {
    const job = await running({ outputs: ['out'] });
    await ds.query(`UPDATE action_executions SET status = 'ABANDONED' WHERE id = $1`, [
      job.actionExecutionId,
    ]);
    const result = { ...noResult, outputArtifacts: [{ name: 'out', sha256: sha('b'), sizeBytes: 1 }] };
    expect(await queue.succeed(exec.accountId, job.jobId, job.claim.nonce, result)).toBe(false);
    expect((await actionRecord(ds, exec.accountId, job.actionExecutionId)).status).toBe('ABANDONED');
    expect((await jobRecord(ds, exec.accountId, job.jobId)).status).toBe('SUCCEEDED');
    const artifacts = await ds.query('SELECT 1 FROM execution_artifacts WHERE pipeline_execution_id = $1', [
      exec.pipelineExecutionId,
    ]);
    expect(artifacts).toEqual([]);
  });

  it('refuses an output another action produced, writing nothing, so the worker can report a failure', async () => {
    await ds.query(
      `INSERT INTO execution_artifacts (account_id, pipeline_execution_id, name, sha256, size_bytes, produced_by)
       VALUES ($1, $2, 'shared', $3, 1, 'Other')`,
      [exec.accountId, exec.pipelineExecutionId, sha('c')],
    );
    const job = await running({ outputs: ['shared'] });
    const result = { ...noResult, outputArtifacts: [{ name: 'shared', sha256: sha('d'), sizeBytes: 2 }] };
    const error = await queue
      .succeed(exec.accountId, job.jobId, job.claim.nonce, result)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutputArtifactConflictError);
    expect((error as Error).message).toContain('"Other"');
    expect((await jobRecord(ds, exec.accountId, job.jobId)).status).toBe('IN_PROGRESS');
    expect((await actionRecord(ds, exec.accountId, job.actionExecutionId)).status).toBe('IN_PROGRESS');
    const [row] = await ds.query('SELECT sha256 FROM execution_artifacts WHERE pipeline_execution_id = $1', [
      exec.pipelineExecutionId,
    ]);
    expect(row.sha256).toBe(sha('c'));
    expect(
      await queue.fail(exec.accountId, job.jobId, job.claim.nonce, {
        type: 'JOB_FAILED',
        message: 'conflict',
      }),
    ).toBe(true);
  });

  it('lets a retried action replace the output it produced before', async () => {
    const first = await running({ outputs: ['out'] });
    await queue.succeed(exec.accountId, first.jobId, first.claim.nonce, {
      ...noResult,
      outputArtifacts: [{ name: 'out', sha256: sha('1'), sizeBytes: 1 }],
    });
    const retry = await running({ outputs: ['out'] });
    await queue.succeed(exec.accountId, retry.jobId, retry.claim.nonce, {
      ...noResult,
      outputArtifacts: [{ name: 'out', sha256: sha('2'), sizeBytes: 2 }],
    });
    const rows = await ds.query(
      'SELECT sha256, size_bytes FROM execution_artifacts WHERE pipeline_execution_id = $1',
      [exec.pipelineExecutionId],
    );
    expect(rows).toEqual([{ sha256: sha('2'), size_bytes: '2' }]);
  });

  it('refuses malformed or oversized results and leaves the job running', async () => {
    const job = await running({ outputs: ['out'] });
    const { accountId } = exec;
    const { jobId } = job;
    const { nonce } = job.claim;
    const good = { name: 'out', sha256: sha('e'), sizeBytes: 3 };
    const refusals: [JobSuccessResult, typeof BadInputError | typeof LimitExceededError][] = [
      [noResult, BadInputError],
      [{ ...noResult, outputArtifacts: [good, { ...good, name: 'extra' }] }, BadInputError],
      [{ ...noResult, outputArtifacts: [good, good] }, BadInputError],
      [{ ...noResult, outputArtifacts: [{ ...good, sha256: 'nope' }] }, BadInputError],
      [{ ...noResult, outputArtifacts: [{ ...good, sizeBytes: -1 }] }, BadInputError],
      [{ outputVariables: { 'bad name': 'x' }, outputArtifacts: [good] }, BadInputError],
      [{ outputVariables: { Big: 'x'.repeat(130_000) }, outputArtifacts: [good] }, LimitExceededError],
    ];
    for (const [result, errorType] of refusals) {
      await expect(queue.succeed(accountId, jobId, nonce, result)).rejects.toBeInstanceOf(errorType);
    }
    expect((await jobRecord(ds, accountId, jobId)).status).toBe('IN_PROGRESS');
    expect(await queue.succeed(accountId, jobId, nonce, { ...noResult, outputArtifacts: [good] })).toBe(true);
  });
});

describe('fail', () => {
  it('fails the job and its action with the failure type and message, once', async () => {
    const job = await running();
    await clearDirty(ds, exec);
    const failure = { type: 'CONFIGURATION_ERROR' as const, message: 'No BuildSpec' };
    expect(await queue.fail(exec.accountId, job.jobId, job.claim.nonce, failure)).toBe(true);
    expect(await actionRecord(ds, exec.accountId, job.actionExecutionId)).toMatchObject({
      status: 'FAILED',
      failure_type: 'CONFIGURATION_ERROR',
      failure_message: 'No BuildSpec',
      summary: 'No BuildSpec',
    });
    expect((await jobRecord(ds, exec.accountId, job.jobId)).status).toBe('FAILED');
    expect(await isDirty(ds, exec)).toBe(true);
    expect(await queue.fail(exec.accountId, job.jobId, job.claim.nonce, failure)).toBe(false);
    await expect(queue.succeed(exec.accountId, job.jobId, job.claim.nonce, noResult)).resolves.toBe(false);
  });
});

describe('lease recovery', () => {
  it('queues a job again up to maxAttempts, then fails its action as SYSTEM_UNAVAILABLE', async () => {
    const jobs = await listen('sluice_jobs');
    try {
      const job = await running();
      const type = job.data.actionTypeId;
      const key = `${type.category}/${type.owner}/${type.provider}/${type.version}`;
      let claim = job.claim;
      for (let attempt = 1; attempt <= 3; attempt++) {
        expect(claim.attempt).toBe(attempt);
        await clearDirty(ds, exec);
        await expireLeases(ds, exec.accountId);
        expect(await queue.recoverExpiredLeases()).toBe(1);
        expect(await isDirty(ds, exec)).toBe(true);
        await expect(queue.heartbeat(exec.accountId, job.jobId, claim.nonce)).rejects.toBeInstanceOf(
          StaleJobError,
        );
        const record = await jobRecord(ds, exec.accountId, job.jobId);
        if (attempt < 3) {
          expect(record).toMatchObject({ status: 'QUEUED', nonce: null });
          [claim] = await queue2.claim([key], 1, `w${attempt + 1}`);
          expect(claim.id).toBe(job.jobId);
        } else {
          expect(record).toMatchObject({ status: 'FAILED', nonce: null });
        }
      }
      expect(await actionRecord(ds, exec.accountId, job.actionExecutionId)).toMatchObject({
        status: 'FAILED',
        failure_type: 'SYSTEM_UNAVAILABLE',
        failure_message: "The job's worker stopped responding 3 times",
      });
      await settle();
      expect(jobs.payloads.filter((payload) => payload === key)).toHaveLength(2);
      expect(await queue.recoverExpiredLeases()).toBe(0);
    } finally {
      await jobs.close();
    }
  });

  it('leaves a job whose lease still holds, even if a heartbeat comes late', async () => {
    const job = await running();
    await expireLeases(ds, exec.accountId);
    // Not taken back yet: the late heartbeat renews the lease and the sweeper leaves it be.
    await queue.heartbeat(exec.accountId, job.jobId, job.claim.nonce);
    expect(await queue.recoverExpiredLeases()).toBe(0);
    expect((await jobRecord(ds, exec.accountId, job.jobId)).status).toBe('IN_PROGRESS');
  });

  it('does not queue again a cancelled job whose worker went silent', async () => {
    const job = await running();
    await ds.transaction((tx) => queue.requestCancel(tx, exec.accountId, job.actionExecutionId));
    await expireLeases(ds, exec.accountId);
    expect(await queue.recoverExpiredLeases()).toBe(1);
    expect((await jobRecord(ds, exec.accountId, job.jobId)).status).toBe('FAILED');
  });
});

describe('requestCancel', () => {
  it('fails a queued job at once', async () => {
    const job = await insertJob(ds, exec);
    await ds.transaction((tx) => queue.requestCancel(tx, exec.accountId, job.actionExecutionId));
    expect(await jobRecord(ds, exec.accountId, job.jobId)).toMatchObject({
      status: 'FAILED',
      cancel_requested: false,
    });
  });

  it('reaches a running job through its heartbeat, and wakes its worker', async () => {
    const cancels = await listen(JOB_CANCEL_CHANNEL);
    try {
      const job = await running();
      expect((await queue.heartbeat(exec.accountId, job.jobId, job.claim.nonce)).cancelRequested).toBe(false);
      await ds.transaction(async (tx) => {
        await tx.query(`UPDATE action_executions SET status = 'ABANDONED' WHERE id = $1`, [
          job.actionExecutionId,
        ]);
        await queue.requestCancel(tx, exec.accountId, job.actionExecutionId);
      });
      expect((await queue.heartbeat(exec.accountId, job.jobId, job.claim.nonce)).cancelRequested).toBe(true);
      await settle();
      expect(cancels.payloads).toContain(`${exec.accountId}|${job.jobId}`);
      // The worker stops and reports a failure; the abandoned action keeps its end.
      expect(
        await queue.fail(exec.accountId, job.jobId, job.claim.nonce, {
          type: 'JOB_FAILED',
          message: 'cancelled',
        }),
      ).toBe(false);
      expect((await actionRecord(ds, exec.accountId, job.actionExecutionId)).status).toBe('ABANDONED');
      expect((await jobRecord(ds, exec.accountId, job.jobId)).status).toBe('FAILED');
    } finally {
      await cancels.close();
    }
  });

  it('ends a job cancelled between claim and acknowledgement when it is acknowledged', async () => {
    const job = await running({}, false);
    await ds.transaction((tx) => queue.requestCancel(tx, exec.accountId, job.actionExecutionId));
    expect(await queue.acknowledge(exec.accountId, job.jobId, job.claim.nonce)).toBe('FAILED');
    expect(await queue.acknowledge(exec.accountId, job.jobId, job.claim.nonce)).toBe('FAILED');
    expect((await jobRecord(ds, exec.accountId, job.jobId)).status).toBe('FAILED');
  });

  it('never deadlocks with the engine abandoning the action while its result arrives', async () => {
    for (let round = 0; round < 15; round++) {
      const job = await running({ outputs: ['out'] });
      const result = { ...noResult, outputArtifacts: [{ name: 'out', sha256: sha('f'), sizeBytes: 1 }] };
      // What the engine's reconciler does: hold the pipeline, end the action, cancel its job.
      const abandon = ds2.transaction(async (tx) => {
        await markPipelineDirty(tx, exec.accountId, exec.pipelineName);
        await tx.query(
          `UPDATE action_executions SET status = 'ABANDONED' WHERE id = $1 AND status = 'IN_PROGRESS'`,
          [job.actionExecutionId],
        );
        await queue2.requestCancel(tx, exec.accountId, job.actionExecutionId);
      });
      const [took] = await Promise.all([
        queue.succeed(exec.accountId, job.jobId, job.claim.nonce, result),
        abandon,
      ]);
      const action = await actionRecord(ds, exec.accountId, job.actionExecutionId);
      expect(action.status).toBe(took ? 'SUCCEEDED' : 'ABANDONED');
      expect((await jobRecord(ds, exec.accountId, job.jobId)).status).toBe('SUCCEEDED');
    }
  });
});

describe('logs', () => {
  it('stores chunks by byte offset: a resent chunk is a no-op, a gap or an overlap is refused', async () => {
    const job = await running();
    const append = (offset: number, text: string) =>
      queue.appendLog(exec.accountId, job.jobId, job.claim.nonce, offset, text);
    expect(await append(0, 'héllo ')).toEqual({ nextOffset: 7 });
    expect(await append(7, 'wörld\n')).toEqual({ nextOffset: 14 });
    expect(await append(7, 'wörld\n')).toEqual({ nextOffset: 14 });
    const gap = await append(20, 'x').catch((e: unknown) => e);
    expect(gap).toBeInstanceOf(LogOffsetError);
    expect((gap as LogOffsetError).expectedOffset).toBe(14);
    await expect(append(7, 'w')).rejects.toBeInstanceOf(LogOffsetError);
    await expect(append(3, 'x')).rejects.toBeInstanceOf(LogOffsetError);
    await expect(append(14, 'nul\0')).rejects.toBeInstanceOf(BadInputError);
    await expect(append(-1, 'x')).rejects.toBeInstanceOf(BadInputError);
    const page = await queue.readLog(exec.accountId, job.actionExecutionId, 0, 1000);
    expect(page).toEqual({ text: 'héllo wörld\n', nextOffset: 14, complete: false });
  });

  it('pages by bytes at character boundaries, and says when the log is complete', async () => {
    const job = await running();
    let offset = 0;
    for (const chunk of ['ab€', 'cd', '€€e']) {
      ({ nextOffset: offset } = await queue.appendLog(
        exec.accountId,
        job.jobId,
        job.claim.nonce,
        offset,
        chunk,
      ));
    }
    const read = (from: number, limit: number) =>
      queue.readLog(exec.accountId, job.actionExecutionId, from, limit);
    // 'ab€cd€€e': € is 3 bytes; a page never splits one.
    expect(await read(0, 3)).toMatchObject({ text: 'ab', nextOffset: 2 });
    expect(await read(2, 1)).toMatchObject({ text: '€', nextOffset: 5 });
    expect(await read(5, 4)).toMatchObject({ text: 'cd', nextOffset: 7 });
    expect(await read(7, 100)).toMatchObject({ text: '€€e', nextOffset: 14, complete: false });
    // Paging through in small steps yields the whole log.
    let text = '';
    for (let from = 0; from < 14;) {
      const page = await read(from, 4);
      text += page.text;
      from = page.nextOffset;
    }
    expect(text).toBe('ab€cd€€e');
    await queue.succeed(exec.accountId, job.jobId, job.claim.nonce, noResult);
    expect(await read(14, 100)).toEqual({ text: '', nextOffset: 14, complete: true });
    expect((await read(7, 3)).complete).toBe(false);
  });

  it('continues the log of the next attempt where the lost one stopped', async () => {
    const job = await running();
    await queue.appendLog(exec.accountId, job.jobId, job.claim.nonce, 0, 'attempt 1\n');
    await expireLeases(ds, exec.accountId);
    await queue.recoverExpiredLeases();
    const type = job.data.actionTypeId;
    const [second] = await queue.claim(
      [`${type.category}/${type.owner}/${type.provider}/${type.version}`],
      1,
      'w2',
    );
    expect(second.logOffset).toBe(10);
    await expect(
      queue.appendLog(exec.accountId, job.jobId, job.claim.nonce, 10, 'late\n'),
    ).rejects.toBeInstanceOf(StaleJobError);
    await queue.appendLog(exec.accountId, job.jobId, second.nonce, 10, 'attempt 2\n');
    expect((await queue.readLog(exec.accountId, job.actionExecutionId, 0, 100)).text).toBe(
      'attempt 1\nattempt 2\n',
    );
  });

  it("refuses a chunk that would take the action's log past its limit", async () => {
    const small = new JobQueue(ds, { maxLogBytes: 10 });
    const job = await running();
    await small.appendLog(exec.accountId, job.jobId, job.claim.nonce, 0, '12345');
    await expect(
      small.appendLog(exec.accountId, job.jobId, job.claim.nonce, 5, '678901'),
    ).rejects.toBeInstanceOf(LimitExceededError);
    expect(await small.appendLog(exec.accountId, job.jobId, job.claim.nonce, 5, '67890')).toEqual({
      nextOffset: 10,
    });
  });
});
