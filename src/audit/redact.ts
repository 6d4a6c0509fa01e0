/** CloudTrail's own placeholder for values it does not record. */
export const HIDDEN = 'HIDDEN_DUE_TO_SECURITY_REASONS';

/** Member names whose values are secrets wherever they appear (passwords, keys, tokens). */
const SECRET_NAME = /(password|secret|token|credential|privatekey|private_key|signature)/i;

/** Larger parameter or response documents are replaced by a note of their size. */
export const MAX_DOCUMENT_BYTES = 64 * 1024;

/**
 * A deep copy fit for the audit trail: secrets replaced by HIDDEN, Dates as ISO strings,
 * class instances as plain objects, functions and undefined dropped.
 */
export function redact(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(redact);
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      if (item === undefined || typeof item === 'function') continue;
      out[key] = SECRET_NAME.test(key) && item !== null ? HIDDEN : redact(item);
    }
    return out;
  }
  // jsonb cannot hold NUL characters; a request must not be able to make its own audit fail.
  if (typeof value === 'string')
    return value.includes('\u0000') ? value.split('\u0000').join('\uFFFD') : value;
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
