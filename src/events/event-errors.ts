import { BadInputError, DomainError } from '../platform/errors';

/** A replay from before the retention window: says where the outbox now starts. */
export class EventsExpiredError extends DomainError {
  constructor(
    readonly afterSequence: bigint,
    readonly oldestSequence: bigint,
  ) {
    super(
      'BAD_USER_INPUT',
      `afterSequence ${afterSequence} is older than the retained events: the oldest sequence still available is ${oldestSequence}`,
      { oldestSequence: String(oldestSequence) },
    );
  }
}

/**
 * A subscriber that fell too far behind is cut off rather than delay the others; it resumes
 * with `afterSequence` set to the last sequence it received.
 */
export class SubscriberTooSlowError extends Error {
  constructor(readonly lastDeliveredSequence: bigint | undefined) {
    super(
      lastDeliveredSequence === undefined
        ? 'Subscriber too slow: resubscribe'
        : `Subscriber too slow: resume with afterSequence ${lastDeliveredSequence}`,
    );
    this.name = 'SubscriberTooSlowError';
  }
}

const MAX_SEQUENCE = 2n ** 63n - 1n;

/** `afterSequence` / `fromOffset` as clients send them: a non-negative decimal integer. */
export function parseSequence(
  value: string | null | undefined,
  argument = 'afterSequence',
): bigint | undefined {
  if (value === null || value === undefined) return undefined;
  // PostgreSQL's bigint is the bound: a larger number would fail in the database, not here.
  if (!/^\d{1,19}$/.test(value) || BigInt(value) > MAX_SEQUENCE)
    throw new BadInputError(
      `${argument} must be a non-negative decimal integer string up to ${MAX_SEQUENCE}, got "${value.slice(0, 40)}"`,
      [{ path: argument, message: 'not a non-negative decimal integer' }],
    );
  return BigInt(value);
}
