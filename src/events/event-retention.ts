import type { DataSource } from 'typeorm';
import type { Logger } from '../platform/logger';

export interface EventRetentionOptions {
  /** How often old rows are deleted (default hourly). */
  intervalMs?: number;
  /** Rows deleted per statement. */
  batchSize?: number;
}

export interface PruneResult {
  deleted: number;
  /** Replays must start at or after this sequence (`afterSequence >= prunedThrough`). */
  prunedThrough: bigint;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Keeps the outbox to its retention period (SLUICE_EVENT_RETENTION_DAYS): deletes numbered
 * rows older than that and raises `pruned_through`, which tells a replay from before it that
 * the events it asks for are gone. Rows without a sequence are never deleted: the sequencer has
 * yet to hand them to anyone.
 *
 * Each batch raises `pruned_through` to the highest sequence it deletes, and commits that,
 * before the rows go: a replay may be refused a moment early, never served with a hole. Every
 * numbered row above the mark therefore still exists (rows below it may too: a row numbered
 * before a younger one outlives it by at most the longer writer transaction).
 *
 * There is no index on `time`: batches walk the sequence index from the oldest end, where old
 * rows are, so deleting is cheap; the last, short batch of a run reads the rest of the table once.
 */
export class EventRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private readonly intervalMs: number;
  private readonly batchSize: number;

  constructor(
    private readonly dataSource: DataSource,
    private readonly logger: Logger,
    private readonly retentionDays: number,
    options: EventRetentionOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 60 * 60 * 1000;
    this.batchSize = options.batchSize ?? 5000;
  }

  start(): void {
    this.timer = setInterval(() => this.run(), this.intervalMs);
    this.timer.unref();
    this.run();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Deletes numbered rows older than the retention period as of `now`. */
  async prune(now = new Date()): Promise<PruneResult> {
    const cutoff = new Date(now.getTime() - this.retentionDays * DAY_MS);
    let deleted = 0;
    for (;;) {
      const rows: { id: string; sequence: string }[] = await this.dataSource.query(
        `SELECT id, sequence FROM pipeline_events
          WHERE sequence IS NOT NULL AND time < $1 ORDER BY sequence LIMIT $2`,
        [cutoff, this.batchSize],
      );
      if (!rows.length) break;
      // The mark first, in its own commit: whoever sees a row gone sees the mark above it.
      await this.dataSource.query(
        'UPDATE pipeline_event_sequence SET pruned_through = GREATEST(pruned_through, $1)',
        [rows[rows.length - 1].sequence],
      );
      await this.dataSource.query('DELETE FROM pipeline_events WHERE id = ANY($1::bigint[])', [
        rows.map((row) => row.id),
      ]);
      deleted += rows.length;
      if (rows.length < this.batchSize) break;
    }
    const mark: { pruned_through: string }[] = await this.dataSource.query(
      'SELECT pruned_through FROM pipeline_event_sequence',
    );
    return { deleted, prunedThrough: BigInt(mark[0].pruned_through) };
  }

  private run(): void {
    if (this.running) return;
    this.running = this.prune()
      .then((result) => {
        if (result.deleted)
          this.logger.info({ ...result, prunedThrough: String(result.prunedThrough) }, 'old events deleted');
      })
      .catch((err: unknown) => this.logger.error({ err }, 'deleting old events failed'))
      .finally(() => {
        this.running = undefined;
      });
  }
}
