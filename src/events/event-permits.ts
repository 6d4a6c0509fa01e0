import type { StoredEvent } from './event-stream';

/** What a subscription may do with one event, decided when it is about to be delivered. */
export type EventVerdict = 'deliver' | 'skip' | 'end';

/** An event to deliver, or the end of a subscription whose permission was withdrawn. */
export type GuardedEvent = { event: StoredEvent } | { denied: true };

/**
 * One wrapper per event for every subscriber it goes to: the same payload object, so the
 * WebSocket transport can execute the selection once for all subscribers that sent the same
 * operation (src/graphql/shared-results.ts). Only payloads made here are shared that way.
 */
const wrappers = new WeakMap<StoredEvent, { event: StoredEvent }>();
export const sharedPayloads = new WeakSet<object>();

function wrap(event: StoredEvent): { event: StoredEvent } {
  let wrapper = wrappers.get(event);
  if (!wrapper) {
    wrapper = { event };
    wrappers.set(event, wrapper);
    sharedPayloads.add(wrapper);
  }
  return wrapper;
}

interface CachedVerdict {
  verdict: EventVerdict;
  at: number;
  generation: number;
}

/**
 * An event stream with a permission check per event, so a revoked policy or a deleted user
 * stops delivery mid-subscription: `skip` leaves an event out (accountEvents: a pipeline the
 * caller may not read), `end` yields one `{ denied }` (the resolver turns it into
 * ACCESS_DENIED) and ends the stream. `judge` is asked per event; answers are cached per key
 * for `cacheMs` and until `generation()` (IamChanges: any IAM write) moves, so a busy pipeline
 * costs one policy evaluation per second, not one per event, and a revoked policy applies to
 * the next event (a deleted user's session is re-checked every 2 s by the session resolver).
 *
 * Written by hand rather than as an async generator: a generator waiting for the next event
 * would only see `return()` once that event came, so an unsubscribed idle stream would hold
 * its buffer until the pipeline next moved.
 */
export class GuardedEvents implements AsyncIterableIterator<GuardedEvent> {
  private cache: Map<string, CachedVerdict> | undefined;
  private ended = false;

  constructor(
    private readonly source: AsyncIterableIterator<StoredEvent>,
    private readonly keyOf: (event: StoredEvent) => string,
    private readonly judge: (event: StoredEvent) => Promise<EventVerdict>,
    private readonly generation: () => number,
    private readonly cacheMs = 1000,
  ) {}

  async next(): Promise<IteratorResult<GuardedEvent>> {
    while (!this.ended) {
      const result = await this.source.next();
      if (result.done || this.ended) return this.return();
      const event = result.value;
      const verdict = await this.verdictFor(event);
      if (verdict === 'skip') continue;
      if (verdict === 'end') {
        await this.return();
        return { value: { denied: true }, done: false };
      }
      return { value: wrap(event), done: false };
    }
    return { value: undefined, done: true };
  }

  async return(): Promise<IteratorResult<GuardedEvent>> {
    if (!this.ended) {
      this.ended = true;
      await this.source.return?.();
    }
    return { value: undefined, done: true };
  }

  async throw(error: unknown): Promise<IteratorResult<GuardedEvent>> {
    await this.return();
    throw error;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<GuardedEvent> {
    return this;
  }

  private async verdictFor(event: StoredEvent): Promise<EventVerdict> {
    const key = this.keyOf(event);
    const now = Date.now();
    const generation = this.generation();
    this.cache ??= new Map();
    const cached = this.cache.get(key);
    if (cached && now - cached.at <= this.cacheMs && cached.generation === generation) return cached.verdict;
    const verdict = await this.judge(event);
    if (this.cache.size > 1000) this.cache.clear();
    this.cache.set(key, { verdict, at: now, generation });
    return verdict;
  }
}
