import fs from 'node:fs';
import path from 'node:path';
import type { DataSource } from 'typeorm';

/** Digests are read again from this long before the last look: commits land late, clocks differ. */
const SLACK_MS = 5 * 60_000;

interface Saved {
  lookedAt: string | null;
  accounts: Record<string, number>;
}

/**
 * The highest digest number this instance has seen for each account, kept in the data folder
 * (which the database user cannot write).
 *
 * Digests are never deleted, so fewer digests than seen means someone removed them behind the
 * triggers. Without this memory, whoever deleted the digests of a rewritten stretch of the
 * chain would only have to wait: the sealer would sign the rewritten chain as if it were new.
 * With it, the sealer refuses to seal that account and validateAuditTrail reports
 * DIGESTS_REMOVED. Each sealing pass also reads the digests other instances wrote since the
 * last pass, so every instance knows about every digest written while it runs.
 */
export class DigestWatermarks {
  private readonly highest = new Map<string, number>();
  private lookedAt: Date | null = null;
  private dirty = false;

  constructor(private readonly file: string | undefined) {
    if (!file || !fs.existsSync(file)) return;
    let saved: Saved;
    try {
      saved = JSON.parse(fs.readFileSync(file, 'utf8')) as Saved;
    } catch (err) {
      throw new Error(`${file} cannot be read (${(err as Error).message}); remove it to start afresh`);
    }
    this.lookedAt = saved.lookedAt ? new Date(saved.lookedAt) : null;
    for (const [accountId, seq] of Object.entries(saved.accounts)) this.highest.set(accountId, seq);
  }

  /** The highest digest number seen for the account (0: none). */
  seen(accountId: string): number {
    return this.highest.get(accountId) ?? 0;
  }

  advance(accountId: string, digestSeq: number): void {
    if (digestSeq <= this.seen(accountId)) return;
    this.highest.set(accountId, digestSeq);
    this.dirty = true;
  }

  /** Learns the digests written (by any instance) since the last look; the first look reads them all. */
  async refresh(dataSource: DataSource): Promise<void> {
    const now = new Date();
    const rows: { account_id: string; digest_seq: string }[] = this.lookedAt
      ? await dataSource.query(
          'SELECT account_id, max(digest_seq) AS digest_seq FROM audit_digests WHERE created_at >= $1 GROUP BY account_id',
          [new Date(this.lookedAt.getTime() - SLACK_MS)],
        )
      : await dataSource.query(
          'SELECT account_id, max(digest_seq) AS digest_seq FROM audit_digests GROUP BY account_id',
        );
    for (const row of rows) this.advance(row.account_id, Number(row.digest_seq));
    this.lookedAt = now;
    this.dirty = true;
  }

  /** Writes the marks to the data folder when they changed (atomically: write, then rename). */
  save(): void {
    if (!this.file || !this.dirty) return;
    const saved: Saved = {
      lookedAt: this.lookedAt?.toISOString() ?? null,
      accounts: Object.fromEntries(this.highest),
    };
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const temporary = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, JSON.stringify(saved), { mode: 0o600 });
    fs.renameSync(temporary, this.file);
    this.dirty = false;
  }
}
