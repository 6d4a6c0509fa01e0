import { randomInt, randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { StoredEvent } from '../../src/events/event-stream';
import { Outbox, type OutboxEvent } from '../../src/events/outbox';

export const outbox = new Outbox();

/** A 12-digit account id no other test of the file uses. */
export function newAccountId(): string {
  return String(randomInt(100_000_000_000, 999_999_999_999));
}

/** An action state change; `mark` lands in `detail.mark` so tests can recognise the event. */
export function actionEvent(accountId: string, pipelineName: string, mark: string): OutboxEvent {
  const executionId = randomUUID();
  return {
    accountId,
    pipelineName,
    executionId,
    stageName: 'Build',
    actionName: 'Compile',
    actionExecutionId: randomUUID(),
    detailType: 'Action Execution State Change',
    state: 'STARTED',
    detail: {
      pipeline: pipelineName,
      executionId,
      stage: 'Build',
      action: 'Compile',
      state: 'STARTED',
      mark,
    },
  };
}

/** Appends `events` in one committed transaction, as a writer of state changes does. */
export async function write(ds: DataSource, events: OutboxEvent[]): Promise<void> {
  await ds.transaction((tx) => outbox.append(tx, events));
}

export function marks(events: readonly StoredEvent[]): string[] {
  return events.map((event) => String(event.detail.mark));
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits for `condition` with a deadline (never to prove something did not happen). */
export async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Polls an asynchronous `condition` with a deadline. */
export async function eventually(
  condition: () => Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Reads a stream in the background, as a subscriber would, keeping what it got. */
export class Collector {
  readonly events: StoredEvent[] = [];
  error: unknown;
  ended = false;

  constructor(private readonly stream: AsyncIterator<StoredEvent>) {
    void this.run();
  }

  /** Waits until `count` events arrived; fails at once if the stream failed. */
  async received(count: number, timeoutMs = 20_000): Promise<StoredEvent[]> {
    await until(
      () => this.events.length >= count || this.error !== undefined || this.ended,
      `${count} events (got ${this.events.length})`,
      timeoutMs,
    );
    if (this.error !== undefined) throw this.error;
    if (this.events.length < count) throw new Error(`stream ended after ${this.events.length} events`);
    return this.events;
  }

  async stop(): Promise<void> {
    await this.stream.return?.();
  }

  private async run(): Promise<void> {
    try {
      for (;;) {
        const result = await this.stream.next();
        if (result.done) {
          this.ended = true;
          return;
        }
        this.events.push(result.value);
      }
    } catch (err) {
      this.error = err;
    }
  }
}

/** True when every sequence is above the one before it. */
export function strictlyIncreasing(events: readonly StoredEvent[]): boolean {
  return events.every((event, i) => i === 0 || event.sequence > events[i - 1].sequence);
}
