import type { DataSource } from 'typeorm';
import type { Notifications } from '../platform/db/notifications';
import { CoalescedRun } from '../platform/coalesced-run';
import type { Logger } from '../platform/logger';
import type { Metrics } from '../platform/metrics/metrics';
import { ENGINE_CHANNEL, markPipelineDirty } from './engine-signals';
import type { ExecutionStore } from './execution-store';
import type { JobCanceller, PipelineReconciler } from './pipeline-reconciler';

export interface EngineOptions {
  /** Safety-net period: dirty pipelines missed by a notification, timeouts, expired leases. */
  sweepMs: number;
  /** Where reconcile times go. */
  metrics?: Metrics;
}

/** Job leases are the job module's business; the engine only asks it to recover them. */
export interface LeaseRecovery {
  recoverExpiredLeases(): Promise<number>;
}

/**
 * Drives executions. Any number of instances may run against one database: each claims a
 * pipeline with something to decide (`pipeline_engine_state.dirty`) with FOR UPDATE SKIP
 * LOCKED, reconciles it in that transaction, and moves on. Woken by NOTIFY on every intent and
 * job result; a periodic sweep catches missed notifications, action timeouts and lost workers.
 */
export class Engine {
  private readonly runs = new CoalescedRun(
    () => this.drain(),
    (err) => this.logger.error({ err }, 'engine run failed'),
  );
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly reconciler: PipelineReconciler,
    private readonly jobs: JobCanceller & LeaseRecovery,
    private readonly notifications: Notifications | undefined,
    private readonly logger: Logger,
    private readonly store: ExecutionStore,
    private readonly options: EngineOptions = { sweepMs: 1000 },
  ) {}

  start(): void {
    this.notifications?.on(ENGINE_CHANNEL, () => this.wake());
    this.notifications?.onReconnect(() => this.wake());
    this.timer = setInterval(() => {
      this.sweep()
        .then(() => this.wake())
        .catch((err: unknown) => this.logger.error({ err }, 'engine sweep failed'));
    }, this.options.sweepMs);
    this.timer.unref();
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.runs.stop();
  }

  /** Runs the decision loop now (or once more right after the current run). */
  wake(): void {
    this.runs.wake();
  }

  /** Pipelines waiting to be reconciled, by any instance (for /metrics). */
  async queueDepth(): Promise<number> {
    const rows: { n: number }[] = await this.dataSource.query(
      'SELECT count(*)::int AS n FROM pipeline_engine_state WHERE dirty',
    );
    return rows[0].n;
  }

  /** Reconciles dirty pipelines until none is left for this instance. */
  async drain(): Promise<void> {
    while (!this.stopped && (await this.reconcileOne())) {
      // keep going
    }
  }

  private async reconcileOne(): Promise<boolean> {
    let claimed: { accountId: string; pipelineName: string } | undefined;
    const started = performance.now();
    try {
      const reconciled = await this.dataSource.transaction(async (tx) => {
        const rows: { account_id: string; pipeline_name: string }[] = await tx.query(
          `SELECT account_id, pipeline_name FROM pipeline_engine_state WHERE dirty
            ORDER BY account_id, pipeline_name LIMIT 1 FOR UPDATE SKIP LOCKED`,
        );
        if (!rows.length) return false;
        claimed = { accountId: rows[0].account_id, pipelineName: rows[0].pipeline_name };
        await tx.query(
          'UPDATE pipeline_engine_state SET dirty = false, next_wakeup_at = NULL WHERE account_id = $1 AND pipeline_name = $2',
          [claimed.accountId, claimed.pipelineName],
        );
        // A pass changes many rows: their events go out in one statement at its end.
        const { accountId, pipelineName } = claimed;
        await this.store.outbox.batch(tx, () => this.reconciler.reconcile(tx, accountId, pipelineName));
        return true;
      });
      // Timed to the commit: how long the pipeline's engine-state row stayed locked.
      if (reconciled) this.options.metrics?.observeReconcile((performance.now() - started) / 1000, true);
      return reconciled;
    } catch (err) {
      if (!claimed) throw err;
      this.options.metrics?.observeReconcile((performance.now() - started) / 1000, false);
      // One pipeline that cannot be decided must not starve the others: it is set aside and
      // tried again by the sweep after a pause, and the error is logged with it.
      this.logger.error({ err, ...claimed }, 'deciding for the pipeline failed; retrying in 5 s');
      await this.dataSource.query(
        `UPDATE pipeline_engine_state SET dirty = false, next_wakeup_at = now() + interval '5 seconds'
          WHERE account_id = $1 AND pipeline_name = $2`,
        [claimed.accountId, claimed.pipelineName],
      );
      return true;
    }
  }

  /** Fails actions past their timeout, cancelling their jobs, and recovers lost workers' jobs. */
  async sweep(): Promise<void> {
    await this.dataSource.query(
      `UPDATE pipeline_engine_state SET dirty = true, next_wakeup_at = NULL
        WHERE next_wakeup_at IS NOT NULL AND next_wakeup_at <= now()`,
    );
    await this.jobs.recoverExpiredLeases();
    const expired: { account_id: string; id: string; pipeline_name: string; action_type: string }[] =
      await this.dataSource.query(
        `SELECT account_id, id, pipeline_name, action_type FROM action_executions
          WHERE status = 'IN_PROGRESS' AND timeout_at < now() ORDER BY timeout_at LIMIT 100`,
      );
    for (const action of expired) {
      await this.dataSource.transaction(async (tx) => {
        // Lock order as everywhere: the pipeline's engine-state row first, then its rows.
        await markPipelineDirty(tx, action.account_id, action.pipeline_name);
        const approval = action.action_type.startsWith('Approval/');
        const message = approval ? 'The approval timed out without an answer' : 'The action timed out';
        const ended = await this.store.endAction(tx, action.account_id, action.id, 'FAILED', {
          failureType: 'JOB_FAILED',
          failureMessage: message,
          summary: message,
        });
        if (ended) await this.jobs.requestCancel(tx, action.account_id, action.id);
      });
    }
  }
}
