import type { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SubscriberTooSlowError } from '../../src/events/event-errors';
import { EventFeed, type EventFeedOptions } from '../../src/events/event-feed';
import { EventSequencer } from '../../src/events/event-sequencer';
import type { StoredEvent } from '../../src/events/event-stream';
import type { OutboxEvent } from '../../src/events/outbox';
import { createDataSource } from '../../src/platform/db/database';
import { Notifications } from '../../src/platform/db/notifications';
import { createLogger } from '../../src/platform/logger';
import { freshDatabase } from '../support/database';
import {
  actionEvent,
  Collector,
  marks,
  newAccountId,
  sleep,
  strictlyIncreasing,
  until,
  write,
} from './event-fixtures';

const logger = createLogger('silent');
let ds: DataSource;
let notifications: Notifications;
let sequencer: EventSequencer;
const feeds: EventFeed[] = [];
const collectors: Collector[] = [];

beforeAll(async () => {
  const url = await freshDatabase();
  ds = createDataSource(url, 10);
  await ds.initialize();
  notifications = new Notifications(url, logger);
  await notifications.start();
  sequencer = new EventSequencer(ds, notifications, logger, { tickMs: 200 });
  sequencer.start();
});

afterEach(async () => {
  await Promise.all(collectors.splice(0).map((collector) => collector.stop()));
  await Promise.all(feeds.splice(0).map((feed) => feed.stop()));
});

afterAll(async () => {
  await sequencer?.stop();
  await notifications?.close();
  await ds?.destroy();
});

async function startFeed(options: EventFeedOptions = {}): Promise<EventFeed> {
  const feed = new EventFeed(ds, notifications, logger, { tickMs: 200, ...options });
  await feed.start();
  feeds.push(feed);
  return feed;
}

function collect(stream: AsyncIterator<StoredEvent>): Collector {
  const collector = new Collector(stream);
  collectors.push(collector);
  return collector;
}

/** Writes each event in its own transaction and waits until `feed` has dispatched them all. */
async function writeAndDispatch(feed: EventFeed, events: OutboxEvent[]): Promise<bigint[]> {
  for (const event of events) await write(ds, [event]);
  const wanted = events.map((event) => String(event.detail.mark));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const rows: { sequence: string | null }[] = await ds.query(
      `SELECT sequence FROM pipeline_events
        WHERE account_id = ANY($1) AND detail->>'mark' = ANY($2) ORDER BY sequence`,
      [[...new Set(events.map((event) => event.accountId))], wanted],
    );
    const sequences = rows.map((row) => (row.sequence === null ? undefined : BigInt(row.sequence)));
    if (sequences.every((sequence) => sequence !== undefined && sequence <= feed.position))
      return sequences as bigint[];
    if (Date.now() > deadline) throw new Error('timed out waiting for the events to be dispatched');
    await sleep(10);
  }
}

const series = (accountId: string, pipeline: string, prefix: string, count: number): OutboxEvent[] =>
  Array.from({ length: count }, (_, n) => actionEvent(accountId, pipeline, `${prefix}${n}`));

describe('EventFeed', () => {
  it('without afterSequence delivers only events numbered after the subscription', async () => {
    const feed = await startFeed();
    const accountId = newAccountId();
    await writeAndDispatch(feed, series(accountId, 'p', 'before', 2));
    const collector = collect(await feed.stream({ accountId, pipelineName: 'p' }));
    await writeAndDispatch(feed, series(accountId, 'p', 'after', 2));
    expect(marks(await collector.received(2))).toEqual(['after0', 'after1']);
  });

  it('replays what was missed from the database, then live events, with no gap and no duplicate', async () => {
    const feed = await startFeed({ pageSize: 4 });
    const accountId = newAccountId();
    const earlier = await writeAndDispatch(feed, series(accountId, 'p', 'old', 30));
    const stream = await feed.stream({ accountId, pipelineName: 'p' }, { afterSequence: earlier[9] });

    const first = await stream.next();
    expect(first.done ? undefined : first.value.detail.mark).toBe('old10');
    // Numbered and dispatched while the replay still has pages to read: held for the stream.
    await writeAndDispatch(feed, series(accountId, 'p', 'new', 12));
    const rest = await collect(stream).received(19 + 12);

    expect(marks(rest)).toEqual([
      ...Array.from({ length: 19 }, (_, n) => `old${n + 11}`),
      ...Array.from({ length: 12 }, (_, n) => `new${n}`),
    ]);
    expect(strictlyIncreasing([first.value as StoredEvent, ...rest])).toBe(true);
  });

  it('a replay from the last sequence already numbered is live only', async () => {
    const feed = await startFeed();
    const accountId = newAccountId();
    const [last] = await writeAndDispatch(feed, series(accountId, 'p', 'seen', 1));
    const collector = collect(await feed.stream({ accountId }, { afterSequence: last }));
    await writeAndDispatch(feed, series(accountId, 'p', 'next', 1));
    expect(marks(await collector.received(1))).toEqual(['next0']);
  });

  it("never hands a stream another account's or another pipeline's events, live or replayed", async () => {
    const feed = await startFeed({ pageSize: 3 });
    const mine = newAccountId();
    const other = newAccountId();
    const start = feed.position;
    const live = {
      pipeline: collect(await feed.stream({ accountId: mine, pipelineName: 'web' })),
      account: collect(await feed.stream({ accountId: mine })),
      other: collect(await feed.stream({ accountId: other })),
    };
    // Interleaved; names that share a prefix with the one filtered on; the same pipeline name
    // in the other account.
    const events = [
      actionEvent(mine, 'web', 'mine-web-1'),
      actionEvent(other, 'web', 'other-web-1'),
      actionEvent(mine, 'web-2', 'mine-web2-1'),
      actionEvent(mine, 'we', 'mine-we-1'),
      actionEvent(other, 'api', 'other-api-1'),
      actionEvent(mine, 'web', 'mine-web-2'),
      actionEvent(mine, 'api', 'mine-api-1'),
      actionEvent(other, 'web', 'other-web-2'),
    ];
    await writeAndDispatch(feed, events);
    const expected = {
      pipeline: ['mine-web-1', 'mine-web-2'],
      account: ['mine-web-1', 'mine-web2-1', 'mine-we-1', 'mine-web-2', 'mine-api-1'],
      other: ['other-web-1', 'other-api-1', 'other-web-2'],
    };
    // Every event has been dispatched, and a collector drains its stream before any timer
    // runs: what a stream holds when `received` looks is all it got.
    for (const key of ['pipeline', 'account', 'other'] as const) {
      expect(marks(await live[key].received(expected[key].length))).toEqual(expected[key]);
    }

    const replayed = {
      pipeline: collect(
        await feed.stream({ accountId: mine, pipelineName: 'web' }, { afterSequence: start }),
      ),
      account: collect(await feed.stream({ accountId: mine }, { afterSequence: start })),
      other: collect(await feed.stream({ accountId: other }, { afterSequence: start })),
    };
    const marker = {
      pipeline: actionEvent(mine, 'web', 'marker'),
      account: actionEvent(mine, 'docs', 'marker'),
      other: actionEvent(other, 'docs', 'marker'),
    };
    await writeAndDispatch(feed, Object.values(marker));
    for (const key of ['pipeline', 'account', 'other'] as const) {
      const got = await replayed[key].received(expected[key].length + (key === 'account' ? 2 : 1));
      expect(marks(got)).toEqual([
        ...expected[key],
        ...(key === 'account' ? ['marker', 'marker'] : ['marker']),
      ]);
      expect(got.every((event) => event.accountId === (key === 'other' ? other : mine))).toBe(true);
    }
  });

  it('cuts off a subscriber that falls behind, naming what it last received, while others keep receiving', async () => {
    const feed = await startFeed();
    const accountId = newAccountId();
    const maxBuffered = 5;
    const startedAt = feed.position;
    const fast = collect(await feed.stream({ accountId }, { maxBuffered }));
    const neverReads = await feed.stream({ accountId }, { maxBuffered });
    const readsTwo = await feed.stream({ accountId }, { maxBuffered });
    const pending = [readsTwo.next(), readsTwo.next()];
    const firstTwo = await writeAndDispatch(feed, series(accountId, 'p', 'e', 2));
    expect((await Promise.all(pending)).map((r) => (r.done ? undefined : r.value.sequence))).toEqual(
      firstTwo,
    );

    // `neverReads` now holds 2, `readsTwo` none: 3 more fill `neverReads` to its limit.
    await writeAndDispatch(feed, series(accountId, 'p', 'f', 3));
    await fast.received(5);
    expect(feed.subscriberCount).toBe(3);
    // One more is one too many for `neverReads`; `readsTwo` holds 4 and stays.
    await writeAndDispatch(feed, series(accountId, 'p', 'g', 1));
    await fast.received(6);
    expect(feed.subscriberCount).toBe(2);
    const cutOff = await neverReads.next().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(cutOff).toBeInstanceOf(SubscriberTooSlowError);
    expect((cutOff as SubscriberTooSlowError).lastDeliveredSequence).toBe(startedAt);
    expect(await neverReads.next()).toEqual({ done: true, value: undefined });

    // Two more: `readsTwo` goes over too, and names the last sequence it was handed.
    await writeAndDispatch(feed, series(accountId, 'p', 'h', 2));
    await fast.received(8);
    await until(() => feed.subscriberCount === 1, 'readsTwo to be cut off');
    const alsoCutOff = await readsTwo.next().catch((err: unknown) => err);
    expect(alsoCutOff).toBeInstanceOf(SubscriberTooSlowError);
    expect((alsoCutOff as SubscriberTooSlowError).lastDeliveredSequence).toBe(firstTwo[1]);

    // Resuming where it was cut off gives exactly what it missed.
    const resumed = collect(
      await feed.stream(
        { accountId },
        { afterSequence: (alsoCutOff as SubscriberTooSlowError).lastDeliveredSequence },
      ),
    );
    expect(marks(await resumed.received(6))).toEqual(marks(fast.events.slice(2)));
    expect(marks(fast.events)).toEqual(['e0', 'e1', 'f0', 'f1', 'f2', 'g0', 'h0', 'h1']);
  });

  it('return() ends a stream and forgets it; stop() completes every stream', async () => {
    const feed = await startFeed();
    const accountId = newAccountId();
    const returned = await feed.stream({ accountId, pipelineName: 'p' });
    const waiting = returned.next();
    expect(feed.subscriberCount).toBe(1);
    await returned.return?.();
    expect(await waiting).toEqual({ done: true, value: undefined });
    expect(feed.subscriberCount).toBe(0);

    const open = collect(await feed.stream({ accountId }));
    await feed.stop();
    await until(() => open.ended, 'the stream to complete');
    expect(feed.subscriberCount).toBe(0);
  });
});
