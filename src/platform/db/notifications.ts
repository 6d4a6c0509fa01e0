import { Client } from 'pg';
import type { EntityManager } from 'typeorm';
import type { Logger } from '../logger';

type Handler = (payload: string) => void;

/**
 * LISTEN/NOTIFY used as a coalesced wake-up signal between instances, never as the carrier of
 * data (DESIGN §2). One connection per process; it reconnects by itself, and tells subscribers
 * through `onReconnect` so they can drop whatever they may have missed meanwhile.
 */
export class Notifications {
  private client: Client | undefined;
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly reconnectHandlers = new Set<() => void>();
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** LISTEN statements one after another: one connection runs one query at a time. */
  private listening: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly url: string,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    await this.connect();
  }

  on(channel: string, handler: Handler): void {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      const client = this.client;
      if (client) {
        this.listening = this.listening
          .then(() => client.query(`LISTEN ${quoteIdent(channel)}`))
          .catch(() => undefined);
      }
    }
    set.add(handler);
  }

  onReconnect(handler: () => void): void {
    this.reconnectHandlers.add(handler);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new Client({ connectionString: this.url, application_name: 'sluice-listen' });
    client.on('notification', (msg) => {
      for (const handler of this.handlers.get(msg.channel) ?? []) handler(msg.payload ?? '');
    });
    client.on('error', (err) => {
      this.logger.warn({ err: err.message }, 'notification connection lost; reconnecting');
      this.scheduleReconnect();
    });
    await client.connect();
    for (const channel of this.handlers.keys()) await client.query(`LISTEN ${quoteIdent(channel)}`);
    this.client = client;
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retryTimer) return;
    void this.client?.end().catch(() => undefined);
    this.client = undefined;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect()
        .then(() => this.reconnectHandlers.forEach((h) => h()))
        .catch(() => this.scheduleReconnect());
    }, 500);
  }
}

/** Sends a notification that PostgreSQL delivers when (and only if) `tx` commits. */
export async function notifyOnCommit(tx: EntityManager, channel: string, payload: string): Promise<void> {
  await tx.query('SELECT pg_notify($1, $2)', [channel, payload]);
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
