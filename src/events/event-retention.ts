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
 * Deletion walks the oldest sequences first and stops at the first row still inside the
 * period: rows are numbered roughly in time order, there is no index on `time`, and a scan that
 * stops there reads only what it deletes. (A row numbered after a younger one waits for it, at
 * most as long as the longest writer transaction.) For each batch `pruned_through` is raised,
 * and committed, before the rows go: a replay may be refused a moment early, never served with
 * a hole.
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
    let after: string | undefined;
    for (;;) {
      const rows: { id: string; sequence: string; old: boolean }[] = await this.dataSource.query(
        `SELECT id, sequence, time < $1 AS old FROM pipeline_events
          WHERE sequence IS NOT NULL ${after === undefined ? '' : 'AND sequence > $3'}
          ORDER BY sequence LIMIT $2`,
        after === undefined ? [cutoff, this.batchSize] : [cutoff, this.batchSize, after],
      );
      const young = rows.findIndex((row) => !row.old);
      const doomed = young === -1 ? rows : rows.slice(0, young);
      if (doomed.length) {
        after = doomed[doomed.length - 1].sequence;
        await this.dataSource.query(
          'UPDATE pipeline_event_sequence SET pruned_through = GREATEST(pruned_through, $1)',
          [after],
        );
        await this.dataSource.query('DELETE FROM pipeline_events WHERE id = ANY($1::bigint[])', [
          doomed.map((row) => row.id),
        ]);
        deleted += doomed.length;
      }
      if (young !== -1 || rows.length < this.batchSize) break;
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
