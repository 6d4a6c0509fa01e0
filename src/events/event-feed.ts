import type { DataSource } from 'typeorm';
import type { Notifications } from '../platform/db/notifications';
import { CoalescedRun } from '../platform/coalesced-run';
import type { Logger } from '../platform/logger';
import type { EventFilter, EventSource, EventStreamOptions, StoredEvent } from './event-stream';
import { EVENTS_CHANNEL, type DetailType } from './outbox';
import { SubscriberStream, type ReplayPage, type StreamHost } from './subscriber-stream';

export interface EventFeedOptions {
  /** Safety-net period: numbered rows whose notification was lost. */
  tickMs?: number;
  /** Rows per read, live and replay. */
  pageSize?: number;
}

const DEFAULT_MAX_BUFFERED = 1000;

const COLUMNS = `sequence, account_id, pipeline_name, execution_id, stage_name, action_name,
  action_execution_id, detail_type, state, detail, time`;

interface EventRow {
  sequence: string;
  account_id: string;
  pipeline_name: string;
  execution_id: string;
  stage_name: string | null;
  action_name: string | null;
  action_execution_id: string | null;
  detail_type: DetailType;
  state: string;
  detail: Record<string, unknown>;
  time: Date;
}

function toStoredEvent(row: EventRow): StoredEvent {
  return {
    sequence: BigInt(row.sequence),
    accountId: row.account_id,
    pipelineName: row.pipeline_name,
    executionId: row.execution_id,
    stageName: row.stage_name,
    actionName: row.action_name,
    actionExecutionId: row.action_execution_id,
    detailType: row.detail_type,
    state: row.state,
    detail: row.detail,
    time: row.time,
  };
}

/** The streams of one account: account-wide ones, and per pipeline. */
interface AccountStreams {
  all: Set<SubscriberStream>;
  byPipeline: Map<string, Set<SubscriberStream>>;
}

/**
 * This process's reader of numbered outbox rows, and the one place its subscribers get events
 * from. Whatever the number of subscribers, each row is read once per process (woken by the
 * sequencer's NOTIFY, on reconnect, and on a tick) and handed to the streams whose filter
 * matches, found through an index by account and pipeline rather than by testing every filter.
 *
 * `position` is the highest sequence dispatched. A stream registers at the current position:
 * live events are those above it; with `afterSequence` the stream first replays
 * `(afterSequence, position]` from the database, along the (account, pipeline, sequence) indexes.
 */
export class EventFeed implements EventSource, StreamHost {
  readonly pageSize: number;
  private readonly tickMs: number;
  private current = 0n;
  private readonly accounts = new Map<string, AccountStreams>();
  private count = 0;
  private ready: Promise<void> | undefined;
  private readonly runs = new CoalescedRun(
    () => this.drain(),
    (err) => this.logger.error({ err }, 'reading outbox events failed'),
  );
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly notifications: Notifications | undefined,
    private readonly logger: Logger,
    options: EventFeedOptions = {},
  ) {
    this.tickMs = options.tickMs ?? 1000;
    this.pageSize = options.pageSize ?? 1000;
  }

  /** Highest sequence dispatched to this process's streams. */
  get position(): bigint {
    return this.current;
  }

  /** Streams currently served (cut-off and returned ones are gone). */
  get subscriberCount(): number {
    return this.count;
  }

  /**
   * Live events buffered for streams that have not read them, all together and the most for one
   * (for /metrics: a walk over the streams at scrape time, nothing kept on the dispatch path).
   */
  bufferDepths(): { total: number; max: number } {
    let total = 0;
    let max = 0;
    const count = (stream: SubscriberStream): void => {
      total += stream.buffered;
      if (stream.buffered > max) max = stream.buffered;
    };
    for (const account of this.accounts.values()) {
      account.all.forEach(count);
      for (const set of account.byPipeline.values()) set.forEach(count);
    }
    return { total, max };
  }

  /** Starts from the last numbered sequence: what was numbered before is only replayed. */
  async start(): Promise<void> {
    this.ready = this.begin();
    await this.ready;
  }

  /** Stops reading and completes every stream. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.runs.stop();
    for (const account of [...this.accounts.values()]) {
      for (const stream of [...account.all]) stream.close();
      for (const set of [...account.byPipeline.values()]) for (const stream of [...set]) stream.close();
    }
  }

  async stream(filter: EventFilter, options: EventStreamOptions = {}): Promise<SubscriberStream> {
    if (!this.ready) throw new Error('EventFeed.stream() called before start()');
    await this.ready;
    if (this.stopped) throw new Error('EventFeed is stopped');
    const until = this.current;
    const after = options.afterSequence;
    const stream = new SubscriberStream(
      this,
      filter,
      options.maxBuffered ?? DEFAULT_MAX_BUFFERED,
      after ?? until,
    );
    // Registered before the replay reads anything: events numbered meanwhile are buffered.
    this.add(stream);
    // Even with nothing to replay (`after >= until`) the first read checks retention.
    if (after !== undefined) await stream.startReplay(after, until);
    return stream;
  }

  async replayPage(filter: EventFilter, after: bigint, until: bigint): Promise<ReplayPage> {
    const byPipeline = filter.pipelineName !== undefined;
    // The retention mark comes from the same statement, so the same snapshot: if it is still
    // at or below `after`, no row of this page's range had been deleted when the page was read.
    const rows: (Partial<EventRow> & { pruned_through: string })[] = await this.dataSource.query(
      `SELECT s.pruned_through, e.*
         FROM pipeline_event_sequence s
         LEFT JOIN LATERAL (
           SELECT ${COLUMNS} FROM pipeline_events
            WHERE account_id = $1 ${byPipeline ? 'AND pipeline_name = $5' : ''}
              AND sequence > $2 AND sequence <= $3
            ORDER BY sequence LIMIT $4
         ) e ON true`,
      [
        filter.accountId,
        String(after),
        String(until),
        this.pageSize,
        ...(byPipeline ? [filter.pipelineName] : []),
      ],
    );
    return {
      prunedThrough: BigInt(rows[0].pruned_through),
      events: rows
        .filter((row) => row.sequence !== null && row.sequence !== undefined)
        .map((row) => toStoredEvent(row as EventRow)),
    };
  }

  remove(stream: SubscriberStream): void {
    const account = this.accounts.get(stream.accountId);
    if (!account) return;
    const set = stream.pipelineName === undefined ? account.all : account.byPipeline.get(stream.pipelineName);
    if (!set?.delete(stream)) return;
    this.count -= 1;
    if (stream.pipelineName !== undefined && set.size === 0) account.byPipeline.delete(stream.pipelineName);
    if (account.all.size === 0 && account.byPipeline.size === 0) this.accounts.delete(stream.accountId);
  }

  /** Reads numbered rows now, or once more right after the read under way. */
  wake(): void {
    if (this.stopped || !this.ready) return;
    this.runs.wake();
  }

  private async begin(): Promise<void> {
    // Listen first: a sequence numbered after the position is read below is then announced.
    this.notifications?.on(EVENTS_CHANNEL, (payload) => this.announced(payload));
    this.notifications?.onReconnect(() => this.wake());
    this.current = await this.lastNumbered();
    this.timer = setInterval(() => this.wake(), this.tickMs);
    this.timer.unref();
  }

  private announced(payload: string): void {
    // The payload is the sequencer's new last sequence: nothing to read if we are past it.
    if (!/^\d+$/.test(payload)) return this.wake();
    const last = BigInt(payload);
    if (last <= this.current) return;
    // Nobody to serve: skip ahead without a query (rows up to `last` committed before this
    // notification was delivered, so a stream registering from now on starts above them).
    if (this.count === 0 && !this.runs.busy) {
      this.current = last;
      return;
    }
    this.wake();
  }

  private async drain(): Promise<void> {
    while (!this.stopped) {
      if (this.count === 0) {
        // Nobody to serve: skip ahead without reading rows. Safe only if still nobody
        // registered while we waited (a stream registers at the position it sees).
        const last = await this.lastNumbered();
        if (this.count === 0) {
          if (last > this.current) this.current = last;
          return;
        }
        continue;
      }
      const rows: EventRow[] = await this.dataSource.query(
        `SELECT ${COLUMNS} FROM pipeline_events WHERE sequence > $1 ORDER BY sequence LIMIT $2`,
        [String(this.current), this.pageSize],
      );
      if (this.stopped || rows.length === 0) return;
      // Synchronous from here to the position update: a stream registering sees either none
      // or all of this page as live.
      for (const row of rows) {
        const account = this.accounts.get(row.account_id);
        if (account) this.dispatch(account, toStoredEvent(row));
      }
      this.current = BigInt(rows[rows.length - 1].sequence);
      if (rows.length < this.pageSize) return;
    }
  }

  private dispatch(account: AccountStreams, event: StoredEvent): void {
    // A stream cut off while we iterate removes itself from the set: Set iteration allows it.
    for (const stream of account.all) stream.push(event);
    const forPipeline = account.byPipeline.get(event.pipelineName);
    if (forPipeline) for (const stream of forPipeline) stream.push(event);
  }

  private add(stream: SubscriberStream): void {
    let account = this.accounts.get(stream.accountId);
    if (!account) {
      account = { all: new Set(), byPipeline: new Map() };
      this.accounts.set(stream.accountId, account);
    }
    let set = account.all;
    if (stream.pipelineName !== undefined) {
      set = account.byPipeline.get(stream.pipelineName) ?? new Set();
      account.byPipeline.set(stream.pipelineName, set);
    }
    set.add(stream);
    this.count += 1;
  }

  private async lastNumbered(): Promise<bigint> {
    const rows: { last_sequence: string }[] = await this.dataSource.query(
      'SELECT last_sequence FROM pipeline_event_sequence',
    );
    return BigInt(rows[0].last_sequence);
  }
}
