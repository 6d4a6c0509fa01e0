import type { DataSource } from 'typeorm';
import type { TokenService } from '../iam/identity/token.service';
import { chainHash, digestHash, GENESIS_HASH } from './audit-hash';
import type { AuditRecord } from './audit-record';

export interface AuditValidation {
  valid: boolean;
  checkedEvents: number;
  /** The first event that does not verify; null when valid, or when what is missing is the tail. */
  firstBrokenEventId: string | null;
}

interface DigestRow {
  digest_seq: string;
  last_event_seq: string;
  last_event_hash: string;
  previous_digest_hash: string;
  digest_hash: string;
  created_at: Date;
  kid: string;
  signature: string;
}

interface EventRow {
  seq: string;
  event_id: string;
  event_time: Date;
  event_name: string;
  read_only: boolean;
  principal_arn: string | null;
  error_code: string | null;
  event: AuditRecord;
  prev_hash: string;
  hash: string;
  /** SHA-256 of the stored JSON text, as it is now. */
  content_digest: string;
}

const BATCH = 5000;

/**
 * validateAuditTrail: recomputes an account's chain and checks it against the signed digests.
 *
 * Catches, even when done by a superuser with the triggers bypassed: an edited row (its hash,
 * or its searchable columns no longer match its record), a removed row (a gap in seq, a broken
 * prev_hash link), an inserted row (a broken link, or — if the attacker rehashed everything
 * after it — a chain that no longer reaches the hashes the digests signed), removed or edited
 * digests (signatures and the digest chain), rows removed at the start beyond what retention
 * pruned, and rows removed at the end (the chain head no longer matches).
 */
export class AuditValidator {
  constructor(
    private readonly dataSource: DataSource,
    private readonly tokens: TokenService,
  ) {}

  async validate(accountId: string, from?: Date | null, to?: Date | null): Promise<AuditValidation> {
    return this.dataSource.transaction('REPEATABLE READ', async (tx) => {
      const q = <T>(sql: string, params: unknown[]): Promise<T[]> => tx.query(sql, params);
      const eventIdAt = async (seq: number): Promise<string | null> =>
        (
          await q<{ event_id: string }>(
            'SELECT event_id FROM audit_events WHERE account_id = $1 AND seq = $2',
            [accountId, seq],
          )
        )[0]?.event_id ?? null;
      const broken = async (seq: number | null, checkedEvents: number): Promise<AuditValidation> => ({
        valid: false,
        checkedEvents,
        firstBrokenEventId: seq === null ? null : await eventIdAt(seq),
      });

      // 1. Digests: each signed, each chained to the one before.
      const digests = await q<DigestRow>(
        'SELECT * FROM audit_digests WHERE account_id = $1 ORDER BY digest_seq',
        [accountId],
      );
      let previous = GENESIS_HASH;
      for (const [i, d] of digests.entries()) {
        const content = {
          accountId,
          digestSeq: Number(d.digest_seq),
          lastEventSeq: Number(d.last_event_seq),
          lastEventHash: d.last_event_hash,
          previousDigestHash: d.previous_digest_hash,
          createdAt: d.created_at.toISOString(),
        };
        const ok =
          content.digestSeq === i + 1 &&
          d.previous_digest_hash === previous &&
          digestHash(content) === d.digest_hash &&
          (await this.tokens.verifyDetached(d.kid, d.digest_hash, d.signature));
        if (!ok) return broken(Number(d.last_event_seq), 0);
        previous = d.digest_hash;
      }
      const signedHashAt = new Map(digests.map((d) => [Number(d.last_event_seq), d.last_event_hash]));

      // 2. Where to start: the chain's beginning, or the last digest before `from`.
      const bounds = (
        await q<{ min: string | null; max: string | null }>(
          'SELECT min(seq) AS min, max(seq) AS max FROM audit_events WHERE account_id = $1',
          [accountId],
        )
      )[0];
      const head = (
        await q<{ last_seq: string; last_hash: string }>(
          'SELECT last_seq, last_hash FROM audit_chain_heads WHERE account_id = $1',
          [accountId],
        )
      )[0];
      if (bounds.min === null) {
        // No events: fine only if none were ever written.
        return head && Number(head.last_seq) > 0
          ? broken(null, 0)
          : { valid: true, checkedEvents: 0, firstBrokenEventId: null };
      }
      const minSeq = Number(bounds.min);
      let seq = minSeq;
      let prevHash = GENESIS_HASH;
      if (minSeq > 1) {
        // Retention removed the events before minSeq: a prune event must say so, and a digest
        // must anchor the first kept event.
        const anchor = signedHashAt.get(minSeq - 1);
        const pruned = await q<{ through: string }>(
          `SELECT event->'requestParameters'->>'throughSeq' AS through FROM audit_events
            WHERE account_id = $1 AND event_name = 'PruneAuditEvents' ORDER BY seq DESC LIMIT 1`,
          [accountId],
        );
        if (anchor === undefined || Number(pruned[0]?.through) !== minSeq - 1) return broken(minSeq, 0);
        prevHash = anchor;
      }
      if (from) {
        const firstInRange = (
          await q<{ seq: string | null }>(
            'SELECT min(seq) AS seq FROM audit_events WHERE account_id = $1 AND event_time >= $2',
            [accountId, from],
          )
        )[0].seq;
        const target = firstInRange === null ? Number(bounds.max) + 1 : Number(firstInRange);
        const anchor = digests
          .filter((d) => Number(d.last_event_seq) < target && Number(d.last_event_seq) >= seq)
          .at(-1);
        if (anchor) {
          seq = Number(anchor.last_event_seq) + 1;
          prevHash = anchor.last_event_hash;
        }
      }

      // 3. Walk the chain.
      let checked = 0;
      let expected = seq;
      for (;;) {
        const rows = await q<EventRow>(
          `SELECT seq, event_id, event_time, event_name, read_only, principal_arn, error_code, event, prev_hash, hash,
                  encode(sha256(convert_to(event::text, 'UTF8')), 'hex') AS content_digest
             FROM audit_events WHERE account_id = $1 AND seq >= $2 ORDER BY seq LIMIT ${BATCH}`,
          [accountId, expected],
        );
        if (!rows.length) break;
        const resources = new Map(
          (
            await q<{ seq: string; arns: string[] }>(
              `SELECT seq, array_agg(resource_arn ORDER BY resource_arn) AS arns FROM audit_event_resources
                WHERE account_id = $1 AND seq BETWEEN $2 AND $3 GROUP BY seq`,
              [accountId, rows[0].seq, rows[rows.length - 1].seq],
            )
          ).map((r) => [Number(r.seq), r.arns]),
        );
        for (const row of rows) {
          const rowSeq = Number(row.seq);
          if (to && row.event_time > to)
            return { valid: true, checkedEvents: checked, firstBrokenEventId: null };
          const record = row.event;
          const ok =
            rowSeq === expected &&
            row.prev_hash === prevHash &&
            chainHash(accountId, rowSeq, prevHash, row.content_digest) === row.hash &&
            (signedHashAt.get(rowSeq) ?? row.hash) === row.hash &&
            columnsMatch(row, record) &&
            sameSet(
              resources.get(rowSeq) ?? [],
              record.resources.map((r) => r.ARN),
            );
          if (!ok) return { valid: false, checkedEvents: checked, firstBrokenEventId: row.event_id };
          if (!from || row.event_time >= from) checked++;
          prevHash = row.hash;
          expected = rowSeq + 1;
        }
      }
      // 4. The chain must end where its head says, and reach every signed digest.
      const lastSigned = digests.length ? Number(digests[digests.length - 1].last_event_seq) : 0;
      if (
        !head ||
        Number(head.last_seq) !== expected - 1 ||
        head.last_hash !== prevHash ||
        lastSigned > expected - 1
      ) {
        return { valid: false, checkedEvents: checked, firstBrokenEventId: null };
      }
      return { valid: true, checkedEvents: checked, firstBrokenEventId: null };
    });
  }
}

function columnsMatch(row: EventRow, record: AuditRecord): boolean {
  return (
    row.event_id === record.eventID &&
    row.event_time.getTime() === new Date(record.eventTime).getTime() &&
    row.event_name === record.eventName &&
    row.read_only === record.readOnly &&
    row.principal_arn === (record.userIdentity.arn ?? null) &&
    row.error_code === record.errorCode
  );
}

function sameSet(a: string[], b: string[]): boolean {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((x) => right.has(x));
}
