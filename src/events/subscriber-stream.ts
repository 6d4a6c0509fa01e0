import { EventsExpiredError, SubscriberTooSlowError } from './event-errors';
import type { EventFilter, StoredEvent } from './event-stream';

/** One page of a replay, with the retention mark read in the same statement (same snapshot). */
export interface ReplayPage {
  events: StoredEvent[];
  prunedThrough: bigint;
}

/** What a stream needs from the feed that serves it. */
export interface StreamHost {
  readonly pageSize: number;
  /** Events of `filter` with `after < sequence <= until`, in order, at most `pageSize`. */
  replayPage(filter: EventFilter, after: bigint, until: bigint): Promise<ReplayPage>;
  /** Stops dispatching to `stream`. */
  remove(stream: SubscriberStream): void;
}

/** Where a replay stands; dropped once the replay reached the live events. */
interface Replay {
  /** Sequence of the last event read from the database (or `afterSequence`). */
  cursor: bigint;
  /** The feed's position when the stream registered: live events start after it. */
  until: bigint;
  page: StoredEvent[];
  index: number;
  /** The last page was short: nothing is left up to `until`. */
  exhausted: boolean;
}

type Result = IteratorResult<StoredEvent, undefined>;
const DONE: Result = Object.freeze({ done: true, value: undefined });

/**
 * One subscriber's events: first a replay read page by page from the database as it consumes
 * them, then live events the feed pushes. The feed registers the stream before the replay's
 * first read, so live events above `until` are buffered meanwhile: no gap; events at or below
 * the last one delivered are dropped: no duplicate.
 *
 * An idle stream is this object, a set entry in the feed's index and the consumer's pending
 * `next()`: no timers, nothing allocated per stream until an event arrives. A consumer more
 * than `maxBuffered` live events behind is cut off (its buffer freed) and its next `next()`
 * rejects with SubscriberTooSlowError naming the last sequence it received, so it can resume.
 */
export class SubscriberStream implements AsyncIterableIterator<StoredEvent, undefined> {
  readonly accountId: string;
  readonly pipelineName: string | undefined;
  /** Live events waiting for the consumer; allocated on the first one. */
  private buffer: StoredEvent[] | undefined;
  private replay: Replay | undefined;
  /** The consumer's `next()` waiting for a live event. */
  private resolveNext: ((result: Result) => void) | undefined;
  private rejectNext: ((err: unknown) => void) | undefined;
  /** A `next()` not settled yet (a replay read, a wait): a second call queues behind it. */
  private pending: Promise<Result> | undefined;
  private failure: Error | undefined;
  private done = false;

  constructor(
    private readonly host: StreamHost,
    filter: EventFilter,
    private readonly maxBuffered: number,
    /** Events up to this one are not delivered; what a cut-off consumer resumes after. */
    private lastDelivered: bigint,
  ) {
    this.accountId = filter.accountId;
    this.pipelineName = filter.pipelineName;
  }

  /** The last sequence handed to the consumer (or the one it started after). */
  get lastDeliveredSequence(): bigint {
    return this.lastDelivered;
  }

  /** Live events waiting for the consumer (for /metrics). */
  get buffered(): number {
    return this.buffer?.length ?? 0;
  }

  /** Sets the stream to replay `(after, until]` first, and reads the first page. */
  async startReplay(after: bigint, until: bigint): Promise<void> {
    this.replay = { cursor: after, until, page: [], index: 0, exhausted: false };
    await this.readPage(this.replay);
  }

  /** A live event for this stream's filter (the feed's index already matched it). */
  push(event: StoredEvent): void {
    // Nothing at or below what was delivered (or replayed, or asked to start after) is new.
    if (this.done || event.sequence <= this.lastDelivered) return;
    const resolve = this.resolveNext;
    if (resolve) {
      this.resolveNext = this.rejectNext = this.pending = undefined;
      this.lastDelivered = event.sequence;
      resolve({ done: false, value: event });
      return;
    }
    this.buffer ??= [];
    this.buffer.push(event);
    if (this.buffer.length > this.maxBuffered) this.fail(new SubscriberTooSlowError(this.lastDelivered));
  }

  next(): Promise<Result> {
    if (this.pending)
      return this.pending.then(
        () => this.next(),
        () => this.next(),
      );
    if (this.failure) {
      const failure = this.failure;
      this.failure = undefined;
      return Promise.reject(failure);
    }
    if (this.done) return Promise.resolve(DONE);
    if (this.replay) return this.nextReplayed(this.replay);
    const event = this.takeBuffered();
    if (event) return Promise.resolve({ done: false, value: event });
    const waiting = new Promise<Result>((resolve, reject) => {
      this.resolveNext = resolve;
      this.rejectNext = reject;
    });
    this.pending = waiting;
    return waiting;
  }

  /** Ends the stream: the feed forgets it and its buffer is freed. */
  return(): Promise<Result> {
    this.close();
    return Promise.resolve(DONE);
  }

  throw(err?: unknown): Promise<Result> {
    this.close();
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Completes the stream (a pending `next()` resolves done). */
  close(): void {
    if (this.done) return;
    this.finish();
    const resolve = this.resolveNext;
    this.resolveNext = this.rejectNext = this.pending = undefined;
    resolve?.(DONE);
  }

  /** Cuts the stream off with `err`: delivered now to a waiting `next()`, else to the next one. */
  fail(err: Error): void {
    if (this.done) return;
    this.finish();
    const reject = this.rejectNext;
    this.resolveNext = this.rejectNext = this.pending = undefined;
    if (reject) reject(err);
    else this.failure = err;
  }

  private finish(): void {
    this.done = true;
    this.buffer = undefined;
    this.replay = undefined;
    this.host.remove(this);
  }

  private nextReplayed(replay: Replay): Promise<Result> {
    if (replay.index < replay.page.length) {
      const event = replay.page[replay.index++];
      this.lastDelivered = event.sequence;
      return Promise.resolve({ done: false, value: event });
    }
    if (replay.exhausted) {
      this.replay = undefined;
      return this.next();
    }
    const reading = this.readPage(replay).then(
      () => {
        this.pending = undefined;
        return this.next();
      },
      (err: unknown) => {
        this.pending = undefined;
        throw err;
      },
    );
    this.pending = reading;
    return reading;
  }

  private async readPage(replay: Replay): Promise<void> {
    let page: ReplayPage;
    try {
      page = await this.host.replayPage(
        { accountId: this.accountId, pipelineName: this.pipelineName },
        replay.cursor,
        replay.until,
      );
    } catch (err) {
      this.finish();
      throw err;
    }
    // Retention deleted rows after the cursor (before the first page, or since the previous one).
    if (page.prunedThrough > replay.cursor) {
      this.finish();
      throw new EventsExpiredError(replay.cursor, page.prunedThrough + 1n);
    }
    replay.page = page.events;
    replay.index = 0;
    if (page.events.length) replay.cursor = page.events[page.events.length - 1].sequence;
    replay.exhausted = page.events.length < this.host.pageSize || replay.cursor >= replay.until;
  }

  private takeBuffered(): StoredEvent | undefined {
    const buffer = this.buffer;
    while (buffer?.length) {
      const event = buffer.shift() as StoredEvent;
      if (event.sequence <= this.lastDelivered) continue;
      this.lastDelivered = event.sequence;
      return event;
    }
    return undefined;
  }
}
