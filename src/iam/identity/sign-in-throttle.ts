import { Pool, type PoolClient } from 'pg';
import type { DataSource } from 'typeorm';
import { DomainError } from '../../platform/errors';

/**
 * Throttles repeated failed sign-ins, per user and per source address, in the database so
 * every instance shares the count. After `limit` failures inside the window the key is blocked
 * for a back-off that doubles with each further failure (capped), even for a right password:
 * otherwise the block would be an oracle for guessing.
 */
export interface ThrottleRule {
  limit: number;
  windowSeconds: number;
  baseBlockSeconds: number;
  maxBlockSeconds: number;
}

export const USER_RULE: ThrottleRule = {
  limit: 5,
  windowSeconds: 900,
  baseBlockSeconds: 30,
  maxBlockSeconds: 900,
};
export const ADDRESS_RULE: ThrottleRule = {
  limit: 50,
  windowSeconds: 900,
  baseBlockSeconds: 30,
  maxBlockSeconds: 900,
};

export interface ThrottleKey {
  key: string;
  rule: ThrottleRule;
}

/** An attempt `begin` let through: its keys and the failure count it brought each to. */
export interface ThrottleAttempt {
  keys: ThrottleKey[];
  failures: number[];
}

/** The failure count after this attempt: 1 when the window has passed. */
const NEXT_FAILURES = `(CASE WHEN f.window_started_at < now() - make_interval(secs => $2)
                              THEN 1 ELSE f.failures + 1 END)`;

/**
 * Counts an attempt as a failure when it starts, before the slow password check, so a burst
 * of concurrent guesses cannot all pass the check while the count lags behind: the row lock of
 * the upsert orders them, and once `limit` attempts are counted the rest are THROTTLED
 * without being checked. A successful attempt then takes its count back.
 */
export class SignInThrottle {
  /**
   * A small pool of its own: a sign-in mutation already holds a connection of the main pool for
   * its unit of work, so a burst of sign-ins as large as that pool would wait forever for a
   * second one. The throttle's statements are short and need nothing else, so two suffice.
   */
  private readonly pool: Pool;

  constructor(dataSource: DataSource) {
    const { url } = dataSource.options as { url?: string };
    this.pool = new Pool({ connectionString: url, max: 2, application_name: 'sluice-sign-in' });
    // A lost idle connection is replaced on the next query; nothing to do here.
    this.pool.on('error', () => undefined);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /**
   * Throws THROTTLED when any key is blocked now; otherwise records the attempt as a failure
   * on every key (all or none: one transaction, on the throttle's own connection so that it
   * commits whatever the request's own transaction does). Keys are taken in the order given, so
   * callers list the shared address key last and concurrent attempts cannot deadlock.
   */
  async begin(keys: ThrottleKey[]): Promise<ThrottleAttempt> {
    const client = await this.pool.connect();
    const failures: number[] = [];
    try {
      await client.query('BEGIN');
      for (const { key, rule } of keys) {
        const { rows } = await client.query<{ failures: number }>(
          `INSERT INTO auth_failures AS f (key, failures, window_started_at, blocked_until)
           VALUES ($1, 1, now(), CASE WHEN $4::int <= 1 THEN now() + make_interval(secs => $3::float8) END)
           ON CONFLICT (key) DO UPDATE SET
             failures = ${NEXT_FAILURES},
             window_started_at = CASE WHEN f.window_started_at < now() - make_interval(secs => $2)
                                      THEN now() ELSE f.window_started_at END,
             blocked_until = CASE WHEN ${NEXT_FAILURES} >= $4::int
                                  THEN now() + make_interval(secs =>
                                         least($5::float8, $3::float8 * power(2, ${NEXT_FAILURES} - $4::int)))
                             END
           WHERE f.blocked_until IS NULL OR f.blocked_until <= now()
           RETURNING failures`,
          [key, rule.windowSeconds, rule.baseBlockSeconds, rule.limit, rule.maxBlockSeconds],
        );
        if (!rows.length) throw await this.throttled(client, key);
        failures.push(rows[0].failures);
      }
      await client.query('COMMIT');
      return { keys, failures };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /**
   * The attempt succeeded: its first key (the user or access key) starts afresh; the others
   * (the address) get back the failure `begin` counted, and lose the block that count set, if
   * it set one. Only then: a blocked key lets no attempt begin, so a block this attempt did not
   * set came from a failure after it and stays.
   */
  async succeeded(attempt: ThrottleAttempt): Promise<void> {
    const [own, ...shared] = attempt.keys;
    await this.pool.query('DELETE FROM auth_failures WHERE key = $1', [own.key]);
    for (const [i, { key, rule }] of shared.entries()) {
      const setTheBlock = attempt.failures[i + 1] >= rule.limit;
      await this.pool.query(
        `UPDATE auth_failures SET failures = greatest(failures - 1, 0),
                blocked_until = CASE WHEN $2 THEN NULL ELSE blocked_until END
          WHERE key = $1`,
        [key, setTheBlock],
      );
    }
  }

  private async throttled(client: PoolClient, key: string): Promise<DomainError> {
    const { rows } = await client.query<{ blocked_for: number }>(
      `SELECT greatest(1, ceil(extract(epoch FROM blocked_until - now())))::int AS blocked_for
         FROM auth_failures WHERE key = $1`,
      [key],
    );
    const seconds = rows[0]?.blocked_for ?? 1;
    return new DomainError('THROTTLED', `Too many failed sign-in attempts; try again in ${seconds} seconds`, {
      retryAfterSeconds: seconds,
    });
  }
}
