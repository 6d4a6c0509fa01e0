import type { DataSource, EntityManager } from 'typeorm';
import { poolOf } from '../platform/db/pool';
import type { Logger } from '../platform/logger';
import type { Metrics } from '../platform/metrics/metrics';
import { contentDigest } from './audit-hash';
import type { AuditRecord } from './audit-record';

interface Pending {
  record: AuditRecord;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Appends audit events to their accounts' hash chains, through the database function
 * `audit_append` (migrations/…-audit-trail.ts): one statement per batch, which chains, inserts
 * and moves the heads, so a chain head stays locked for as short a time as possible.
 *
 * - `appendIn(tx, …)` / `appendStatement(…)` write inside the caller's transaction: a
 *   mutation's event commits or rolls back with the mutation.
 * - `record(…)` group-commits: while one batch is being written, new events queue up and go
 *   together in the next batch; the promise settles once its batch committed, so a response is
 *   never sent before its event is stored.
 */
export class AuditWriter {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  /** Benchmarks only (bench/audit.ts): write nothing, to measure what auditing costs. */
  private benchmarkBypass = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly logger: Logger,
    private readonly metrics?: Metrics,
    private readonly maxBatch = 500,
  ) {}

  /** Events waiting for the next batch (the one being written is not counted). */
  get queueDepth(): number {
    return this.queue.length;
  }

  setBenchmarkBypass(on: boolean): void {
    this.benchmarkBypass = on;
  }

  /** Appends `records` inside `tx`; the account's chain head stays locked until `tx` ends. */
  async appendIn(tx: EntityManager, records: AuditRecord[]): Promise<void> {
    if (this.benchmarkBypass || !records.length) return;
    await append(tx, records);
  }

  /**
   * The append as one SQL statement with its values inlined (escaped), for a unit of work to
   * send in the same round trip as its COMMIT (Db.unitOfWork's finalStatement): the chain head
   * is then locked only while PostgreSQL appends and commits, never while the application is
   * between statements. Undefined when not auditing.
   */
  appendStatement(records: AuditRecord[]): string | undefined {
    if (this.benchmarkBypass || !records.length) return undefined;
    const columns = appendColumns(records);
    return `SELECT audit_append(${APPEND_TYPES.map((type, k) => sqlArray(columns[k], type)).join(', ')})`;
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
        const started = performance.now();
        try {
          // A single statement commits on its own: no BEGIN/COMMIT round trips.
          await poolOf(this.dataSource).query(APPEND_SQL, appendColumns(batch.map((p) => p.record)));
          this.metrics?.observeAuditFlush(batch.length, (performance.now() - started) / 1000, true);
          batch.forEach((p) => p.resolve());
        } catch (err) {
          this.metrics?.observeAuditFlush(batch.length, (performance.now() - started) / 1000, false);
          this.logger.error({ err, events: batch.length }, 'audit batch failed');
          batch.forEach((p) => p.reject(err));
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }
}

/** The SQL types of audit_append's arguments, in order. */
const APPEND_TYPES = [
  'text',
  'uuid',
  'timestamptz',
  'text',
  'boolean',
  'text',
  'text',
  'json',
  'text',
  'integer',
  'text',
] as const;

type Cell = string | number | boolean | null;

/** audit_append's arguments: one array per column, plus the resources as (event number, ARN) pairs. */
function appendColumns(records: AuditRecord[]): Cell[][] {
  const columns: Cell[][] = APPEND_TYPES.map(() => []);
  records.forEach((r, index) => {
    const text = JSON.stringify(r);
    const row: Cell[] = [
      r.recipientAccountId,
      r.eventID,
      r.eventTime,
      r.eventName,
      r.readOnly,
      r.userIdentity.arn ?? null,
      r.errorCode,
      text,
      contentDigest(text),
    ];
    row.forEach((cell, k) => columns[k].push(cell));
    for (const resource of r.resources) {
      columns[9].push(index + 1);
      columns[10].push(resource.ARN);
    }
  });
  return columns;
}

const APPEND_SQL = `SELECT audit_append(${APPEND_TYPES.map((type, k) => `$${k + 1}::${type}[]`).join(', ')})`;

async function append(manager: EntityManager, records: AuditRecord[]): Promise<void> {
  await manager.query(APPEND_SQL, appendColumns(records));
}

function sqlArray(values: Cell[], type: string): string {
  const items = values.map((v) => (v === null ? 'NULL' : typeof v === 'string' ? sqlLiteral(v) : String(v)));
  return `ARRAY[${items.join(', ')}]::${type}[]`;
}

/**
 * A string as an SQL literal in E'' form, which means the same whatever
 * standard_conforming_strings is (pg's escapeLiteral walks the string a character at a time;
 * this runs on every mutation).
 */
function sqlLiteral(text: string): string {
  return `E'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
