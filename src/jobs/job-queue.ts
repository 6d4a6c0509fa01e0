import { randomBytes, randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { markPipelineDirty, notifyJobQueued } from '../engine/engine-signals';
import type { ActionExecutionStatus, JobStatus } from '../engine/model/statuses';
import { ExecutionStore } from '../engine/execution-store';
import {
  actionExecutionMachine,
  initialStatus,
  isTerminal,
  jobMachine,
  transition,
} from '../engine/model/transitions';
import type { NewJob } from '../engine/pipeline-reconciler';
import {
  maxOutputVariablesBytes,
  outputVariableNamePattern,
  outputVariablesBytes,
} from '../engine/providers/output-variables';
import { BadInputError, LimitExceededError, NotFoundError, type Problem } from '../platform/errors';
import type { Metrics } from '../platform/metrics/metrics';
import type {
  ClaimedJob,
  JobBroker,
  JobData,
  JobFailure,
  JobHeartbeat,
  JobSuccessResult,
  LogPage,
} from './job-data';
import { LogOffsetError, OutputArtifactConflictError, StaleJobError } from './job-errors';
import { boundaryAtOrAfter, boundaryAtOrBefore } from './utf8';

/**
 * Wakes the worker running a job when its cancellation is requested, so it stops at once
 * rather than at its next heartbeat. Payload `accountId|jobId`; a hint only: the heartbeat's
 * `cancelRequested` is what the worker acts on.
 */
export const JOB_CANCEL_CHANNEL = 'sluice_job_cancel';

/**
 * A log chunk was stored: payload `accountId|actionExecutionId`. A wake-up only; subscribers
 * read the log by offset through `readLog`.
 */
export const LOG_CHANNEL = 'sluice_logs';

export interface JobQueueOptions {
  /** How long a claim holds without a heartbeat (DISPATCHED or IN_PROGRESS). */
  leaseSeconds: number;
  /** Claims of one job before a lost lease fails its action as SYSTEM_UNAVAILABLE. */
  maxAttempts: number;
  /** Largest log of one action execution, all attempts together (DESIGN §10). */
  maxLogBytes: number;
}

export const defaultJobQueueOptions: JobQueueOptions = {
  leaseSeconds: 60,
  maxAttempts: 3,
  maxLogBytes: 10 * 1024 * 1024,
};

/**
 * Statuses in which a worker holds a job: it has a lease and a nonce, and only it may write.
 * Every worker write is fenced in SQL by `nonce = $n AND status IN (held)`; the job machine
 * allows both ways out of them that the queue itself takes (lease lost → QUEUED or FAILED),
 * which test/jobs/job-statuses.unit.test.ts checks against `jobMachine`.
 */
export const heldJobStatuses = ['DISPATCHED', 'IN_PROGRESS'] as const satisfies readonly JobStatus[];
const HELD = heldJobStatuses.map((status) => `'${status}'`).join(', ');

/** Largest chunk one `appendLog` accepts; the worker sends smaller ones. */
export const maxLogChunkBytes = 1024 * 1024;
/** Largest page `readLog` returns. */
export const maxLogReadBytes = 1024 * 1024;
/** CodePipeline caps FailureDetails.message at 5,000 characters. */
const maxFailureMessageChars = 5000;
const recoveryBatch = 100;
const sha256Pattern = /^[0-9a-f]{64}$/;

interface JobRow {
  account_id: string;
  id: string;
  action_execution_id: string;
  action_type: string;
  status: JobStatus;
  nonce: string | null;
  attempt: number;
  cancel_requested: boolean;
  data: JobData;
}

interface ActionRow {
  status: ActionExecutionStatus;
  pipeline_execution_id: string;
  action_name: string;
}

/**
 * Jobs in PostgreSQL (DESIGN §7): every action but an approval runs as one. This class is
 * the whole job protocol; workers see its JobBroker side, the engine its `requestCancel` and
 * `recoverExpiredLeases`, the API `readLog`. Nothing is kept in memory: any number of
 * processes may use it on one database.
 *
 * Fencing. A claim gives the attempt a fresh random nonce; every later write by a worker
 * names it, and is refused (StaleJobError) once the job is no longer held with that nonce.
 * Losing the lease does not by itself fence the worker: the sweeper does, when it queues the
 * job again or fails it (clearing the nonce). Until then a late heartbeat simply renews the
 * lease, which is safe because no one else can hold the job meanwhile.
 *
 * Where the job machine is enforced: single-statement writes (claim, acknowledge, heartbeat,
 * appendLog, requestCancel) mirror its table in their WHERE clauses, SQL being the fence; the
 * transactional ones (succeed, fail, lease recovery) lock the rows, then check each move with
 * `transition()` before writing it.
 *
 * Lock order, shared with the engine so that neither waits on the other in a cycle:
 * pipeline_engine_state → action_executions → jobs. The engine's reconciler holds a pipeline's
 * engine-state row, then updates action executions, then cancels their jobs; so a result
 * marks the pipeline dirty first, then locks the action execution, then the job.
 * Transactions are retried on deadlock or serialization failure all the same.
 */
export class JobQueue implements JobBroker {
  private readonly options: JobQueueOptions;

  constructor(
    private readonly dataSource: DataSource,
    options: Partial<JobQueueOptions> = {},
    /** Where a job's result ends its action execution (the engine's one writer of them). */
    private readonly executions: ExecutionStore = new ExecutionStore(),
    /** Where dispatch latencies go (queued → claimed). */
    private readonly metrics?: Metrics,
  ) {
    this.options = { ...defaultJobQueueOptions, ...options };
  }

  /** Jobs waiting for a worker, across instances (for /metrics; along jobs_queue_idx). */
  async queuedCount(): Promise<number> {
    const rows = await this.rows<{ n: number }>(
      this.dataSource.manager,
      "SELECT count(*)::int AS n FROM jobs WHERE status = 'QUEUED'",
    );
    return rows[0].n;
  }

  /** For the engine, in its transaction: the job of an action execution it has just started. */
  async enqueue(tx: EntityManager, job: NewJob): Promise<void> {
    await tx.query(
      `INSERT INTO jobs (account_id, id, action_execution_id, action_type, status, data)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [
        job.accountId,
        randomUUID(),
        job.actionExecutionId,
        job.actionType,
        initialStatus(jobMachine, 'QUEUED'),
        JSON.stringify(job.data),
      ],
    );
    await notifyJobQueued(tx, job.actionType);
  }

  async claim(actionTypes: readonly string[], max: number, workerId: string): Promise<ClaimedJob[]> {
    if (actionTypes.length === 0 || max < 1) return [];
    const count = Math.floor(max);
    // Drawn here from the OS CSPRNG: PostgreSQL has no crypto-random text without pgcrypto.
    const nonces = Array.from({ length: count }, () => randomBytes(16).toString('hex'));
    // SKIP LOCKED: concurrent claimers each take different rows and never wait for one another.
    // The window function sits outside the locking subquery: PostgreSQL refuses FOR UPDATE
    // in a query with window functions.
    const rows = await this.rows<
      JobRow & { lease_expires_at: Date; created_at: Date; log_offset: string; queued_seconds: number }
    >(
      this.dataSource.manager,
      // A queued row's updated_at is when it was queued (enqueued, or queued again after a lost lease).
      `WITH picked AS MATERIALIZED (
         SELECT account_id, id, queued_at, row_number() OVER () AS n FROM (
           SELECT account_id, id, updated_at AS queued_at FROM jobs
            WHERE status = 'QUEUED' AND action_type = ANY($1::text[])
            ORDER BY created_at, id
            LIMIT $2
            FOR UPDATE SKIP LOCKED
         ) oldest
       )
       UPDATE jobs j
          SET status = 'DISPATCHED', nonce = ($3::text[])[p.n], attempt = j.attempt + 1,
              lease_expires_at = now() + make_interval(secs => $4), worker_id = $5, updated_at = now()
         FROM picked p
        WHERE j.account_id = p.account_id AND j.id = p.id
       RETURNING j.account_id, j.id, j.nonce, j.attempt, j.data, j.lease_expires_at, j.created_at,
         extract(epoch FROM clock_timestamp() - p.queued_at)::float8 AS queued_seconds,
         coalesce((SELECT l."offset" + octet_length(l.text) FROM action_logs l
                    WHERE l.account_id = j.account_id AND l.action_execution_id = j.action_execution_id
                    ORDER BY l."offset" DESC LIMIT 1), 0) AS log_offset`,
      [actionTypes, count, nonces, this.options.leaseSeconds, workerId],
    );
    rows.sort((a, b) => a.created_at.getTime() - b.created_at.getTime());
    for (const row of rows) this.metrics?.observeJobDispatch(row.queued_seconds);
    return rows.map((row) => ({
      id: row.id,
      accountId: row.account_id,
      nonce: row.nonce ?? '',
      attempt: row.attempt,
      data: row.data,
      leaseExpiresAt: row.lease_expires_at,
      logOffset: Number(row.log_offset),
    }));
  }

  async acknowledge(accountId: string, jobId: string, nonce: string): Promise<JobStatus> {
    // The common case in one statement; a second acknowledge (a retried call) matches too.
    const rows = await this.rows<{ status: JobStatus }>(
      this.dataSource.manager,
      `UPDATE jobs SET status = 'IN_PROGRESS', lease_expires_at = now() + make_interval(secs => $4),
              updated_at = now(), run_started_at = CASE WHEN status = 'DISPATCHED' THEN now() ELSE run_started_at END
        WHERE account_id = $1 AND id = $2 AND nonce = $3 AND status IN (${HELD}) AND NOT cancel_requested
        RETURNING status`,
      [accountId, jobId, nonce, this.options.leaseSeconds],
    );
    if (rows.length) return rows[0].status;
    // Cancelled before it started, already ended, or stale: decide under the locks.
    return this.finishing(accountId, jobId, async (tx, job, action) => {
      if (this.fence(job, jobId, nonce) === 'ended') return job.status;
      if (!job.cancel_requested) {
        // Only if the statement above raced with a change of the row; do what it would have.
        if (job.status !== 'IN_PROGRESS') transition(jobMachine, job.status, 'IN_PROGRESS');
        await tx.query(
          `UPDATE jobs SET status = 'IN_PROGRESS', lease_expires_at = now() + make_interval(secs => $3),
                  updated_at = now(), run_started_at = CASE WHEN status = 'DISPATCHED' THEN now() ELSE run_started_at END
            WHERE account_id = $1 AND id = $2`,
          [accountId, jobId, this.options.leaseSeconds],
        );
        return 'IN_PROGRESS';
      }
      await this.finishJob(tx, job, action, 'FAILED', {
        type: 'JOB_FAILED',
        message: 'The job was cancelled before it started',
      });
      return 'FAILED';
    });
  }

  async heartbeat(accountId: string, jobId: string, nonce: string): Promise<JobHeartbeat> {
    const rows = await this.rows<{ lease_expires_at: Date; cancel_requested: boolean }>(
      this.dataSource.manager,
      `UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $4), updated_at = now()
        WHERE account_id = $1 AND id = $2 AND nonce = $3 AND status IN (${HELD})
        RETURNING lease_expires_at, cancel_requested`,
      [accountId, jobId, nonce, this.options.leaseSeconds],
    );
    if (!rows.length) throw new StaleJobError(jobId, 'the nonce is not the current attempt of a running job');
    return { leaseExpiresAt: rows[0].lease_expires_at, cancelRequested: rows[0].cancel_requested };
  }

  /**
   * Stores a chunk at byte `offset` of the action execution's log. Chunks must follow one
   * another exactly; sending the same chunk again (a retry after a lost reply) is a no-op
   * that returns the same `nextOffset`.
   */
  async appendLog(
    accountId: string,
    jobId: string,
    nonce: string,
    offset: number,
    text: string,
  ): Promise<{ nextOffset: number }> {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new BadInputError(`Log offset ${offset} is not a non-negative integer`);
    }
    if (text.includes('\0')) throw new BadInputError('A log chunk cannot contain NUL characters');
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > maxLogChunkBytes) {
      throw new LimitExceededError(
        'logChunkSize',
        `A log chunk is ${bytes} bytes, over the limit of ${maxLogChunkBytes} bytes (logChunkSize)`,
      );
    }
    if (bytes === 0) return { nextOffset: offset };
    return this.transaction(async (tx) => {
      // The action execution first (lock order); FOR KEY SHARE is what the insert's foreign
      // key check takes anyway, and it does not block the engine's updates of the row.
      await tx.query(
        `SELECT 1 FROM action_executions
          WHERE account_id = $1 AND id = (SELECT action_execution_id FROM jobs WHERE account_id = $1 AND id = $2)
          FOR KEY SHARE`,
        [accountId, jobId],
      );
      // FOR SHARE on the job: the sweeper cannot take the job away between the fence check
      // and the insert, so no chunk of a lost attempt lands after the next attempt started.
      const inserted = await this.rows<{ offset: string; action_execution_id: string }>(
        tx,
        `INSERT INTO action_logs (account_id, action_execution_id, "offset", text)
         SELECT j.account_id, j.action_execution_id, $4::bigint, $5::text FROM jobs j
          WHERE j.account_id = $1 AND j.id = $2 AND j.nonce = $3 AND j.status IN (${HELD})
            AND $4::bigint = coalesce((SELECT l."offset" + octet_length(l.text) FROM action_logs l
                                        WHERE l.account_id = j.account_id
                                          AND l.action_execution_id = j.action_execution_id
                                        ORDER BY l."offset" DESC LIMIT 1), 0)
            AND $4::bigint + octet_length($5::text) <= $6
          FOR SHARE OF j
         ON CONFLICT DO NOTHING
         RETURNING "offset", action_execution_id`,
        [accountId, jobId, nonce, offset, text, this.options.maxLogBytes],
      );
      if (inserted.length) {
        // Wakes log subscribers on every instance once the chunk is committed (src/events).
        await tx.query('SELECT pg_notify($1, $2)', [
          LOG_CHANNEL,
          `${accountId}|${inserted[0].action_execution_id}`,
        ]);
        return { nextOffset: offset + bytes };
      }

      const [state] = await this.rows<{ current: boolean; stored_bytes: number | null; log_end: string }>(
        tx,
        `SELECT (j.nonce = $3 AND j.status IN (${HELD})) IS TRUE AS current,
                (SELECT octet_length(l.text) FROM action_logs l
                  WHERE l.account_id = j.account_id AND l.action_execution_id = j.action_execution_id
                    AND l."offset" = $4) AS stored_bytes,
                coalesce((SELECT l."offset" + octet_length(l.text) FROM action_logs l
                           WHERE l.account_id = j.account_id AND l.action_execution_id = j.action_execution_id
                           ORDER BY l."offset" DESC LIMIT 1), 0) AS log_end
           FROM jobs j WHERE j.account_id = $1 AND j.id = $2`,
        [accountId, jobId, nonce, offset],
      );
      if (!state?.current)
        throw new StaleJobError(jobId, 'the nonce is not the current attempt of a running job');
      // Idempotence is checked by place and length, not content: a worker resending a chunk
      // resends the same one, and comparing up to a megabyte of text would buy nothing.
      if (state.stored_bytes === bytes) return { nextOffset: offset + bytes };
      const logEnd = Number(state.log_end);
      if (offset === logEnd) {
        throw new LimitExceededError(
          'logSize',
          `The action's log would pass ${this.options.maxLogBytes} bytes (logSize)`,
        );
      }
      throw new LogOffsetError(offset, logEnd);
    });
  }

  /**
   * Up to `limit` bytes of an action execution's log from byte `offset`, cut at character
   * boundaries (a page holds at least one character when any is left).
   */
  async readLog(
    accountId: string,
    actionExecutionId: string,
    offset: number,
    limit: number,
  ): Promise<LogPage> {
    const from = Math.max(0, Math.floor(offset));
    const size = Math.min(Math.max(1, Math.floor(limit)), maxLogReadBytes);
    const [action] = await this.rows<{ status: ActionExecutionStatus; running: boolean; log_end: string }>(
      this.dataSource.manager,
      `SELECT ae.status,
              EXISTS (SELECT 1 FROM jobs j WHERE j.account_id = ae.account_id AND j.action_execution_id = ae.id
                         AND j.status IN ('QUEUED', ${HELD})) AS running,
              coalesce((SELECT l."offset" + octet_length(l.text) FROM action_logs l
                         WHERE l.account_id = ae.account_id AND l.action_execution_id = ae.id
                         ORDER BY l."offset" DESC LIMIT 1), 0) AS log_end
         FROM action_executions ae WHERE ae.account_id = $1 AND ae.id = $2`,
      [accountId, actionExecutionId],
    );
    if (!action) throw new NotFoundError(`Action execution ${actionExecutionId} was not found`);
    // The chunk holding `from`, then every chunk starting before `from + size` (the primary
    // key's index serves both bounds).
    const chunks = await this.rows<{ offset: string; text: string }>(
      this.dataSource.manager,
      `SELECT "offset", text FROM action_logs
        WHERE account_id = $1 AND action_execution_id = $2
          AND "offset" >= coalesce((SELECT max("offset") FROM action_logs
                                     WHERE account_id = $1 AND action_execution_id = $2 AND "offset" <= $3), 0)
          AND "offset" < $3::bigint + $4
        ORDER BY "offset"`,
      [accountId, actionExecutionId, from, size],
    );
    const base = chunks.length ? Number(chunks[0].offset) : from;
    const bytes = Buffer.from(chunks.map((chunk) => chunk.text).join(''), 'utf8');
    const start = boundaryAtOrAfter(bytes, from - base);
    let end = boundaryAtOrBefore(bytes, from - base + size);
    if (end <= start && start < bytes.length) end = boundaryAtOrAfter(bytes, start + 1);
    const nextOffset = base + Math.max(start, end);
    return {
      text: bytes.subarray(start, Math.max(start, end)).toString('utf8'),
      nextOffset,
      complete:
        isTerminal(actionExecutionMachine, action.status) &&
        !action.running &&
        nextOffset >= Number(action.log_end),
    };
  }

  /**
   * Records a job's success and its action execution's, in one transaction. Refuses (typed
   * errors, nothing written) a result it cannot record: malformed, over a limit, or naming an
   * output another action produced; the worker may then report a failure instead.
   */
  async succeed(accountId: string, jobId: string, nonce: string, result: JobSuccessResult): Promise<boolean> {
    return this.finishing(accountId, jobId, async (tx, job, action) => {
      if (this.fence(job, jobId, nonce) === 'ended') return false;
      checkResult(job.data, result);
      if (action.status === 'IN_PROGRESS') {
        for (const artifact of result.outputArtifacts) {
          // A retried action (same name, new action execution) replaces its earlier output;
          // another action's output of the same name is never overwritten.
          const stored = await this.rows<{ produced_by: string }>(
            tx,
            `INSERT INTO execution_artifacts (account_id, pipeline_execution_id, name, sha256, size_bytes, produced_by)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (account_id, pipeline_execution_id, name) DO UPDATE
                SET sha256 = EXCLUDED.sha256, size_bytes = EXCLUDED.size_bytes, created_at = now()
              WHERE execution_artifacts.produced_by = EXCLUDED.produced_by
             RETURNING produced_by`,
            [
              accountId,
              action.pipeline_execution_id,
              artifact.name,
              artifact.sha256,
              artifact.sizeBytes,
              action.action_name,
            ],
          );
          if (!stored.length) {
            const [other] = await this.rows<{ produced_by: string }>(
              tx,
              `SELECT produced_by FROM execution_artifacts
                WHERE account_id = $1 AND pipeline_execution_id = $2 AND name = $3`,
              [accountId, action.pipeline_execution_id, artifact.name],
            );
            throw new OutputArtifactConflictError(artifact.name, other?.produced_by ?? 'another action');
          }
        }
      }
      return this.finishJob(tx, job, action, 'SUCCEEDED', result);
    });
  }

  async fail(accountId: string, jobId: string, nonce: string, failure: JobFailure): Promise<boolean> {
    return this.finishing(accountId, jobId, async (tx, job, action) => {
      if (this.fence(job, jobId, nonce) === 'ended') return false;
      return this.finishJob(tx, job, action, 'FAILED', failure);
    });
  }

  /**
   * For the engine, in its transaction, when an action execution will not be waited for
   * (abandoned, timed out): a job no worker holds fails at once; a held one is flagged, and
   * its worker stops on its next heartbeat (woken at once through JOB_CANCEL_CHANNEL) and
   * reports a failure that changes nothing of the already-ended action.
   */
  async requestCancel(tx: EntityManager, accountId: string, actionExecutionId: string): Promise<void> {
    // Mirrors the job machine: QUEUED → FAILED; a held job keeps its status until its worker
    // (or the sweeper, when its lease expires) ends it. The right side reads the old status.
    const rows = await this.rows<{ id: string; status: JobStatus }>(
      tx,
      `UPDATE jobs SET status = CASE WHEN status = 'QUEUED' THEN 'FAILED' ELSE status END,
              cancel_requested = status <> 'QUEUED', updated_at = now()
        WHERE account_id = $1 AND action_execution_id = $2 AND status IN ('QUEUED', ${HELD})
        RETURNING id, status`,
      [accountId, actionExecutionId],
    );
    for (const row of rows) {
      if (row.status !== 'FAILED') {
        await tx.query('SELECT pg_notify($1, $2)', [JOB_CANCEL_CHANNEL, `${accountId}|${row.id}`]);
      }
    }
  }

  /**
   * For the sweeper (every instance, every second): takes back jobs whose lease expired. A
   * job with attempts left is queued again, its nonce cleared so the lost worker's writes
   * fail from now on; otherwise (or if it was cancelled) it fails, and so does its action,
   * as SYSTEM_UNAVAILABLE. One batch per call; returns how many jobs it took back.
   */
  async recoverExpiredLeases(): Promise<number> {
    const expired = await this.rows<{ account_id: string; id: string }>(
      this.dataSource.manager,
      `SELECT account_id, id FROM jobs
        WHERE status IN (${HELD}) AND lease_expires_at < now()
        ORDER BY lease_expires_at LIMIT ${recoveryBatch}`,
    );
    let recovered = 0;
    for (const job of expired) {
      if (await this.recoverOne(job.account_id, job.id)) recovered += 1;
    }
    return recovered;
  }

  private async recoverOne(accountId: string, jobId: string): Promise<boolean> {
    return this.transaction(async (tx) => {
      const [found] = await this.rows<JobRow>(
        tx,
        `SELECT data FROM jobs WHERE account_id = $1 AND id = $2 AND status IN (${HELD}) AND lease_expires_at < now()`,
        [accountId, jobId],
      );
      if (!found) return false;
      // Dirty first (lock order), for a requeue too: cheap, and the engine may show attempts.
      await markPipelineDirty(tx, accountId, found.data.pipelineContext.pipelineName);
      // SKIP LOCKED: a row someone is working on now is left for the next sweep.
      const [action] = await this.rows<ActionRow>(
        tx,
        `SELECT ae.status, ae.pipeline_execution_id, ae.action_name FROM action_executions ae
          WHERE ae.account_id = $1 AND ae.id = (SELECT action_execution_id FROM jobs WHERE account_id = $1 AND id = $2)
          FOR NO KEY UPDATE SKIP LOCKED`,
        [accountId, jobId],
      );
      if (!action) return false;
      const [job] = await this.rows<JobRow>(
        tx,
        `SELECT * FROM jobs WHERE account_id = $1 AND id = $2 AND status IN (${HELD}) AND lease_expires_at < now()
          FOR NO KEY UPDATE SKIP LOCKED`,
        [accountId, jobId],
      );
      if (!job) return false;
      if (!job.cancel_requested && job.attempt < this.options.maxAttempts) {
        transition(jobMachine, job.status, 'QUEUED');
        await tx.query(
          `UPDATE jobs SET status = 'QUEUED', nonce = NULL, lease_expires_at = NULL, updated_at = now()
            WHERE account_id = $1 AND id = $2`,
          [accountId, jobId],
        );
        await notifyJobQueued(tx, job.action_type);
        return true;
      }
      const times = `${job.attempt} time${job.attempt === 1 ? '' : 's'}`;
      await this.finishJob(
        tx,
        job,
        action,
        'FAILED',
        {
          type: 'SYSTEM_UNAVAILABLE',
          message: job.cancel_requested
            ? "The job's worker stopped responding after the job was cancelled"
            : `The job's worker stopped responding ${times}`,
        },
        true,
      );
      return true;
    });
  }

  /**
   * Runs `work` on a job and its action execution, both locked in the shared lock order,
   * with the pipeline already marked dirty. No job: StaleJobError.
   */
  private finishing<T>(
    accountId: string,
    jobId: string,
    work: (tx: EntityManager, job: JobRow, action: ActionRow) => Promise<T>,
  ): Promise<T> {
    return this.transaction(async (tx) => {
      // Which action and pipeline never change for a job, so this read needs no lock.
      const [found] = await this.rows<JobRow>(
        tx,
        'SELECT action_execution_id, data FROM jobs WHERE account_id = $1 AND id = $2',
        [accountId, jobId],
      );
      if (!found) throw new StaleJobError(jobId, 'there is no such job');
      await markPipelineDirty(tx, accountId, found.data.pipelineContext.pipelineName);
      const [action] = await this.rows<ActionRow>(
        tx,
        `SELECT status, pipeline_execution_id, action_name FROM action_executions
          WHERE account_id = $1 AND id = $2 FOR NO KEY UPDATE`,
        [accountId, found.action_execution_id],
      );
      const [job] = await this.rows<JobRow>(
        tx,
        'SELECT * FROM jobs WHERE account_id = $1 AND id = $2 FOR NO KEY UPDATE',
        [accountId, jobId],
      );
      return work(tx, job, action);
    });
  }

  /**
   * `held`: the nonce is the current attempt's and the job runs. `ended`: the same attempt
   * already ended the job (a repeated call), so the caller does nothing. Anything else:
   * StaleJobError. The sweeper clears the nonce of the jobs it takes back, so a lost
   * worker's attempt never counts as `ended`.
   */
  private fence(job: JobRow, jobId: string, nonce: string): 'held' | 'ended' {
    if (job.nonce !== nonce || job.nonce === null) {
      throw new StaleJobError(jobId, 'the nonce is not the current attempt (the lease was lost)');
    }
    if ((heldJobStatuses as readonly JobStatus[]).includes(job.status)) return 'held';
    if (isTerminal(jobMachine, job.status)) return 'ended';
    throw new StaleJobError(jobId, `the job is ${job.status}`);
  }

  /**
   * Ends a held job as `status`, and its action execution with it if that still runs (an
   * action already ABANDONED or FAILED by the engine keeps its end: the job's result is
   * ignored). Returns whether the action execution changed.
   */
  private async finishJob(
    tx: EntityManager,
    job: JobRow,
    action: ActionRow,
    status: 'SUCCEEDED' | 'FAILED',
    outcome: JobSuccessResult | JobFailure,
    /** The sweeper ends the attempt for its worker: the nonce goes, so nothing of it counts as a repeat. */
    fenceOut = false,
  ): Promise<boolean> {
    // A result straight from DISPATCHED implies the acknowledgement: both moves are checked.
    const from =
      job.status === 'DISPATCHED' && status === 'SUCCEEDED'
        ? transition(jobMachine, 'DISPATCHED', 'IN_PROGRESS')
        : job.status;
    transition(jobMachine, from, status);
    await tx.query(
      `UPDATE jobs SET status = $3, lease_expires_at = NULL, updated_at = now(), run_finished_at = now(),
              nonce = CASE WHEN $4 THEN NULL ELSE nonce END
        WHERE account_id = $1 AND id = $2`,
      [job.account_id, job.id, status, fenceOut],
    );
    if (action.status !== 'IN_PROGRESS') return false;
    if ('outputArtifacts' in outcome) {
      await this.executions.endAction(tx, job.account_id, job.action_execution_id, 'SUCCEEDED', {
        outputVariables: outcome.outputVariables,
        summary: outcome.summary ?? outcome.revision?.revisionSummary ?? null,
        // CodePipeline shows a source action's commit as its external execution id.
        externalExecutionId: outcome.externalExecutionId ?? outcome.revision?.revisionId ?? null,
      });
    } else {
      const message = outcome.message.slice(0, maxFailureMessageChars);
      await this.executions.endAction(tx, job.account_id, job.action_execution_id, 'FAILED', {
        failureType: outcome.type,
        failureMessage: message,
        summary: message,
      });
    }
    return true;
  }

  /** A transaction, run again (from scratch) when PostgreSQL broke a deadlock by aborting it. */
  private async transaction<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.dataSource.transaction(work);
      } catch (error) {
        if (attempt >= 3 || !isRetryable(error)) throw error;
      }
    }
  }

  /** Rows of any statement (TypeORM returns `[rows, count]` for UPDATE … RETURNING otherwise). */
  private async rows<T>(manager: EntityManager, sql: string, parameters: unknown[] = []): Promise<T[]> {
    const runner = manager.queryRunner ?? this.dataSource.createQueryRunner();
    try {
      return (await runner.query(sql, parameters, true)).records as T[];
    } finally {
      if (!manager.queryRunner) await runner.release();
    }
  }
}

/** Deadlock detected, serialization failure. */
function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

/** A success result must name exactly the job's outputs, stored, and fit the limits. */
function checkResult(data: JobData, result: JobSuccessResult): void {
  const problems: Problem[] = [];
  const declared = data.outputArtifacts.map((output) => output.name);
  const given = result.outputArtifacts.map((output) => output.name);
  for (const name of declared) {
    if (!given.includes(name)) problems.push({ path: 'outputArtifacts', message: `"${name}" is missing` });
  }
  result.outputArtifacts.forEach((artifact, index) => {
    const path = `outputArtifacts[${index}]`;
    if (!declared.includes(artifact.name)) {
      problems.push({ path, message: `"${artifact.name}" is not an output artifact of the action` });
    } else if (given.indexOf(artifact.name) !== index) {
      problems.push({ path, message: `"${artifact.name}" is given twice` });
    }
    if (!sha256Pattern.test(artifact.sha256))
      problems.push({ path, message: 'sha256 is not a SHA-256 hex digest' });
    if (!Number.isSafeInteger(artifact.sizeBytes) || artifact.sizeBytes < 0) {
      problems.push({ path, message: 'sizeBytes is not a non-negative integer' });
    }
  });
  for (const name of Object.keys(result.outputVariables)) {
    if (!outputVariableNamePattern.test(name)) {
      problems.push({ path: 'outputVariables', message: `"${name}" is not a valid variable name` });
    }
  }
  if (problems.length) throw BadInputError.of('The job result', problems);
  const bytes = outputVariablesBytes(result.outputVariables);
  if (bytes > maxOutputVariablesBytes) {
    throw new LimitExceededError(
      'outputVariables',
      `Output variables total ${bytes} bytes, over the limit of ${maxOutputVariablesBytes} bytes (outputVariables)`,
    );
  }
}
