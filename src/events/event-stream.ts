import type { DetailType } from './outbox';

/** One numbered outbox row, as the feed hands it to subscribers. */
export interface StoredEvent {
  /** Grows as every reader sees it (src/events/event-sequencer.ts numbers rows in commit order). */
  sequence: bigint;
  accountId: string;
  pipelineName: string;
  executionId: string;
  stageName: string | null;
  actionName: string | null;
  actionExecutionId: string | null;
  detailType: DetailType;
  state: string;
  detail: Record<string, unknown>;
  time: Date;
}

/** Which events a subscription wants: always one account, optionally one pipeline. */
export interface EventFilter {
  accountId: string;
  /** Exact (canonical) pipeline name; absent: every pipeline of the account. */
  pipelineName?: string;
}

export interface EventStreamOptions {
  /** Replay everything numbered after this sequence first; absent: live events only. */
  afterSequence?: bigint;
  /** Events held for a subscriber that does not keep up before it is cut off (default 1,000). */
  maxBuffered?: number;
}

/**
 * What subscriptions read events from. `stream` rejects with EventsExpiredError when
 * `afterSequence` is below what retention kept; the iterator's `next()` rejects with
 * SubscriberTooSlowError when the subscriber fell `maxBuffered` events behind. `return()`
 * ends the stream and frees its buffer.
 */
export interface EventSource {
  stream(filter: EventFilter, options?: EventStreamOptions): Promise<AsyncIterableIterator<StoredEvent>>;
}
