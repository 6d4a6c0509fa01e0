import { StaleJobError } from './job-errors';
import { boundaryAtOrBefore } from './utf8';
import { DomainError } from '../platform/errors';

/** Room kept under the budget for the truncation notice. */
const noticeReserve = 256;
/** Largest chunk sent at once (the queue accepts up to 1 MiB). */
const chunkBytes = 256 * 1024;
const loneSurrogate = /[\uD800-\uDFFF]/;

export type SendLogChunk = (offset: number, text: string) => Promise<{ nextOffset: number }>;

/**
 * A job's log on the worker side: `write` buffers (never blocks, never throws), `flush` sends
 * what is buffered by offset, one chunk at a time and in order. A chunk leaves the buffer
 * only once stored, so after a failed flush the next one resends it at the same offset, which
 * the queue treats as a no-op if the first try did land.
 *
 * The attempt may add `budget` bytes (the action's log limit minus what earlier attempts
 * logged); past that, output is dropped after one notice saying so.
 */
export class JobLogWriter {
  private pending = '';
  private nextOffset: number;
  private accepted = 0;
  private truncated = false;
  /** The queue refused the log (its own limit): later output is dropped. */
  private refused = false;
  private closed = false;
  private sending: Promise<void> | undefined;

  constructor(
    private readonly send: SendLogChunk,
    startOffset: number,
    private readonly budget: number,
    private readonly maxLogBytes: number,
  ) {
    this.nextOffset = startOffset;
  }

  write(text: string): void {
    if (this.closed || this.truncated || this.refused || text === '') return;
    // PostgreSQL text holds no NUL; lone surrogates are made U+FFFD now (as UTF-8 would), so
    // a character boundary in bytes is one in UTF-16 too.
    let clean = text.includes('\0') ? text.replace(/\0/g, '\uFFFD') : text;
    if (loneSurrogate.test(clean)) clean = Buffer.from(clean, 'utf8').toString('utf8');
    const bytes = Buffer.byteLength(clean, 'utf8');
    const room = this.budget - noticeReserve - this.accepted;
    if (bytes <= room) {
      this.pending += clean;
      this.accepted += bytes;
      return;
    }
    this.truncated = true;
    const head = room > 0 ? headOf(clean, room) : '';
    const notice =
      `${head === '' || head.endsWith('\n') ? '' : '\n'}[Sluice] Log truncated: the action's log reached ` +
      `its limit of ${this.maxLogBytes} bytes (maxLogBytes); later output is dropped\n`;
    const tail = head + notice;
    const tailBytes = Buffer.byteLength(tail, 'utf8');
    if (this.accepted + tailBytes <= this.budget) {
      this.pending += tail;
      this.accepted += tailBytes;
    }
  }

  /**
   * Sends everything buffered so far. Rejects with the queue's error (StaleJobError: the job
   * is lost); the buffer is kept for the next flush, except when the queue refused the log
   * for its size, after which the log is dropped.
   */
  async flush(): Promise<void> {
    while (this.sending) await this.sending.catch(() => undefined);
    if (this.pending === '' || this.refused) return;
    this.sending = this.sendPending();
    try {
      await this.sending;
    } finally {
      this.sending = undefined;
    }
  }

  /** Last flush, retried a few times; afterwards `write` ignores everything. */
  async close(retries = 3, retryDelayMs = 200): Promise<void> {
    this.closed = true;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.flush();
        return;
      } catch (error) {
        if (error instanceof StaleJobError || error instanceof DomainError || attempt >= retries) throw error;
        await new Promise((resolve) => setTimeout(resolve, retryDelayMs * attempt));
      }
    }
  }

  private async sendPending(): Promise<void> {
    while (this.pending !== '') {
      const chunk = headOf(this.pending, chunkBytes);
      try {
        ({ nextOffset: this.nextOffset } = await this.send(this.nextOffset, chunk));
      } catch (error) {
        if (error instanceof DomainError && error.code === 'LIMIT_EXCEEDED') {
          this.refused = true;
          this.pending = '';
        }
        throw error;
      }
      this.pending = this.pending.slice(chunk.length);
    }
  }
}

/** The longest prefix of `text` of at most `maxBytes` UTF-8 bytes (at least one character). */
function headOf(text: string, maxBytes: number): string {
  // Every UTF-16 code unit takes at least one byte, so the answer lies in the first maxBytes
  // units: only those are encoded (a pair cut in half at the end is left out whole).
  let window = text.length > maxBytes ? text.slice(0, maxBytes) : text;
  if (window.length < text.length && /[\uD800-\uDBFF]$/.test(window)) window = window.slice(0, -1);
  const bytes = Buffer.from(window, 'utf8');
  if (window === text && bytes.length <= maxBytes) return text;
  const end = boundaryAtOrBefore(bytes, maxBytes);
  if (end === 0) return String.fromCodePoint(text.codePointAt(0) ?? 0xfffd);
  return bytes.subarray(0, end).toString('utf8');
}
