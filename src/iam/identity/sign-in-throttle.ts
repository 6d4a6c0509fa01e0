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

export class SignInThrottle {
  constructor(private readonly dataSource: DataSource) {}

  /** Throws THROTTLED when any key is blocked now. */
  async check(keys: ThrottleKey[]): Promise<void> {
    const rows: { blocked_for: number }[] = await this.dataSource.query(
      `SELECT ceil(extract(epoch FROM blocked_until - now()))::int AS blocked_for
         FROM auth_failures WHERE key = ANY($1) AND blocked_until > now()
        ORDER BY blocked_until DESC LIMIT 1`,
      [keys.map((k) => k.key)],
    );
    if (rows.length) {
      throw new DomainError(
        'THROTTLED',
        `Too many failed sign-in attempts; try again in ${rows[0].blocked_for} seconds`,
        { retryAfterSeconds: rows[0].blocked_for },
      );
    }
  }

  async recordFailure(keys: ThrottleKey[]): Promise<void> {
    for (const { key, rule } of keys) {
      await this.dataSource.query(
        `INSERT INTO auth_failures AS f (key, failures, window_started_at) VALUES ($1, 1, now())
         ON CONFLICT (key) DO UPDATE SET
           failures = CASE WHEN f.window_started_at < now() - make_interval(secs => $2) THEN 1 ELSE f.failures + 1 END,
           window_started_at = CASE WHEN f.window_started_at < now() - make_interval(secs => $2)
                                    THEN now() ELSE f.window_started_at END`,
        [key, rule.windowSeconds],
      );
      await this.dataSource.query(
        `UPDATE auth_failures SET blocked_until = now() + make_interval(secs =>
            least($3::float8, $2::float8 * power(2, failures - $4)))
          WHERE key = $1 AND failures >= $4`,
        [key, rule.baseBlockSeconds, rule.maxBlockSeconds, rule.limit],
      );
    }
  }

  async recordSuccess(key: string): Promise<void> {
    await this.dataSource.query('DELETE FROM auth_failures WHERE key = $1', [key]);
  }
}
