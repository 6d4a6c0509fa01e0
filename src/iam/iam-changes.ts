import type { DataSource, EntityManager } from 'typeorm';
import { notifyOnCommit, type Notifications } from '../platform/db/notifications';

const CHANNEL = 'sluice_iam';

/**
 * The one way IAM state (users, keys, groups, policies, attachments) is written: in a
 * transaction that also notifies every instance, followed by an immediate local invalidation
 * so the caller's next request already sees the change. Caches (authorizers, session checks)
 * subscribe with `onChange`.
 */
export class IamChanges {
  private readonly listeners = new Set<(accountId: string | undefined) => void>();

  constructor(
    private readonly dataSource: DataSource,
    notifications: Notifications | undefined,
  ) {
    notifications?.on(CHANNEL, (accountId) => this.emit(accountId));
    // While disconnected we may have missed changes of any account.
    notifications?.onReconnect(() => this.emit(undefined));
  }

  /** `undefined` means "anything may have changed". */
  onChange(listener: (accountId: string | undefined) => void): void {
    this.listeners.add(listener);
  }

  async write<T>(accountId: string, work: (tx: EntityManager) => Promise<T>): Promise<T> {
    const result = await this.dataSource.transaction(async (tx) => {
      const value = await work(tx);
      await notifyOnCommit(tx, CHANNEL, accountId);
      return value;
    });
    this.emit(accountId);
    return result;
  }

  private emit(accountId: string | undefined): void {
    for (const listener of this.listeners) listener(accountId);
  }
}
