import type { EntityManager } from 'typeorm';
import { PLATFORM_ACCOUNT_ID } from './arn';
import { notifyOnCommit, type Notifications } from '../platform/db/notifications';
import type { Db } from '../platform/db/unit-of-work';

const CHANNEL = 'sluice_iam';

/**
 * The one way IAM state (users, keys, groups, policies, attachments) is written: in a
 * transaction that also notifies every instance, followed by a local invalidation as soon as
 * it commits, so the caller's next request already sees the change. Caches (authorizers, session checks)
 * subscribe with `onChange`.
 */
export class IamChanges {
  private readonly listeners = new Set<(accountId: string | undefined) => void>();
  private changes = 0;

  constructor(
    private readonly db: Db,
    notifications: Notifications | undefined,
  ) {
    notifications?.on(CHANNEL, (accountId) => this.emit(accountId));
    // While disconnected we may have missed changes of any account.
    notifications?.onReconnect(() => this.emit(undefined));
  }

  /**
   * Grows with every change seen (of any account): a long-lived holder of a decision (a
   * subscription's per-event check) compares it instead of registering a listener each.
   */
  get generation(): number {
    return this.changes;
  }

  /** `undefined` means "anything may have changed". */
  onChange(listener: (accountId: string | undefined) => void): void {
    this.listeners.add(listener);
  }

  async write<T>(accountId: string, work: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      const value = await work(tx);
      await notifyOnCommit(tx, CHANNEL, accountId);
      // Not before: a cache rebuilt between invalidation and commit would keep the old state.
      this.db.afterCommit(() => this.emit(accountId));
      return value;
    });
  }

  private emit(changed: string | undefined): void {
    this.changes += 1;
    // The platform account's policies may be any account's guardrails: a change there may
    // change what every account may do.
    const accountId = changed === PLATFORM_ACCOUNT_ID ? undefined : changed;
    for (const listener of this.listeners) listener(accountId);
  }
}
