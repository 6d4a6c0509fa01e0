import type { DataSource, EntityManager } from 'typeorm';
import type { Logger } from '../platform/logger';
import { eventHash, GENESIS_HASH } from './audit-hash';
import type { AuditRecord } from './audit-record';

interface Pending {
  record: AuditRecord;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** The account whose chain a record belongs to. */
function accountOf(record: AuditRecord): string {
  return record.recipientAccountId;
}

/**
 * Appends audit events to their accounts' hash chains.
 *
 * - `appendIn(tx, …)` writes inside the caller's transaction: a mutation's event commits or
 *   rolls back with the mutation.
 * - `record(…)` group-commits: while one batch is being written, new events queue up and go
 *   together in the next multi-row insert; the promise settles once its batch committed, so a
 *   response is never sent before its event is stored.
 *
 * Writers agree on order by locking the account's row in `audit_chain_heads`; the lock is held
 * only from the append to the commit.
 */
export class AuditWriter {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  /** Benchmarks only (bench/audit.ts): write nothing, to measure what auditing costs. */
  private benchmarkBypass = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly logger: Logger,
    private readonly maxBatch = 500,
  ) {}

  setBenchmarkBypass(on: boolean): void {
    this.benchmarkBypass = on;
  }

  async appendIn(tx: EntityManager, records: AuditRecord[]): Promise<void> {
    if (this.benchmarkBypass || !records.length) return;
    await append(tx, records);
  }

  record(record: AuditRecord): Promise<void> {
    if (this.benchmarkBypass) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      this.flushing ??= this.flushLoop();
    });
  }

  /** Waits for everything queued so far (shutdown). */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          await this.dataSource.transaction((tx) =>
            append(
              tx,
              batch.map((p) => p.record),
            ),
          );
          batch.forEach((p) => p.resolve());
        } catch (err) {
          this.logger.error({ err, events: batch.length }, 'audit batch failed');
          batch.forEach((p) => p.reject(err));
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }
}

/** Chains and inserts `records` (any accounts) in `tx`. */
async function append(tx: EntityManager, records: AuditRecord[]): Promise<void> {
  const accounts = [...new Set(records.map(accountOf))].sort();
  await tx.query(
    `INSERT INTO audit_chain_heads (account_id, last_seq, last_hash)
     SELECT a, 0, $2 FROM unnest($1::text[]) a ON CONFLICT (account_id) DO NOTHING`,
    [accounts, GENESIS_HASH],
  );
  // Sorted, so two writers with overlapping accounts cannot deadlock.
  const heads: { account_id: string; last_seq: string; last_hash: string }[] = await tx.query(
    `SELECT account_id, last_seq, last_hash FROM audit_chain_heads
      WHERE account_id = ANY($1) ORDER BY account_id FOR UPDATE`,
    [accounts],
  );
  const head = new Map(heads.map((h) => [h.account_id, { seq: Number(h.last_seq), hash: h.last_hash }]));
  const rows = {
    account: [] as string[],
    seq: [] as number[],
    id: [] as string[],
    time: [] as string[],
    name: [] as string[],
    readOnly: [] as boolean[],
    principal: [] as (string | null)[],
    error: [] as (string | null)[],
    event: [] as string[],
    prev: [] as string[],
    hash: [] as string[],
  };
  const resources = { account: [] as string[], arn: [] as string[], seq: [] as number[] };
  for (const record of records) {
    const account = accountOf(record);
    const current = head.get(account)!;
    const seq = current.seq + 1;
    const hash = eventHash(account, seq, current.hash, record);
    rows.account.push(account);
    rows.seq.push(seq);
    rows.id.push(record.eventID);
    rows.time.push(record.eventTime);
    rows.name.push(record.eventName);
    rows.readOnly.push(record.readOnly);
    rows.principal.push(record.userIdentity.arn ?? null);
    rows.error.push(record.errorCode);
    rows.event.push(JSON.stringify(record));
    rows.prev.push(current.hash);
    rows.hash.push(hash);
    for (const arn of new Set(record.resources.map((r) => r.ARN))) {
      resources.account.push(account);
      resources.arn.push(arn);
      resources.seq.push(seq);
    }
    head.set(account, { seq, hash });
  }
  await tx.query(
    `INSERT INTO audit_events
       (account_id, seq, event_id, event_time, event_name, read_only, principal_arn, error_code, event, prev_hash, hash)
     SELECT * FROM unnest($1::char(12)[], $2::bigint[], $3::uuid[], $4::timestamptz[], $5::text[], $6::boolean[],
                          $7::text[], $8::text[], $9::jsonb[], $10::text[], $11::text[])`,
    [
      rows.account,
      rows.seq,
      rows.id,
      rows.time,
      rows.name,
      rows.readOnly,
      rows.principal,
      rows.error,
      rows.event,
      rows.prev,
      rows.hash,
    ],
  );
  if (resources.arn.length) {
    await tx.query(
      `INSERT INTO audit_event_resources (account_id, resource_arn, seq)
       SELECT * FROM unnest($1::char(12)[], $2::text[], $3::bigint[])`,
      [resources.account, resources.arn, resources.seq],
    );
  }
  const accountsOut = [...head.keys()];
  await tx.query(
    `UPDATE audit_chain_heads h SET last_seq = v.seq, last_hash = v.hash
       FROM unnest($1::text[], $2::bigint[], $3::text[]) AS v(account_id, seq, hash)
      WHERE h.account_id = v.account_id`,
    [accountsOut, accountsOut.map((a) => head.get(a)!.seq), accountsOut.map((a) => head.get(a)!.hash)],
  );
}
