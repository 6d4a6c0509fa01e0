import { AsyncLocalStorage } from 'node:async_hooks';
import type { DataSource, EntityManager } from 'typeorm';

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

  get inUnitOfWork(): boolean {
    return this.ambient.getStore() !== undefined;
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

  /** Opens a unit of work: everything `work` does through this Db shares one transaction. */
  async unitOfWork<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    const ambient: Ambient = { manager: this.dataSource.manager, afterCommit: [] };
    const result = await this.dataSource.transaction((tx) => {
      ambient.manager = tx;
      return this.ambient.run(ambient, () => work(tx));
    });
    for (const callback of ambient.afterCommit) callback();
    return result;
  }
}
