import { randomInt } from 'node:crypto';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventFeed } from '../../src/events/event-feed';
import { EventSequencer, sequencePending } from '../../src/events/event-sequencer';
import type { StoredEvent } from '../../src/events/event-stream';
import { EVENTS_CHANNEL } from '../../src/events/outbox';
import { createDataSource } from '../../src/platform/db/database';
import { Notifications } from '../../src/platform/db/notifications';
import { createLogger } from '../../src/platform/logger';
import { freshDatabase } from '../support/database';
import {
  actionEvent,
  Collector,
  marks,
  newAccountId,
  outbox,
  sleep,
  strictlyIncreasing,
  until,
  write,
} from './event-fixtures';

const logger = createLogger('silent');
let url: string;
let ds: DataSource;

beforeAll(async () => {
  url = await freshDatabase();
  ds = createDataSource(url, 20);
  await ds.initialize();
});

afterAll(async () => {
  await ds?.destroy();
});

async function sequencesByMark(accountId: string): Promise<Map<string, bigint>> {
  const rows: { mark: string; sequence: string | null }[] = await ds.query(
    `SELECT detail->>'mark' AS mark, sequence FROM pipeline_events WHERE account_id = $1`,
    [accountId],
  );
  return new Map(rows.map((row) => [row.mark, row.sequence === null ? -1n : BigInt(row.sequence)]));
}

describe('sequencePending', () => {
  it('numbers a transaction that commits late above the rows numbered while it was open', async () => {
    const accountId = newAccountId();
    const late = ds.createQueryRunner();
    await late.connect();
    try {
      await late.startTransaction();
      await outbox.append(late.manager, [actionEvent(accountId, 'p', 'late')]); // the lower id
      await write(ds, [actionEvent(accountId, 'p', 'early-1'), actionEvent(accountId, 'p', 'early-2')]);
      const first = await sequencePending(ds);
      // Invisible to the sequencer, so left without a number.
      const own: { sequence: string | null }[] = await late.query(
        'SELECT sequence FROM pipeline_events WHERE account_id = $1 AND detail @> $2',
        [accountId, JSON.stringify({ mark: 'late' })],
      );
      expect(own).toEqual([{ sequence: null }]);
      await late.commitTransaction();
      const second = await sequencePending(ds);

      const numbered = await sequencesByMark(accountId);
      expect(numbered.get('early-1')).toBe(first - 1n); // a transaction's events in append order
      expect(numbered.get('early-2')).toBe(first);
      expect(numbered.get('late')).toBe(second);
      expect(second).toBe(first + 1n);
    } finally {
      await late.release();
    }
  });

  it('records the last sequence and announces it on the events channel when it commits', async () => {
    const listener = new Client({ connectionString: url });
    await listener.connect();
    try {
      const payloads: string[] = [];
      listener.on('notification', (msg) => payloads.push(msg.payload ?? ''));
      await listener.query(`LISTEN ${EVENTS_CHANNEL}`);
      const accountId = newAccountId();
      await write(
        ds,
        [1, 2, 3].map((n) => actionEvent(accountId, 'p', `n${n}`)),
      );
      const last = await sequencePending(ds);
      const stored: { last_sequence: string }[] = await ds.query(
        'SELECT last_sequence FROM pipeline_event_sequence',
      );
      expect(BigInt(stored[0].last_sequence)).toBe(last);
      await until(() => payloads.includes(String(last)), 'the notification');
      expect(await sequencePending(ds)).toBe(last); // nothing pending: nothing changes
    } finally {
      await listener.end();
    }
  });

  it('numbers more rows than one batch holds, in id order', async () => {
    const accountId = newAccountId();
    await write(
      ds,
      Array.from({ length: 25 }, (_, n) => actionEvent(accountId, 'p', String(n).padStart(2, '0'))),
    );
    const last = await sequencePending(ds, 10);
    const numbered = [...(await sequencesByMark(accountId)).entries()].sort(([a], [b]) => a.localeCompare(b));
    expect(numbered.map(([, sequence]) => sequence)).toEqual(
      Array.from({ length: 25 }, (_, n) => last - 24n + BigInt(n)),
    );
  });
});

describe('EventSequencer with concurrent writers', () => {
  it('never lets a reader see a sequence below one it already saw: every event reaches every process once, in order', async () => {
    const accountId = newAccountId();
    const WRITERS = 8;
    const TRANSACTIONS = 20;
    // Two server processes: each with its LISTEN connection, a sequencer and a feed.
    const processes = await Promise.all(
      [0, 1].map(async () => {
        const notifications = new Notifications(url, logger);
        await notifications.start();
        const sequencer = new EventSequencer(ds, notifications, logger, { tickMs: 200 });
        const feed = new EventFeed(ds, notifications, logger, { tickMs: 200, pageSize: 7 });
        await feed.start();
        sequencer.start();
        return { notifications, sequencer, feed };
      }),
    );
    // Plus a reader polling the table as any naive tailer would: `sequence > last seen`.
    const polled: bigint[] = [];
    let polling = true;
    const poller = (async () => {
      let position = 0n;
      while (polling) {
        const rows: { sequence: string }[] = await ds.query(
          'SELECT sequence FROM pipeline_events WHERE account_id = $1 AND sequence > $2 ORDER BY sequence',
          [accountId, String(position)],
        );
        for (const row of rows) polled.push(BigInt(row.sequence));
        if (rows.length) position = BigInt(rows[rows.length - 1].sequence);
        await sleep(2);
      }
    })();
    try {
      const collectors = await Promise.all(
        processes.map(async ({ feed }) => new Collector(await feed.stream({ accountId }))),
      );
      const written: string[] = [];
      await Promise.all(
        Array.from({ length: WRITERS }, async (_, writer) => {
          for (let t = 0; t < TRANSACTIONS; t++) {
            const events = Array.from({ length: 1 + randomInt(3) }, (_, e) =>
              actionEvent(accountId, `pipeline-${writer % 3}`, `${writer}.${t}.${e}`),
            );
            await ds.transaction(async (tx) => {
              await sleep(randomInt(5));
              await outbox.append(tx, events);
              // Held open after the insert: later ids commit first.
              await sleep(randomInt(15));
            });
            written.push(...events.map((event) => String(event.detail.mark)));
          }
        }),
      );

      for (const collector of collectors) {
        const received = await collector.received(written.length);
        expect(strictlyIncreasing(received)).toBe(true);
        expect(new Set(marks(received)).size).toBe(received.length);
        expect([...marks(received)].sort()).toEqual([...written].sort());
      }
      await until(() => polled.length >= written.length, 'the poller to see every row');
      expect(polled.length).toBe(written.length);
      expect(polled.every((sequence, i) => i === 0 || sequence > polled[i - 1])).toBe(true);

      // The test exercised the hazard: some rows committed (and were numbered) out of id order.
      const inversions: { count: string }[] = await ds.query(
        `SELECT count(*) FROM (
           SELECT sequence < lag(sequence) OVER (ORDER BY id) AS inverted
             FROM pipeline_events WHERE account_id = $1) rows
          WHERE inverted`,
        [accountId],
      );
      expect(Number(inversions[0].count)).toBeGreaterThan(0);
      // Each process's order is the one order: the same sequence for the same event everywhere.
      const bySequence = (events: StoredEvent[]): string[] =>
        events.map((e) => `${e.sequence}:${e.detail.mark}`);
      expect(bySequence(collectors[0].events)).toEqual(bySequence(collectors[1].events));
    } finally {
      polling = false;
      await poller;
      for (const { feed, sequencer, notifications } of processes) {
        await sequencer.stop();
        await feed.stop();
        await notifications.close();
      }
    }
  });
});
