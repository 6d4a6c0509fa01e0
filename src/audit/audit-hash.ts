import { createHash } from 'node:crypto';

/** The hash before the first event of every account's chain. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * Canonical JSON: object keys sorted, no whitespace, `undefined` members dropped, so a digest
 * record hashes the same wherever it is rebuilt.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') {
    if (!Number.isFinite(value))
      throw new Error('canonical JSON has no representation for non-finite numbers');
    return JSON.stringify(value);
  }
  if (typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  throw new Error(`canonical JSON cannot represent a ${typeof value}`);
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * What the chain covers of an event's content: the SHA-256 of its JSON text, exactly as stored
 * (the column is `json`, which keeps the text byte for byte).
 */
export function contentDigest(eventJson: string): string {
  return sha256Hex(eventJson);
}

/**
 * An event's link in its account's chain: its position, its predecessor's hash and its content
 * digest. The database computes the same (audit_chain_hash in the audit-trail migration) when
 * it appends, under the lock that orders the account's events.
 */
export function chainHash(accountId: string, seq: number, prevHash: string, digest: string): string {
  return sha256Hex(`${accountId}|${seq}|${prevHash}|${digest}`);
}

/** chainHash of a whole event, given as its stored JSON text. */
export function eventHash(accountId: string, seq: number, prevHash: string, eventJson: string): string {
  return chainHash(accountId, seq, prevHash, contentDigest(eventJson));
}

export interface DigestContent {
  accountId: string;
  digestSeq: number;
  lastEventSeq: number;
  lastEventHash: string;
  previousDigestHash: string;
  createdAt: string;
}

/** What a digest signs: the chain head at a moment, chained to the previous digest. */
export function digestHash(digest: DigestContent): string {
  return sha256Hex(canonicalJson(digest));
}
