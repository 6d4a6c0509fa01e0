import type { DataSource, EntityManager } from 'typeorm';
import type { Notifications } from '../platform/db/notifications';
import { CoalescedRun } from '../platform/coalesced-run';
import type { Logger } from '../platform/logger';
import { EVENTS_CHANNEL, OUTBOX_CHANNEL } from './outbox';

export interface EventSequencerOptions {
  /** Safety-net period: a wake-up lost while the LISTEN connection was down. */
  tickMs?: number;
  /** Rows numbered per transaction: bounds how long the sequence row stays locked. */
  batchSize?: number;
}

const DEFAULT_BATCH = 5000;

/**
 * Numbers every committed outbox row that has no sequence yet; returns the last sequence
 * handed out. Each batch is one transaction that first locks the single
 * `pipeline_event_sequence` row, so numbering is serialised across every process, and only
 * then, in a fresh statement (READ COMMITTED: a snapshot taken after the lock was granted),
 * picks the pending rows. A row becomes visible here only once its writer committed, and each
 * batch commits before the next one can take the lock, so every batch gets numbers above all
 * numbers any reader can already see: readers that follow `sequence > last seen` never miss a
 * row that committed late. (A bigserial alone would: it is drawn at insert, not at commit.)
 *
 * Passed an EntityManager inside a transaction, the batches are savepoints of it, and its own
 * uncommitted rows are numbered too: meant for tests that wrote nothing in that transaction.
 */
export async function sequencePending(
  db: DataSource | EntityManager,
  batchSize = DEFAULT_BATCH,
): Promise<bigint> {
  for (;;) {
    const { last, numbered } = await db.transaction((tx) => numberBatch(tx, batchSize));
    if (numbered < batchSize) return last;
  }
}

async function numberBatch(
  tx: EntityManager,
  batchSize: number,
): Promise<{ last: bigint; numbered: number }> {
  const locked: { last_sequence: string }[] = await tx.query(
    'SELECT last_sequence FROM pipeline_event_sequence FOR UPDATE',
  );
  const before = BigInt(locked[0].last_sequence);
  // `id` is the order rows were written in; any order would do for rows that become visible
  // together, this one keeps a transaction's own events in the order it appended them.
  // One statement, started after the lock was granted (so it sees every row committed before
  // the previous batch's commit): number the batch, move last_sequence, and the wake-up to
  // every process's feed, delivered at commit ("rows up to `last` are readable").
  const [row]: { numbered: string; last: string | null }[] = await tx.query(
    `WITH pending AS (
       SELECT id, $1::bigint + row_number() OVER (ORDER BY id) AS sequence
         FROM (SELECT id FROM pipeline_events WHERE sequence IS NULL ORDER BY id LIMIT $2) p
     ),
     numbered AS (
       UPDATE pipeline_events e SET sequence = pending.sequence FROM pending WHERE e.id = pending.id
       RETURNING e.sequence
     ),
     top AS (SELECT count(*) AS n, max(sequence) AS last FROM numbered),
     moved AS (
       UPDATE pipeline_event_sequence SET last_sequence = top.last FROM top WHERE top.n > 0
       RETURNING last_sequence
     )
     SELECT (SELECT n FROM top) AS numbered,
            (SELECT last_sequence FROM moved WHERE pg_notify($3, last_sequence::text) IS NOT NULL) AS last`,
    [String(before), batchSize, EVENTS_CHANNEL],
  );
  const numbered = Number(row.numbered);
  if (numbered === 0) return { last: before, numbered };
  return { last: BigInt(row.last!), numbered };
}

/**
 * Runs `sequencePending` whenever writers say rows are waiting (NOTIFY on the outbox channel),
 * after the LISTEN connection came back, and on a tick. Wake-ups coalesce: one pass runs and at
 * most one more is queued behind it. Any number of processes may run one against the same
 * database; the row lock makes them take turns.
 */
export class EventSequencer {
  private runs = this.newRuns();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly tickMs: number;
  private readonly batchSize: number;

  constructor(
    private readonly dataSource: DataSource,
    private readonly notifications: Notifications | undefined,
    private readonly logger: Logger,
    options: EventSequencerOptions = {},
  ) {
    this.tickMs = options.tickMs ?? 1000;
    this.batchSize = options.batchSize ?? DEFAULT_BATCH;
  }

  start(): void {
    // Restartable (tests stop and start one): a stopped run never wakes again.
    if (this.stopped) this.runs = this.newRuns();
    this.stopped = false;
    this.notifications?.on(OUTBOX_CHANNEL, () => this.wake());
    this.notifications?.onReconnect(() => this.wake());
    this.timer = setInterval(() => this.wake(), this.tickMs);
    this.timer.unref();
    // Rows written while no sequencer ran (or before this one listened).
    this.wake();
  }

  /** Stops waking and waits for a pass under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.runs.stop();
  }

  private newRuns(): CoalescedRun {
    return new CoalescedRun(
      () => sequencePending(this.dataSource, this.batchSize),
      (err) => this.logger.error({ err }, 'numbering outbox events failed'),
    );
  }

  /** Numbers pending rows now, or once more right after the pass under way. */
  wake(): void {
    this.runs.wake();
  }
}
