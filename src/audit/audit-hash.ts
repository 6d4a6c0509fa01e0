import { createHash } from 'node:crypto';

/** The hash before the first event of every account's chain. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * Canonical JSON: object keys sorted, no whitespace, `undefined` members dropped. Hashes are
 * computed over it so that a record read back from jsonb (which reorders keys) hashes the same.
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

/** An event's link in its account's chain: covers its position, its predecessor and its content. */
export function eventHash(accountId: string, seq: number, prevHash: string, event: unknown): string {
  return sha256Hex(canonicalJson({ accountId, seq, prevHash, event }));
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
