import type { StoredEvent } from './event-stream';

/** What a subscription may do with one event, decided when it is about to be delivered. */
export type EventVerdict = 'deliver' | 'skip' | 'end';

/** An event to deliver, or the end of a subscription whose permission was withdrawn. */
export type GuardedEvent = { event: StoredEvent } | { denied: true };

/**
 * Wraps an event stream with a permission check per event, so a revoked policy or a deleted
 * user stops delivery mid-subscription: `skip` leaves an event out (accountEvents: a pipeline
 * the caller may not read), `end` yields one `{ denied }` (turned into ACCESS_DENIED by the
 * resolver) and ends the stream. `judge` is asked per event; answers are cached per key for
 * `cacheMs` and until `generation()` (IamChanges: any IAM write) moves, so a busy pipeline
 * costs one policy evaluation per second, not one per event, and a revoked policy applies to
 * the next event (a deleted user's session is re-checked every 2 s by the session resolver).
 */
export async function* guardedEvents(
  source: AsyncIterableIterator<StoredEvent>,
  keyOf: (event: StoredEvent) => string,
  judge: (event: StoredEvent) => Promise<EventVerdict>,
  generation: () => number,
  cacheMs = 1000,
): AsyncGenerator<GuardedEvent> {
  const cache = new Map<string, { verdict: EventVerdict; at: number; generation: number }>();
  try {
    for await (const event of source) {
      const key = keyOf(event);
      const now = Date.now();
      let entry = cache.get(key);
      if (!entry || now - entry.at > cacheMs || entry.generation !== generation()) {
        const current = generation();
        entry = { verdict: await judge(event), at: now, generation: current };
        if (cache.size > 1000) cache.clear();
        cache.set(key, entry);
      }
      if (entry.verdict === 'skip') continue;
      if (entry.verdict === 'end') {
        yield { denied: true };
        return;
      }
      yield { event };
    }
  } finally {
    await source.return?.();
  }
}
