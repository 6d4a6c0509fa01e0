import { describe, expect, it } from 'vitest';
import { EventsExpiredError, parseSequence, SubscriberTooSlowError } from '../../src/events/event-errors';
import { BadInputError } from '../../src/platform/errors';

describe('parseSequence', () => {
  it.each([
    ['0', 0n],
    ['42', 42n],
    ['007', 7n],
    ['9223372036854775807', 9_223_372_036_854_775_807n],
  ])('reads %s', (value, expected) => {
    expect(parseSequence(value)).toBe(expected);
  });

  it('reads an absent value as "no replay"', () => {
    expect(parseSequence(undefined)).toBeUndefined();
    expect(parseSequence(null)).toBeUndefined();
  });

  it.each([
    '',
    '-1',
    '+1',
    '1.5',
    '1e3',
    '0x10',
    ' 1',
    '1 ',
    'abc',
    '١٢',
    '9223372036854775808', // above PostgreSQL's bigint
    '99999999999999999999',
  ])('rejects %j as BAD_USER_INPUT naming the argument', (value) => {
    let caught: unknown;
    try {
      parseSequence(value, 'fromOffset');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(BadInputError);
    const error = caught as BadInputError;
    expect(error.code).toBe('BAD_USER_INPUT');
    expect(error.message).toContain('fromOffset');
    expect(error.problems).toEqual([{ path: 'fromOffset', message: expect.any(String) as string }]);
  });

  it('quotes at most 40 characters of a bad value', () => {
    expect(() => parseSequence('x'.repeat(1000))).toThrow(/"x{40}"$/);
  });
});

describe('event errors', () => {
  it('EventsExpiredError is BAD_USER_INPUT and says where the retained events start', () => {
    const error = new EventsExpiredError(5n, 101n);
    expect(error.code).toBe('BAD_USER_INPUT');
    expect(error.details).toEqual({ oldestSequence: '101' });
    expect(error.message).toContain('101');
  });

  it('SubscriberTooSlowError says where to resume', () => {
    expect(new SubscriberTooSlowError(17n).message).toContain('afterSequence 17');
    expect(new SubscriberTooSlowError(undefined).message).toContain('resubscribe');
  });
});
