import type { DataSource } from 'typeorm';
import type { Logger } from '../platform/logger';
import type { AuditSealer } from './audit-sealer';

export interface PruneResult {
  accountId: string;
  throughSeq: number;
  removedEvents: number;
}

/**
 * Removes events older than the retention period, through the database function
 * `audit_prune` (migrations/…-audit-owner.ts) — the only path that deletes audit rows: it runs
 * as the trail's owner role, removes whole sealed ranges (everything up to a digest whose
 * events are all older than the cutoff, so the first kept event stays anchored to a signed
 * hash) and records a PruneAuditEvents event, in the same transaction, naming how far it went;
 * validateAuditTrail checks the first kept event against it.
 */
export class AuditRetention {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dataSource: DataSource,
    private readonly sealer: AuditSealer,
    private readonly logger: Logger,
    private readonly retentionDays: number,
    private readonly region: string,
  ) {}

  start(): void {
    const run = (): void => {
      this.prune(new Date()).catch((err: unknown) => this.logger.error({ err }, 'audit retention failed'));
    };
    this.timer = setInterval(run, 3_600_000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Prunes every account's events older than `retentionDays` before `now`. */
  async prune(now: Date, retentionDays = this.retentionDays): Promise<PruneResult[]> {
    const cutoff = new Date(now.getTime() - retentionDays * 86_400_000);
    await this.sealer.seal();
    const accounts: { account_id: string }[] = await this.dataSource.query(
      `SELECT DISTINCT account_id FROM audit_events WHERE event_time < $1`,
      [cutoff],
    );
    const results: PruneResult[] = [];
    for (const { account_id: accountId } of accounts) {
      // One account per statement (and so per transaction): a prune holds its account's chain
      // head only while it appends its own event.
      const [row] = (await this.dataSource.query('SELECT * FROM audit_prune($1, $2, $3, $4)', [
        accountId,
        cutoff,
        retentionDays,
        this.region,
      ])) as { through_seq: string; removed_events: string }[];
      if (!row) continue;
      const result = {
        accountId,
        throughSeq: Number(row.through_seq),
        removedEvents: Number(row.removed_events),
      };
      this.logger.info(result, 'pruned audit events past retention');
      results.push(result);
    }
    return results;
  }
}
