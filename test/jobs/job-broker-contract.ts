import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { actionTypeKey } from '../../src/engine/engine-signals';
import type { ActionTypeKey } from '../../src/engine/providers/provider';
import type { ClaimedJob, JobBroker } from '../../src/jobs/job-data';
import { StaleJobError } from '../../src/jobs/job-errors';

/**
 * The behaviour every JobBroker must have, whatever carries it (the PostgreSQL queue here;
 * the GraphQL job API for remote workers next): one suite, run against each implementation.
 */
export interface BrokerHarness {
  /** Two brokers on separate connections, as two processes would have. */
  brokers: [JobBroker, JobBroker];
  /** Queues `count` jobs of `type` (created in this order); returns their ids. */
  enqueue(count: number, type: ActionTypeKey): Promise<string[]>;
  /** Lets the held leases of these jobs expire and the implementation take them back. */
  loseLeases(jobIds: string[]): Promise<void>;
}

/** A type of its own for each test, so jobs left by one test are invisible to the next. */
function freshType(): ActionTypeKey {
  return {
    category: 'Build',
    owner: 'Custom',
    provider: `Contract${randomBytes(4).toString('hex')}`,
    version: '1',
  };
}

async function drain(
  broker: JobBroker,
  types: string[],
  max: number,
  workerId: string,
): Promise<ClaimedJob[]> {
  const claimed: ClaimedJob[] = [];
  for (;;) {
    const batch = await broker.claim(types, max, workerId);
    expect(batch.length).toBeLessThanOrEqual(max);
    if (!batch.length) return claimed;
    claimed.push(...batch);
  }
}

export function describeJobBrokerContract(name: string, harness: () => BrokerHarness): void {
  describe(`JobBroker contract: ${name}`, () => {
    it('delivers each queued job exactly once to concurrent claimers on two brokers', async () => {
      const { brokers, enqueue } = harness();
      const type = freshType();
      const ids = await enqueue(120, type);
      const claimers = Array.from({ length: 16 }, (_, i) =>
        drain(brokers[i % 2], [actionTypeKey(type)], 1 + (i % 4), `worker-${i}`),
      );
      const claimed = (await Promise.all(claimers)).flat();
      expect(claimed.map((job) => job.id).sort()).toEqual([...ids].sort());
      expect(new Set(claimed.map((job) => job.nonce)).size).toBe(claimed.length);
      for (const job of claimed) {
        expect(job.nonce).toMatch(/^[0-9a-f]{32}$/);
        expect(job.attempt).toBe(1);
      }
    });

    it('never hands out more than asked for, nor jobs of other types', async () => {
      const { brokers, enqueue } = harness();
      const wanted = freshType();
      const other = freshType();
      await enqueue(5, other);
      const ids = await enqueue(5, wanted);
      const first = await brokers[0].claim([actionTypeKey(wanted)], 3, 'w');
      expect(first).toHaveLength(3);
      const rest = await brokers[1].claim([actionTypeKey(wanted)], 10, 'w');
      expect(rest).toHaveLength(2);
      expect([...first, ...rest].map((job) => job.id).sort()).toEqual([...ids].sort());
      expect(await brokers[0].claim([actionTypeKey(wanted)], 10, 'w')).toEqual([]);
      expect(await brokers[0].claim([], 10, 'w')).toEqual([]);
      expect(await brokers[0].claim([actionTypeKey(other)], 0, 'w')).toEqual([]);
    });

    it('hands out the oldest jobs first', async () => {
      const { brokers, enqueue } = harness();
      const type = freshType();
      const ids = await enqueue(4, type);
      const claimed = await brokers[0].claim([actionTypeKey(type)], 2, 'w');
      expect(claimed.map((job) => job.id)).toEqual(ids.slice(0, 2));
    });

    it('fences every call with the attempt nonce', async () => {
      const { brokers, enqueue } = harness();
      const type = freshType();
      await enqueue(1, type);
      const [job] = await brokers[0].claim([actionTypeKey(type)], 1, 'w');
      const wrong = randomBytes(16).toString('hex');
      const calls: [string, () => Promise<unknown>][] = [
        ['acknowledge', () => brokers[1].acknowledge(job.accountId, job.id, wrong)],
        ['heartbeat', () => brokers[1].heartbeat(job.accountId, job.id, wrong)],
        ['appendLog', () => brokers[1].appendLog(job.accountId, job.id, wrong, 0, 'x')],
        ['fail', () => brokers[1].fail(job.accountId, job.id, wrong, { type: 'JOB_FAILED', message: 'no' })],
        [
          'succeed',
          () =>
            brokers[1].succeed(job.accountId, job.id, wrong, { outputVariables: {}, outputArtifacts: [] }),
        ],
      ];
      for (const [name, call] of calls) {
        await expect(call(), name).rejects.toBeInstanceOf(StaleJobError);
      }
      expect(await brokers[1].acknowledge(job.accountId, job.id, job.nonce)).toBe('IN_PROGRESS');
    });

    it('delivers a job again after its lease is lost, as a new attempt that fences out the old one', async () => {
      const { brokers, enqueue, loseLeases } = harness();
      const type = freshType();
      const [id] = await enqueue(1, type);
      const [first] = await brokers[0].claim([actionTypeKey(type)], 1, 'w1');
      expect(await brokers[0].acknowledge(first.accountId, first.id, first.nonce)).toBe('IN_PROGRESS');
      // While the lease holds, nobody else gets it.
      expect(await brokers[1].claim([actionTypeKey(type)], 1, 'w2')).toEqual([]);
      await loseLeases([id]);
      const [second] = await brokers[1].claim([actionTypeKey(type)], 1, 'w2');
      expect(second.id).toBe(id);
      expect(second.attempt).toBe(2);
      expect(second.nonce).not.toBe(first.nonce);
      await expect(brokers[0].heartbeat(first.accountId, id, first.nonce)).rejects.toBeInstanceOf(
        StaleJobError,
      );
      await expect(
        brokers[0].succeed(first.accountId, id, first.nonce, { outputVariables: {}, outputArtifacts: [] }),
      ).rejects.toBeInstanceOf(StaleJobError);
      expect(
        await brokers[1].succeed(second.accountId, id, second.nonce, {
          outputVariables: {},
          outputArtifacts: [],
        }),
      ).toBe(true);
    });

    it('treats a repeated result of the same attempt as a no-op', async () => {
      const { brokers, enqueue } = harness();
      const type = freshType();
      await enqueue(2, type);
      const [a, b] = await brokers[0].claim([actionTypeKey(type)], 2, 'w');
      const result = { outputVariables: { K: 'v' }, outputArtifacts: [] };
      expect(await brokers[0].succeed(a.accountId, a.id, a.nonce, result)).toBe(true);
      expect(await brokers[1].succeed(a.accountId, a.id, a.nonce, result)).toBe(false);
      const failure = { type: 'JOB_FAILED' as const, message: 'broken' };
      expect(await brokers[0].fail(b.accountId, b.id, b.nonce, failure)).toBe(true);
      expect(await brokers[1].fail(b.accountId, b.id, b.nonce, failure)).toBe(false);
      // A finished attempt takes no more heartbeats or log.
      await expect(brokers[0].heartbeat(a.accountId, a.id, a.nonce)).rejects.toBeInstanceOf(StaleJobError);
      await expect(brokers[0].appendLog(b.accountId, b.id, b.nonce, 0, 'late')).rejects.toBeInstanceOf(
        StaleJobError,
      );
    });
  });
}
