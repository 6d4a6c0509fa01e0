import { AsyncLocalStorage } from 'node:async_hooks';
import type { QueryResultRow } from 'pg';
import type { DataSource, EntityManager } from 'typeorm';
import { poolOf } from './pool';

interface Ambient {
  manager: EntityManager;
  afterCommit: (() => void)[];
}

/**
 * The database as services see it: one ambient transaction per unit of work.
 *
 * A mutation runs as one unit of work, so every write a service makes, the audit row and the
 * outbox event commit or roll back together, without threading a transaction through every
 * call. Outside a unit of work each `transaction()` is its own.
 */
export class Db {
  private readonly ambient = new AsyncLocalStorage<Ambient>();

  constructor(readonly dataSource: DataSource) {}

  /** The ambient transaction's manager, or the pool's. */
  get manager(): EntityManager {
    return this.ambient.getStore()?.manager ?? this.dataSource.manager;
  }

  /**
   * Rows of one parameterised query: in the ambient transaction when there is one, else
   * straight from pg's pool (poolOf), for hot reads that need no entity mapping.
   */
  async rows<T extends QueryResultRow>(sql: string, parameters: unknown[]): Promise<T[]> {
    const ambient = this.ambient.getStore();
    if (ambient) return (await ambient.manager.query(sql, parameters)) as T[];
    return (await poolOf(this.dataSource).query<T>(sql, parameters)).rows;
  }

  /** Runs `work` inside the ambient transaction, or in a transaction of its own. */
  async transaction<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    const ambient = this.ambient.getStore();
    if (ambient) return work(ambient.manager);
    return this.unitOfWork(work);
  }

  /** Runs `callback` once the ambient transaction committed (at once outside one); never on rollback. */
  afterCommit(callback: () => void): void {
    const ambient = this.ambient.getStore();
    if (ambient) ambient.afterCommit.push(callback);
    else callback();
  }

  /**
   * Opens a unit of work: everything `work` does through this Db shares one transaction.
   *
   * `finalStatement`, when given, is SQL (no parameters) that runs last, sent in the same
   * round trip as COMMIT. On a busy two-core machine one more round trip per write costs about
   * a fifth of write throughput, and the audit row of every mutation is exactly such a
   * statement; if it fails, the commit fails and everything rolls back.
   */
  async unitOfWork<T>(work: (tx: EntityManager) => Promise<T>, options: UnitOfWorkOptions = {}): Promise<T> {
    // A deadlock or serialisation failure rolled everything back: run the whole unit again
    // (a mutation touching a pipeline can meet the engine and the workers in the other order).
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.runOnce(work, options);
      } catch (err) {
        if (attempt >= MAX_ATTEMPTS || !isRetryable(err)) throw err;
        await new Promise((r) => setTimeout(r, attempt * 10 + Math.random() * 20));
      }
    }
  }

  private async runOnce<T>(work: (tx: EntityManager) => Promise<T>, options: UnitOfWorkOptions): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      const ambient: Ambient = { manager: runner.manager, afterCommit: [] };
      try {
        const result = await this.ambient.run(ambient, () => work(runner.manager));
        const final = options.finalStatement?.();
        if (final) {
          const query = runner.query.bind(runner);
          runner.query = ((sql: string, parameters?: unknown[]) =>
            query(sql === 'COMMIT' ? `${final}; COMMIT` : sql, parameters)) as typeof runner.query;
        }
        await runner.commitTransaction();
        for (const callback of ambient.afterCommit) callback();
        return result;
      } catch (err) {
        if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
        throw err;
      }
    } finally {
      await runner.release();
    }
  }
}

const MAX_ATTEMPTS = 3;

/** deadlock_detected, serialization_failure. */
function isRetryable(err: unknown): boolean {
  const code =
    (err as { driverError?: { code?: string }; code?: string }).driverError?.code ??
    (err as { code?: string }).code;
  return code === '40P01' || code === '40001';
}

export interface UnitOfWorkOptions {
  /** SQL without parameters to run last, in the COMMIT's round trip. */
  finalStatement?: () => string | undefined;
}
