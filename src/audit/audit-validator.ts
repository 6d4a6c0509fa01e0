import type { DataSource } from 'typeorm';
import type { TokenService } from '../iam/identity/token.service';
import { chainHash, digestHash, GENESIS_HASH } from './audit-hash';
import type { AuditRecord } from './audit-record';
import type { DigestWatermarks } from './digest-watermarks';

/** Why a trail does not validate; one finding per kind of break, ordered by chain position. */
export type AuditFindingReason =
  /** A digest's hash, number, or link to the digest before it does not verify. */
  | 'DIGEST_INVALID'
  /** A digest signed with a key this server does not trust (for example one only in signing_keys). */
  | 'DIGEST_UNTRUSTED_KEY'
  /** Fewer digests than this server has seen written: digests were deleted. */
  | 'DIGESTS_REMOVED'
  /** A gap in the chain: the event before this one is missing. */
  | 'EVENT_MISSING'
  /** The event's content, link, searchable columns or resource rows changed, or it no longer hashes to what a digest signed. */
  | 'EVENT_ALTERED'
  /** Older than twice the digest interval, and no valid signed digest covers it. */
  | 'EVENT_UNSEALED'
  /** Events are missing at the start beyond what retention pruned. */
  | 'START_MISSING'
  /** The chain does not end where its head, or its last digest, says. */
  | 'END_MISMATCH';

export interface AuditFinding {
  reason: AuditFindingReason;
  message: string;
  /** The first event the finding concerns, when it still exists. */
  eventId: string | null;
  /** The digest the finding concerns, for digest findings. */
  digestSeq: number | null;
}

export interface AuditValidation {
  valid: boolean;
  checkedEvents: number;
  /** The first event that does not verify; null when valid, or when what is missing is the tail. */
  firstBrokenEventId: string | null;
  findings: AuditFinding[];
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

/** A finding before its event id is looked up: `seq` is the chain position it concerns. */
type Pending = Omit<AuditFinding, 'eventId'> & { seq: number | null };

const BATCH = 5000;

/**
 * validateAuditTrail: recomputes an account's chain and checks it against the signed digests.
 *
 * Catches, even when done by a superuser with the triggers bypassed: an edited row (its hash,
 * or its searchable columns no longer match its record), a removed row (a gap in seq, a broken
 * prev_hash link), an inserted row (a broken link, or — if the attacker rehashed everything
 * after it — a chain that no longer reaches the hashes the digests signed), removed or edited
 * digests (signatures, the digest chain, and the digests this server remembers), rows removed
 * at the start beyond what retention pruned, rows removed at the end (the chain head no longer
 * matches) — and a rewrite whose digests were deleted: every event older than twice the
 * digest interval must be covered by a valid signed digest, or it is EVENT_UNSEALED.
 */
export class AuditValidator {
  constructor(
    private readonly dataSource: DataSource,
    private readonly tokens: TokenService,
    private readonly watermarks: DigestWatermarks,
    private readonly digestSeconds: number,
  ) {}

  async validate(accountId: string, from?: Date | null, to?: Date | null): Promise<AuditValidation> {
    const sealedBefore = new Date(Date.now() - 2 * this.digestSeconds * 1000);
    // Read before the snapshot is taken: every digest counted here is then visible in it.
    await this.watermarks.refresh(this.dataSource);
    const digestsSeen = this.watermarks.seen(accountId);
    return this.dataSource.transaction('REPEATABLE READ', async (tx) => {
      const q = <T>(sql: string, params: unknown[]): Promise<T[]> => tx.query(sql, params);
      const findings: Pending[] = [];
      const finding = (
        reason: AuditFindingReason,
        seq: number | null,
        message: string,
        digestSeq: number | null = null,
      ): void => {
        findings.push({ reason, seq, message, digestSeq });
      };

      // 1. Digests: each signed by a trusted key, each chained to the one before. The first
      // that fails ends the trusted ones: what follows it is vouched for by nothing.
      const digests = await q<DigestRow>(
        'SELECT * FROM audit_digests WHERE account_id = $1 ORDER BY digest_seq',
        [accountId],
      );
      const good: DigestRow[] = [];
      let previous = GENESIS_HASH;
      for (const [i, d] of digests.entries()) {
        const digestSeq = Number(d.digest_seq);
        const after = (good.length ? Number(good[good.length - 1].last_event_seq) : 0) + 1;
        const content = {
          accountId,
          digestSeq,
          lastEventSeq: Number(d.last_event_seq),
          lastEventHash: d.last_event_hash,
          previousDigestHash: d.previous_digest_hash,
          createdAt: d.created_at.toISOString(),
        };
        if (!this.tokens.trusts(d.kid)) {
          finding(
            'DIGEST_UNTRUSTED_KEY',
            after,
            `digest ${digestSeq} is signed with key ${d.kid}, which this server does not trust`,
            digestSeq,
          );
          break;
        }
        const ok =
          digestSeq === i + 1 &&
          d.previous_digest_hash === previous &&
          digestHash(content) === d.digest_hash &&
          (await this.tokens.verifyDetached(d.kid, d.digest_hash, d.signature));
        if (!ok) {
          finding(
            'DIGEST_INVALID',
            after,
            `digest ${digestSeq} does not verify (signature, content or link to the digest before it)`,
            digestSeq,
          );
          break;
        }
        good.push(d);
        previous = d.digest_hash;
      }
      const lastGood = good.length ? Number(good[good.length - 1].last_event_seq) : 0;
      if (digests.length < digestsSeen) {
        finding(
          'DIGESTS_REMOVED',
          lastGood + 1,
          `this server has seen ${digestsSeen} digests of this account, the trail holds ${digests.length}`,
          digests.length + 1,
        );
      }
      const signedHashAt = new Map(good.map((d) => [Number(d.last_event_seq), d]));

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
      let checked = 0;
      if (bounds.min === null) {
        // No events: fine only if none were ever written.
        if (head && Number(head.last_seq) > 0)
          finding('END_MISMATCH', null, `the chain head says ${head.last_seq} events, none are stored`);
      } else {
        const minSeq = Number(bounds.min);
        let seq = minSeq;
        // null: take the first row's link as given (its predecessor is already reported missing).
        let prevHash: string | null = GENESIS_HASH;
        if (minSeq > 1) {
          // Retention removed the events before minSeq: a prune event must say so, and a digest
          // must anchor the first kept event.
          const anchor = signedHashAt.get(minSeq - 1);
          const pruned = await q<{ through: string }>(
            `SELECT event->'requestParameters'->>'throughSeq' AS through FROM audit_events
              WHERE account_id = $1 AND event_name = 'PruneAuditEvents' ORDER BY seq DESC LIMIT 1`,
            [accountId],
          );
          if (anchor === undefined || Number(pruned[0]?.through) !== minSeq - 1) {
            finding(
              'START_MISSING',
              minSeq,
              `events 1–${minSeq - 1} are missing and no prune accounts for them`,
            );
            prevHash = null;
          } else {
            prevHash = anchor.last_event_hash;
          }
        }
        if (from) {
          const firstInRange = (
            await q<{ seq: string | null }>(
              'SELECT min(seq) AS seq FROM audit_events WHERE account_id = $1 AND event_time >= $2',
              [accountId, from],
            )
          )[0].seq;
          const target = firstInRange === null ? Number(bounds.max) + 1 : Number(firstInRange);
          const anchor = good
            .filter((d) => Number(d.last_event_seq) < target && Number(d.last_event_seq) >= seq)
            .at(-1);
          if (anchor) {
            seq = Number(anchor.last_event_seq) + 1;
            prevHash = anchor.last_event_hash;
          }
        }

        // 3. Walk the chain up to its first break.
        let expected = seq;
        let walk: 'done' | 'broken' | 'stopped' = 'done';
        scan: for (;;) {
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
            if (to && row.event_time > to) {
              walk = 'stopped';
              break scan;
            }
            const record = row.event;
            const signed = signedHashAt.get(rowSeq);
            const problem =
              rowSeq !== expected
                ? ('EVENT_MISSING' as const)
                : (prevHash !== null && row.prev_hash !== prevHash) ||
                    chainHash(accountId, rowSeq, row.prev_hash, row.content_digest) !== row.hash
                  ? 'its content or its link to the event before it changed'
                  : signed && signed.last_event_hash !== row.hash
                    ? `it no longer hashes to what digest ${signed.digest_seq} signed`
                    : !columnsMatch(row, record)
                      ? 'its searchable columns disagree with its record'
                      : !sameSet(
                            resources.get(rowSeq) ?? [],
                            record.resources.map((r) => r.ARN),
                          )
                        ? 'its resource rows disagree with its record'
                        : undefined;
            if (problem === 'EVENT_MISSING') {
              finding(problem, rowSeq, `events ${expected}–${rowSeq - 1} are missing`);
            } else if (problem) {
              finding('EVENT_ALTERED', rowSeq, `event ${rowSeq}: ${problem}`);
            }
            if (problem) {
              walk = 'broken';
              break scan;
            }
            if (!from || row.event_time >= from) checked++;
            prevHash = row.hash;
            expected = rowSeq + 1;
          }
        }

        // 4. The chain must end where its head says, and reach every signed digest.
        if (walk === 'done') {
          const lastSeq = expected - 1;
          if (!head || Number(head.last_seq) !== lastSeq || head.last_hash !== prevHash) {
            const beyond = head && Number(head.last_seq) < lastSeq ? Number(head.last_seq) + 1 : null;
            finding(
              'END_MISMATCH',
              beyond,
              `the chain ends at ${lastSeq}, its head says ${head?.last_seq ?? 0}`,
            );
          } else if (lastGood > lastSeq) {
            finding('END_MISMATCH', null, `the chain ends at ${lastSeq}, a digest signed up to ${lastGood}`);
          }
        }
      }

      // 5. Every event old enough to have been sealed must be covered by a trusted digest.
      const params: unknown[] = [accountId, lastGood, sealedBefore];
      if (from) params.push(from);
      if (to) params.push(to);
      const [unsealed] = await q<{ seq: string }>(
        `SELECT seq FROM audit_events WHERE account_id = $1 AND seq > $2 AND event_time < $3
          ${from ? 'AND event_time >= $4' : ''} ${to ? `AND event_time <= $${params.length}` : ''}
          ORDER BY seq LIMIT 1`,
        params,
      );
      if (unsealed) {
        finding(
          'EVENT_UNSEALED',
          Number(unsealed.seq),
          `event ${unsealed.seq} and those after it are older than twice the digest interval and no valid signed digest covers them`,
        );
      }

      // Findings in chain order; the first that names an existing event names the broken one.
      const resolved: (AuditFinding & { seq: number | null })[] = [];
      for (const f of findings) {
        const eventId =
          f.seq === null
            ? null
            : ((
                await q<{ event_id: string }>(
                  'SELECT event_id FROM audit_events WHERE account_id = $1 AND seq = $2',
                  [accountId, f.seq],
                )
              )[0]?.event_id ?? null);
        resolved.push({ ...f, eventId });
      }
      resolved.sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity));
      return {
        valid: resolved.length === 0,
        checkedEvents: checked,
        firstBrokenEventId: resolved.find((f) => f.eventId !== null)?.eventId ?? null,
        findings: resolved.map(({ reason, message, eventId, digestSeq }) => ({
          reason,
          message,
          eventId,
          digestSeq,
        })),
      };
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
