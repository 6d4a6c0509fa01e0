/**
 * Log offsets count UTF-8 bytes (as PostgreSQL's `octet_length` does), so every cut of a log
 * must fall on a character boundary, or a reader would get half a character.
 */

/** True when `index` of `bytes` starts a character (or is the end). */
export function isCharBoundary(bytes: Uint8Array, index: number): boolean {
  return index <= 0 || index >= bytes.length || (bytes[index] & 0xc0) !== 0x80;
}

/** The nearest character boundary at or before `index`. */
export function boundaryAtOrBefore(bytes: Uint8Array, index: number): number {
  let end = Math.min(Math.max(index, 0), bytes.length);
  while (!isCharBoundary(bytes, end)) end -= 1;
  return end;
}

/** The nearest character boundary at or after `index`. */
export function boundaryAtOrAfter(bytes: Uint8Array, index: number): number {
  let start = Math.min(Math.max(index, 0), bytes.length);
  while (!isCharBoundary(bytes, start)) start += 1;
  return start;
}
