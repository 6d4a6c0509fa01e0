import type { DataSource } from 'typeorm';
import type { TokenService } from '../iam/identity/token.service';
import type { Logger } from '../platform/logger';
import { digestHash, GENESIS_HASH } from './audit-hash';
import type { DigestWatermarks } from './digest-watermarks';

/**
 * Writes signed digests of each account's chain head: at least every `intervalSeconds`
 * (only for accounts whose chain grew) and once more at shutdown. A digest signs the last
 * event's hash and the previous digest's hash with the server key, so rewriting the chain
 * before it — even recomputing every hash — no longer matches what was signed.
 *
 * It never seals an account whose digests went backwards (see DigestWatermarks): that would
 * sign whatever someone rewrote after deleting the digests that contradicted it.
 */
export class AuditSealer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private readonly refused = new Set<string>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly tokens: TokenService,
    private readonly watermarks: DigestWatermarks,
    private readonly logger: Logger,
    private readonly intervalSeconds: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.seal().catch((err: unknown) => this.logger.error({ err }, 'sealing the audit trail failed'));
    }, this.intervalSeconds * 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.seal();
  }

  /** Seals every account whose chain grew since its last digest; returns how many digests it wrote. */
  seal(): Promise<number> {
    // One sealing pass at a time per instance; instances skip accounts another one is sealing.
    this.running ??= this.sealAll().finally(() => (this.running = undefined));
    return this.running;
  }

  private async sealAll(): Promise<number> {
    await this.watermarks.refresh(this.dataSource);
    const pending: { account_id: string }[] = await this.dataSource.query(
      `SELECT h.account_id FROM audit_chain_heads h
        WHERE h.last_seq > coalesce((SELECT max(d.last_event_seq) FROM audit_digests d WHERE d.account_id = h.account_id), 0)`,
    );
    let written = 0;
    try {
      for (const { account_id: accountId } of pending) {
        if (await this.sealAccount(accountId)) written++;
      }
    } finally {
      this.watermarks.save();
    }
    return written;
  }

  private async sealAccount(accountId: string): Promise<boolean> {
    const digestSeq = await this.dataSource.transaction(async (tx) => {
      const [{ locked }] = (await tx.query(
        `SELECT pg_try_advisory_xact_lock(hashtext('audit-seal:' || $1)) AS locked`,
        [accountId],
      )) as { locked: boolean }[];
      if (!locked) return undefined;
      const [head] = (await tx.query(
        'SELECT last_seq, last_hash FROM audit_chain_heads WHERE account_id = $1',
        [accountId],
      )) as { last_seq: string; last_hash: string }[];
      const [last] = (await tx.query(
        'SELECT digest_seq, last_event_seq, digest_hash FROM audit_digests WHERE account_id = $1 ORDER BY digest_seq DESC LIMIT 1',
        [accountId],
      )) as { digest_seq: string; last_event_seq: string; digest_hash: string }[];
      if (!head || (last && Number(last.last_event_seq) >= Number(head.last_seq))) return undefined;
      const lastSeq = last ? Number(last.digest_seq) : 0;
      if (lastSeq < this.watermarks.seen(accountId)) {
        if (!this.refused.has(accountId)) {
          this.refused.add(accountId);
          this.logger.error(
            { accountId, digestSeq: lastSeq, seen: this.watermarks.seen(accountId) },
            'audit digests were removed behind the triggers: not sealing this account again (run validateAuditTrail)',
          );
        }
        return undefined;
      }
      const content = {
        accountId,
        digestSeq: lastSeq + 1,
        lastEventSeq: Number(head.last_seq),
        lastEventHash: head.last_hash,
        previousDigestHash: last?.digest_hash ?? GENESIS_HASH,
        createdAt: new Date().toISOString(),
      };
      const hash = digestHash(content);
      const { kid, signature } = this.tokens.signDetached(hash);
      await tx.query(
        `INSERT INTO audit_digests (account_id, digest_seq, last_event_seq, last_event_hash, previous_digest_hash,
                                    digest_hash, created_at, kid, signature)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [
          accountId,
          content.digestSeq,
          content.lastEventSeq,
          content.lastEventHash,
          content.previousDigestHash,
          hash,
          content.createdAt,
          kid,
          signature,
        ],
      );
      return content.digestSeq;
    });
    if (digestSeq === undefined) return false;
    // After the commit: a mark never runs ahead of what a new snapshot can see.
    this.watermarks.advance(accountId, digestSeq);
    return true;
  }
}
