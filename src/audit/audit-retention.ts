import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { rowsAffected } from '../platform/db/rows-affected';
import type { Logger } from '../platform/logger';
import { EVENT_VERSION, type AuditRecord } from './audit-record';
import type { AuditSealer } from './audit-sealer';
import type { AuditWriter } from './audit-writer';

export interface PruneResult {
  accountId: string;
  throughSeq: number;
  removedEvents: number;
}

/**
 * Removes events older than the retention period — the only path that deletes audit rows.
 * It removes whole sealed ranges: everything up to a digest whose events are all older than
 * the cutoff, so the first kept event stays anchored to a signed hash. Each prune records a
 * PruneAuditEvents event, in the same transaction, naming how far it went; validateAuditTrail
 * checks the first kept event against it.
 */
export class AuditRetention {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dataSource: DataSource,
    private readonly writer: AuditWriter,
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
      const result = await this.pruneAccount(accountId, cutoff, retentionDays);
      if (result) results.push(result);
    }
    return results;
  }

  private pruneAccount(
    accountId: string,
    cutoff: Date,
    retentionDays: number,
  ): Promise<PruneResult | undefined> {
    return this.dataSource.transaction(async (tx) => {
      const [{ keep }] = (await tx.query(
        `SELECT coalesce(min(seq), (SELECT max(seq) + 1 FROM audit_events WHERE account_id = $1)) AS keep
           FROM audit_events WHERE account_id = $1 AND event_time >= $2`,
        [accountId, cutoff],
      )) as { keep: string }[];
      const [anchor] = (await tx.query(
        `SELECT digest_seq, last_event_seq FROM audit_digests
          WHERE account_id = $1 AND last_event_seq < $2 ORDER BY digest_seq DESC LIMIT 1`,
        [accountId, keep],
      )) as { digest_seq: string; last_event_seq: string }[];
      const [{ min }] = (await tx.query('SELECT min(seq) AS min FROM audit_events WHERE account_id = $1', [
        accountId,
      ])) as { min: string }[];
      if (!anchor || Number(anchor.last_event_seq) < Number(min)) return undefined;
      const throughSeq = Number(anchor.last_event_seq);
      await tx.query(`SET LOCAL sluice.audit_prune = 'on'`);
      await tx.query('DELETE FROM audit_event_resources WHERE account_id = $1 AND seq <= $2', [
        accountId,
        throughSeq,
      ]);
      const removed = await tx.query('DELETE FROM audit_events WHERE account_id = $1 AND seq <= $2', [
        accountId,
        throughSeq,
      ]);
      await tx.query(`SET LOCAL sluice.audit_prune = 'off'`);
      const record: AuditRecord = {
        eventVersion: EVENT_VERSION,
        eventID: randomUUID(),
        eventTime: new Date().toISOString(),
        eventSource: 'cloudtrail.sluice',
        eventName: 'PruneAuditEvents',
        eventType: 'AwsServiceEvent',
        awsRegion: this.region,
        readOnly: false,
        userIdentity: { type: 'AWSService', principalId: 'sluice' },
        sourceIPAddress: 'sluice',
        userAgent: null,
        requestParameters: {
          retentionDays,
          cutoff: cutoff.toISOString(),
          throughSeq,
          anchorDigestSeq: Number(anchor.digest_seq),
        },
        responseElements: null,
        errorCode: null,
        errorMessage: null,
        requestID: randomUUID(),
        recipientAccountId: accountId,
        resources: [],
      };
      await this.writer.appendIn(tx, [record]);
      const removedEvents = rowsAffected(removed);
      this.logger.info({ accountId, throughSeq, removedEvents }, 'pruned audit events past retention');
      return { accountId, throughSeq, removedEvents };
    });
  }
}
