/** CloudTrail's own placeholder for values it does not record. */
export const HIDDEN = 'HIDDEN_DUE_TO_SECURITY_REASONS';

/**
 * Member names whose values are secrets wherever they appear (passwords, keys, tokens), matched
 * after lower-casing and removing `_`, `-`, `.` and spaces, so `GitHubToken`, `api_key`,
 * `Private-Key` and `AUTHORIZATION` all count. Not a bare "key": tags have a `key`.
 */
const SECRET_NAME =
  /password|passwd|passphrase|secret|token|apikey|privatekey|signingkey|sessionkey|credential|authorization|signature|cookie|^pwd$/;

/** Members that hold the value of a `{ name | key, value | defaultValue }` pair. */
const PAIR_NAME = ['name', 'key'] as const;
const PAIR_VALUE = ['value', 'defaultValue'] as const;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name.toLowerCase().replace(/[\s_.-]/g, ''));
}

/**
 * The user-info of URLs (`https://user:token@host/…`, `ssh://token@host`): replaced whole, as
 * either half may be the secret (`https://<token>@github.com`). The scheme must start a word,
 * and the user-info cannot cross `/ ? #` or whitespace, so this runs in linear time.
 */
const URL_CREDENTIALS = /(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*:\/\/)[^\s/?#]*@/gi;

/** `text` with the credentials of any URL in it hidden; the rest of each URL kept. */
export function maskUrlCredentials(text: string): string {
  if (!text.includes('://') || !text.includes('@')) return text;
  return text.replace(URL_CREDENTIALS, `$1${HIDDEN}@`);
}

/** Larger parameter or response documents are replaced by a note of their size. */
export const MAX_DOCUMENT_BYTES = 64 * 1024;

/**
 * A deep copy fit for the audit trail: secrets replaced by HIDDEN — values of secret-named
 * members at any depth (pipeline `configuration` included), the value of a `{name, value}`
 * pair whose name is secret-like (pipeline variables, tags), credentials inside URLs in any
 * string — Dates as ISO strings, class instances as plain objects, functions and undefined
 * dropped.
 */
export function redact(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(redact);
  if (typeof value === 'object') {
    const members = value as Record<string, unknown>;
    const pairName = PAIR_NAME.map((k) => members[k]).find((v) => typeof v === 'string');
    const secretPair = typeof pairName === 'string' && isSecretName(pairName);
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(members)) {
      if (item === undefined || typeof item === 'function') continue;
      const secret = isSecretName(key) || (secretPair && (PAIR_VALUE as readonly string[]).includes(key));
      out[key] = secret && item !== null ? HIDDEN : redact(item);
    }
    return out;
  }
  // jsonb cannot hold NUL characters; a request must not be able to make its own audit fail.
  if (typeof value === 'string')
    return maskUrlCredentials(value.includes('\u0000') ? value.split('\u0000').join('\uFFFD') : value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function' || typeof value === 'symbol') return null;
  return value;
}

/** A response larger than this keeps only its top-level scalar members (name, arn, version…). */
export const MAX_RESPONSE_BYTES = 2 * 1024;

/** redact(), then cap the size so one huge request cannot bloat the trail. */
export function auditDocument(value: unknown, maxBytes = MAX_DOCUMENT_BYTES): unknown {
  const clean = redact(value);
  const size = Buffer.byteLength(JSON.stringify(clean) ?? 'null');
  if (size <= maxBytes) return clean;
  if (clean && typeof clean === 'object' && !Array.isArray(clean)) {
    // What was answered, without repeating a large document the request already holds
    // (an updatePipeline answers with the whole declaration it was sent).
    const scalars = Object.entries(clean).filter(([, v]) => v === null || typeof v !== 'object');
    return { ...Object.fromEntries(scalars), truncated: true, sizeBytes: size };
  }
  return { truncated: true, sizeBytes: size };
}
