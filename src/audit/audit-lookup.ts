import type { DataSource } from 'typeorm';
import { decodeCursor, pageSize, toConnection, type Connection } from '../platform/pagination';
import { BadInputError } from '../platform/errors';
import type { AuditRecord } from './audit-record';

export interface AuditFilter {
  eventName?: string | null;
  principalArn?: string | null;
  resourceArn?: string | null;
  readOnly?: boolean | null;
  errorCode?: string | null;
  from?: Date | null;
  to?: Date | null;
}

export interface StoredAuditEvent {
  seq: number;
  record: AuditRecord;
}

/**
 * auditEvents: one account's events, newest first, by the indexed columns. A resource filter
 * is driven from audit_event_resources (one index range scan in seq order), anything else from
 * audit_events' own indexes.
 */
export class AuditLookup {
  constructor(private readonly dataSource: DataSource) {}

  async find(
    accountId: string,
    filter: AuditFilter,
    first: number | null | undefined,
    after: string | null | undefined,
  ): Promise<Connection<StoredAuditEvent>> {
    const size = pageSize(first);
    const cursor = decodeCursor(after);
    if (cursor !== undefined && !/^\d+$/.test(cursor)) {
      throw BadInputError.of('Page', [{ path: 'after', message: 'is not a cursor this list returned' }]);
    }
    if (filter.from && filter.to && filter.from > filter.to) {
      throw BadInputError.of('Filter', [{ path: 'filter.from', message: 'must not be after filter.to' }]);
    }
    const params: unknown[] = [accountId];
    const where: string[] = ['e.account_id = $1'];
    const add = (sql: string, value: unknown): void => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    let from = 'audit_events e';
    let order = 'e.seq';
    if (filter.resourceArn) {
      from = 'audit_event_resources r JOIN audit_events e ON e.account_id = r.account_id AND e.seq = r.seq';
      order = 'r.seq';
      add('r.account_id = ?', accountId);
      add('r.resource_arn = ?', filter.resourceArn);
    }
    if (filter.eventName) add('e.event_name = ?', filter.eventName);
    if (filter.principalArn) add('e.principal_arn = ?', filter.principalArn);
    if (filter.readOnly !== undefined && filter.readOnly !== null) add('e.read_only = ?', filter.readOnly);
    if (filter.errorCode) add('e.error_code = ?', filter.errorCode);
    if (filter.from) add('e.event_time >= ?', filter.from);
    if (filter.to) add('e.event_time <= ?', filter.to);
    if (cursor !== undefined) add(`${order} < ?`, cursor);
    params.push(size + 1);
    const rows: { seq: string; event: AuditRecord }[] = await this.dataSource.query(
      `SELECT e.seq, e.event FROM ${from} WHERE ${where.join(' AND ')} ORDER BY ${order} DESC LIMIT $${params.length}`,
      params,
    );
    return toConnection(
      rows.map((r) => ({ seq: Number(r.seq), record: r.event })),
      size,
      (e) => String(e.seq),
    );
  }
}
