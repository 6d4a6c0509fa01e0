import type { DataSource } from 'typeorm';
import type { LogPage } from '../jobs/job-data';
import { LOG_CHANNEL } from '../jobs/job-queue';
import type { Notifications } from '../platform/db/notifications';
import { BadInputError, NotFoundError } from '../platform/errors';

/** A piece of an action execution's log: `text` starts at byte `offset` and ends at `nextOffset`. */
export interface LogChunk {
  offset: number;
  text: string;
  nextOffset: number;
  /** This is the last chunk: the action has ended and nothing follows `nextOffset`. */
  complete: boolean;
}

/** The one log reader (src/jobs/job-queue.ts): bounded pages cut at character boundaries. */
export interface LogReader {
  readLog(accountId: string, actionExecutionId: string, offset: number, limit: number): Promise<LogPage>;
}

/** Whether the action execution is the account's and belongs to that pipeline. */
export type ActionExecutionLookup = (
  accountId: string,
  pipelineName: string,
  actionExecutionId: string,
) => Promise<boolean>;

/** The lookup against the database: one indexed row, read-only. */
export function actionExecutionLookup(dataSource: DataSource): ActionExecutionLookup {
  return async (accountId, pipelineName, actionExecutionId) => {
    const rows: unknown[] = await dataSource.query(
      'SELECT 1 FROM action_executions WHERE account_id = $1 AND id = $2 AND pipeline_name = $3',
      [accountId, actionExecutionId, pipelineName],
    );
    return rows.length > 0;
  };
}

export interface LogStreamOptions {
  /** A stream that heard no wake-up reads again after this long (a lost NOTIFY, a reconnect). */
  safetyCheckMs: number;
  /** Largest chunk handed to a subscriber at once. */
  pageBytes: number;
}

const defaults: LogStreamOptions = { safetyCheckMs: 1_000, pageBytes: 64 * 1024 };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `fromOffset` as a client sends it (a GraphQL Float): a whole number of bytes, at least 0. */
export function parseLogOffset(value: number | null | undefined): number {
  if (value === null || value === undefined) return 0;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new BadInputError(`fromOffset must be a non-negative whole number of bytes, got ${value}`, [
      { path: 'fromOffset', message: 'not a non-negative integer' },
    ]);
  }
  return value;
}

/**
 * Live action logs for every subscriber of this process. A stream reads the log from its
 * offset in pages, hands each page over once, and reads again when woken; it ends after the
 * page that `readLog` marks complete (the action ended and no job of it still runs).
 *
 * Waking: one LISTEN on LOG_CHANNEL for the whole process, whose `accountId|actionExecutionId`
 * payloads wake only the streams of that action execution — never one LISTEN per subscriber —
 * plus a read every `safetyCheckMs` by each waiting stream, for a NOTIFY lost while the
 * listening connection was down. The payload is a hint; the log table is the truth, so a
 * stream can neither skip nor repeat a byte: it only ever reads from where its last chunk ended.
 */
export class LogStreams {
  private readonly waiting = new Map<string, Set<LogStream>>();
  private readonly options: LogStreamOptions;

  constructor(
    private readonly reader: LogReader,
    private readonly lookup: ActionExecutionLookup,
    notifications: Notifications | undefined,
    options: Partial<LogStreamOptions> = {},
  ) {
    this.options = { ...defaults, ...options };
    notifications?.on(LOG_CHANNEL, (payload) => {
      for (const stream of this.waiting.get(payload) ?? []) stream.wake();
    });
    notifications?.onReconnect(() => {
      for (const streams of this.waiting.values()) for (const stream of streams) stream.wake();
    });
  }

  /**
   * The log of `actionExecutionId` from byte `fromOffset` (default 0), live. Rejects with
   * BAD_USER_INPUT for an offset that is not a whole number ≥ 0, and with NOT_FOUND, saying
   * nothing more, when the action execution is not the account's or not in that pipeline.
   */
  async open(
    accountId: string,
    pipelineName: string,
    actionExecutionId: string,
    fromOffset?: number | null,
  ): Promise<AsyncIterableIterator<LogChunk>> {
    const offset = parseLogOffset(fromOffset);
    if (!UUID.test(actionExecutionId) || !(await this.lookup(accountId, pipelineName, actionExecutionId))) {
      throw new NotFoundError(
        `Action execution ${actionExecutionId.slice(0, 64)} does not exist in pipeline ${pipelineName}`,
      );
    }
    const key = `${accountId}|${actionExecutionId.toLowerCase()}`;
    const stream = new LogStream(
      (from) => this.reader.readLog(accountId, actionExecutionId, from, this.options.pageBytes),
      offset,
      this.options.safetyCheckMs,
      () => this.forget(key, stream),
    );
    let streams = this.waiting.get(key);
    if (!streams) this.waiting.set(key, (streams = new Set()));
    streams.add(stream);
    return stream;
  }

  /** Streams currently open in this process (for tests and the bench). */
  get openStreams(): number {
    let count = 0;
    for (const streams of this.waiting.values()) count += streams.size;
    return count;
  }

  private forget(key: string, stream: LogStream): void {
    const streams = this.waiting.get(key);
    streams?.delete(stream);
    if (streams?.size === 0) this.waiting.delete(key);
  }
}

/**
 * One subscriber's position in one log. Written by hand rather than as an async generator so
 * that `return()` — the client unsubscribed or hung up — takes effect at once even while the
 * stream waits for a wake-up (a generator would only see it after the wait ended).
 */
class LogStream implements AsyncIterableIterator<LogChunk> {
  private ended = false;
  /** Set by a wake-up; cleared before each read, so one that arrives during a read is not lost. */
  private woken = false;
  private stopWaiting: (() => void) | undefined;
  private previous: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly read: (from: number) => Promise<LogPage>,
    private offset: number,
    private readonly safetyCheckMs: number,
    private readonly onEnd: () => void,
  ) {}

  [Symbol.asyncIterator](): AsyncIterableIterator<LogChunk> {
    return this;
  }

  next(): Promise<IteratorResult<LogChunk, undefined>> {
    // One read at a time, in call order, whatever the consumer does.
    const result = this.previous.then(() => this.nextChunk());
    this.previous = result.catch(() => undefined);
    return result;
  }

  async return(): Promise<IteratorResult<LogChunk, undefined>> {
    this.end();
    return { value: undefined, done: true };
  }

  async throw(error?: unknown): Promise<IteratorResult<LogChunk, undefined>> {
    this.end();
    throw error;
  }

  wake(): void {
    this.woken = true;
    this.stopWaiting?.();
  }

  private async nextChunk(): Promise<IteratorResult<LogChunk, undefined>> {
    try {
      while (!this.ended) {
        this.woken = false;
        const page = await this.read(this.offset);
        if (this.ended) break;
        if (page.text) {
          // Where the text really starts: an offset inside a character moves to the next one.
          const offset = page.nextOffset - Buffer.byteLength(page.text, 'utf8');
          this.offset = page.nextOffset;
          if (page.complete) this.end();
          return {
            value: { offset, text: page.text, nextOffset: page.nextOffset, complete: page.complete },
            done: false,
          };
        }
        if (page.complete) break;
        if (!this.woken) await this.waitForWakeUp();
      }
    } catch (error) {
      this.end();
      throw error;
    }
    this.end();
    return { value: undefined, done: true };
  }

  private waitForWakeUp(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.stopWaiting = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.safetyCheckMs);
      this.stopWaiting = done;
    });
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.stopWaiting?.();
    this.onEnd();
  }
}
