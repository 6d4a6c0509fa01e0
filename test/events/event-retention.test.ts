import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventsExpiredError } from '../../src/events/event-errors';
import { EventFeed } from '../../src/events/event-feed';
import { EventRetention } from '../../src/events/event-retention';
import { sequencePending } from '../../src/events/event-sequencer';
import { createDataSource } from '../../src/platform/db/database';
import { createLogger } from '../../src/platform/logger';
import { freshDatabase } from '../support/database';
import { actionEvent, Collector, eventually, marks, newAccountId, until, write } from './event-fixtures';

const logger = createLogger('silent');
const DAY_MS = 24 * 60 * 60 * 1000;
let ds: DataSource;
let feed: EventFeed;

beforeAll(async () => {
  ds = createDataSource(await freshDatabase(), 10);
  await ds.initialize();
  // No notifications: the tick and explicit numbering are enough here.
  feed = new EventFeed(ds, undefined, logger, { tickMs: 50, pageSize: 2 });
  await feed.start();
});

afterAll(async () => {
  await feed?.stop();
  await ds?.destroy();
});

async function sequenceOf(accountId: string, mark: string): Promise<bigint | null> {
  const rows: { sequence: string | null }[] = await ds.query(
    `SELECT sequence FROM pipeline_events WHERE account_id = $1 AND detail->>'mark' = $2`,
    [accountId, mark],
  );
  if (!rows.length) throw new Error(`no event ${mark}`);
  return rows[0].sequence === null ? null : BigInt(rows[0].sequence);
}

async function prunedThrough(): Promise<bigint> {
  const rows: { pruned_through: string }[] = await ds.query(
    'SELECT pruned_through FROM pipeline_event_sequence',
  );
  return BigInt(rows[0].pruned_through);
}

describe('EventRetention', () => {
  it('deletes numbered events older than the period, and a replay from before them says where events start', async () => {
    const accountId = newAccountId();
    const now = new Date();
    await write(
      ds,
      Array.from({ length: 6 }, (_, n) => actionEvent(accountId, 'p', `e${n}`)),
    );
    await sequencePending(ds);
    // e0..e2 are 8 days old, e3.. are recent.
    await ds.query(
      `UPDATE pipeline_events SET time = $2 WHERE account_id = $1 AND detail->>'mark' IN ('e0', 'e1', 'e2')`,
      [accountId, new Date(now.getTime() - 8 * DAY_MS)],
    );
    const e2 = (await sequenceOf(accountId, 'e2')) as bigint;

    const retention = new EventRetention(ds, logger, 7, { batchSize: 2 });
    expect(await retention.prune(now)).toEqual({ deleted: 3, prunedThrough: e2 });
    expect(await prunedThrough()).toBe(e2);
    const left: { mark: string }[] = await ds.query(
      `SELECT detail->>'mark' AS mark FROM pipeline_events WHERE account_id = $1 ORDER BY sequence`,
      [accountId],
    );
    expect(left.map((row) => row.mark)).toEqual(['e3', 'e4', 'e5']);

    const refused = await feed.stream({ accountId }, { afterSequence: e2 - 1n }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(EventsExpiredError);
    expect((refused as EventsExpiredError).details).toEqual({ oldestSequence: String(e2 + 1n) });
    expect((refused as EventsExpiredError).afterSequence).toBe(e2 - 1n);
    expect(feed.subscriberCount).toBe(0);

    for (const after of [e2, e2 + 1n]) {
      const collector = new Collector(await feed.stream({ accountId }, { afterSequence: after }));
      const expected = after === e2 ? ['e3', 'e4', 'e5'] : ['e4', 'e5'];
      expect(marks(await collector.received(expected.length))).toEqual(expected);
      await collector.stop();
    }
  });

  it('never deletes rows without a sequence, nor lowers the mark', async () => {
    const accountId = newAccountId();
    const before = await prunedThrough();
    await write(ds, [actionEvent(accountId, 'p', 'pending')]); // committed, not numbered yet
    await ds.query(`UPDATE pipeline_events SET time = now() - interval '30 days' WHERE account_id = $1`, [
      accountId,
    ]);

    const retention = new EventRetention(ds, logger, 7);
    expect(await retention.prune()).toEqual({ deleted: 0, prunedThrough: before });
    expect(await sequenceOf(accountId, 'pending')).toBeNull();
    // Once numbered it is old enough to go.
    const last = await sequencePending(ds);
    expect(await retention.prune()).toEqual({ deleted: 1, prunedThrough: last });
  });

  it('deletes every numbered event older than the period, also past younger ones', async () => {
    const accountId = newAccountId();
    await write(ds, [actionEvent(accountId, 'p', 'old'), actionEvent(accountId, 'p', 'young')]);
    await write(ds, [actionEvent(accountId, 'p', 'old-after-young')]);
    await sequencePending(ds);
    await ds.query(
      `UPDATE pipeline_events SET time = now() - interval '8 days'
        WHERE account_id = $1 AND detail->>'mark' IN ('old', 'old-after-young')`,
      [accountId],
    );
    const last = (await sequenceOf(accountId, 'old-after-young')) as bigint;
    expect(await new EventRetention(ds, logger, 7).prune()).toEqual({ deleted: 2, prunedThrough: last });
    const left: { mark: string }[] = await ds.query(
      `SELECT detail->>'mark' AS mark FROM pipeline_events WHERE account_id = $1`,
      [accountId],
    );
    expect(left).toEqual([{ mark: 'young' }]);
  });

  it('fails a replay whose next page was deleted meanwhile, naming the last sequence it delivered', async () => {
    const accountId = newAccountId();
    await write(
      ds,
      Array.from({ length: 6 }, (_, n) => actionEvent(accountId, 'p', `f${n}`)),
    );
    const last = await sequencePending(ds);
    await until(() => feed.position >= last, 'the feed to reach the new events');
    const f0 = (await sequenceOf(accountId, 'f0')) as bigint;
    const stream = await feed.stream({ accountId }, { afterSequence: f0 - 1n });
    const firstPage = [await stream.next(), await stream.next()]; // pages of 2
    expect(firstPage.map((r) => (r.done ? undefined : r.value.detail.mark))).toEqual(['f0', 'f1']);

    await ds.query(
      `UPDATE pipeline_events SET time = now() - interval '8 days'
        WHERE account_id = $1 AND detail->>'mark' IN ('f0', 'f1', 'f2', 'f3')`,
      [accountId],
    );
    const f3 = (await sequenceOf(accountId, 'f3')) as bigint;
    expect((await new EventRetention(ds, logger, 7).prune()).prunedThrough).toBe(f3);

    const expired = await stream.next().catch((err: unknown) => err);
    expect(expired).toBeInstanceOf(EventsExpiredError);
    expect((expired as EventsExpiredError).afterSequence).toBe(f0 + 1n);
    expect((expired as EventsExpiredError).details).toEqual({ oldestSequence: String(f3 + 1n) });
    expect(await stream.next()).toEqual({ done: true, value: undefined });
    expect(feed.subscriberCount).toBe(0);
  });

  it('start() prunes at once and then on its interval', async () => {
    const accountId = newAccountId();
    await write(ds, [actionEvent(accountId, 'p', 'old')]);
    await sequencePending(ds);
    await ds.query(`UPDATE pipeline_events SET time = now() - interval '8 days' WHERE account_id = $1`, [
      accountId,
    ]);
    const retention = new EventRetention(ds, logger, 7, { intervalMs: 50 });
    retention.start();
    const gone = async (): Promise<boolean> => {
      const rows: { n: number }[] = await ds.query(
        'SELECT count(*)::int AS n FROM pipeline_events WHERE account_id = $1',
        [accountId],
      );
      return rows[0].n === 0;
    };
    try {
      await eventually(gone, 'the old event to be deleted');
      await write(ds, [actionEvent(accountId, 'p', 'old-too')]);
      await sequencePending(ds);
      await ds.query(`UPDATE pipeline_events SET time = now() - interval '8 days' WHERE account_id = $1`, [
        accountId,
      ]);
      await eventually(gone, 'the second old event to be deleted, on the next interval');
    } finally {
      await retention.stop();
    }
  });
});
