import WebSocket from 'ws';
import type { GraphQLErrorShape } from './graphql-client';

export interface Closed {
  code: number;
  reason: string;
}

/** How a subscription ended: `complete`, an `error` message, or the socket closing under it. */
export type SubscriptionEnd =
  | { type: 'complete' }
  | { type: 'error'; errors: GraphQLErrorShape[] }
  | { type: 'closed'; code: number; reason: string };

export interface NextPayload {
  data?: Record<string, unknown> | null;
  errors?: GraphQLErrorShape[];
}

export interface TestSubscription {
  id: string;
  /** Every `next` payload so far, in order. */
  nexts: NextPayload[];
  ended: Promise<SubscriptionEnd>;
}

interface Message {
  type: string;
  id?: string;
  payload?: unknown;
}

/**
 * A raw graphql-transport-ws socket, so a test sees exactly what the server sent and when it
 * hung up: every message, the close code and reason, or the HTTP status of a refused upgrade.
 */
export class TestSocket {
  /** Every message received, in order. */
  readonly messages: Message[] = [];
  readonly closed: Promise<Closed>;
  private readonly subscriptions = new Map<
    string,
    { sub: TestSubscription; end: (e: SubscriptionEnd) => void }
  >();
  private nextId = 1;
  private ack: Promise<'ack' | Closed> | undefined;

  private constructor(readonly socket: WebSocket) {
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => {
        const closed = { code, reason: reason.toString() };
        for (const { end } of this.subscriptions.values()) end({ type: 'closed', ...closed });
        resolve(closed);
      });
    });
    socket.on('message', (raw) => {
      const message = JSON.parse(String(raw)) as Message;
      this.messages.push(message);
      const entry = message.id ? this.subscriptions.get(message.id) : undefined;
      if (!entry) return;
      if (message.type === 'next') entry.sub.nexts.push(message.payload as NextPayload);
      if (message.type === 'complete') entry.end({ type: 'complete' });
      if (message.type === 'error')
        entry.end({ type: 'error', errors: message.payload as GraphQLErrorShape[] });
    });
  }

  /** Opens the socket: the TestSocket, or the HTTP status the upgrade was refused with. */
  static open(
    httpUrl: string,
    options: { headers?: Record<string, string>; autoPong?: boolean } = {},
  ): Promise<TestSocket | { status: number }> {
    const socket = new WebSocket(httpUrl.replace(/^http/, 'ws'), 'graphql-transport-ws', {
      headers: options.headers,
      autoPong: options.autoPong ?? true,
    });
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(new TestSocket(socket)));
      socket.once('unexpected-response', (_req, res) => {
        resolve({ status: res.statusCode ?? 0 });
        res.resume();
        socket.terminate();
      });
      socket.once('error', (error) => {
        if (socket.readyState !== WebSocket.CLOSED) reject(error);
      });
    });
  }

  /** Opens and sends connection_init with `token` (none: an empty payload). */
  static async connect(
    httpUrl: string,
    token: string | undefined,
    options: { headers?: Record<string, string>; autoPong?: boolean } = {},
  ): Promise<{ socket: TestSocket; ack: 'ack' | Closed }> {
    const opened = await TestSocket.open(httpUrl, options);
    if (!(opened instanceof TestSocket)) throw new Error(`upgrade refused with HTTP ${opened.status}`);
    const ack = await opened.init(token ? { authorization: `Bearer ${token}` } : {});
    return { socket: opened, ack };
  }

  /** Sends connection_init: 'ack', or how the server closed the socket instead. */
  init(payload: Record<string, unknown>): Promise<'ack' | Closed> {
    this.ack = new Promise((resolve) => {
      const onMessage = (raw: WebSocket.RawData): void => {
        if ((JSON.parse(String(raw)) as Message).type !== 'connection_ack') return;
        this.socket.off('message', onMessage);
        resolve('ack');
      };
      this.socket.on('message', onMessage);
      void this.closed.then(resolve);
    });
    this.socket.send(JSON.stringify({ type: 'connection_init', payload }));
    return this.ack;
  }

  subscribe(query: string, variables?: Record<string, unknown>): TestSubscription {
    const id = String(this.nextId++);
    let end!: (e: SubscriptionEnd) => void;
    const ended = new Promise<SubscriptionEnd>((resolve) => (end = resolve));
    const sub: TestSubscription = { id, nexts: [], ended };
    this.subscriptions.set(id, { sub, end });
    this.socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables } }));
    return sub;
  }

  /** Ends a subscription from the client's side (graphql-ws `complete`). */
  unsubscribe(sub: TestSubscription): void {
    this.socket.send(JSON.stringify({ id: sub.id, type: 'complete' }));
  }

  close(): void {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING)
      this.socket.close();
  }
}

/** Resolves with the first value of `check` that is not undefined, polling, or fails after `seconds`. */
export async function waitUntil<T>(check: () => T | undefined, seconds = 20, what = 'condition'): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${seconds} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The error a subscription was refused with (as `error`, or as graphql-ws's `next` then `complete`), having delivered no data. */
export async function refusal(sub: TestSubscription): Promise<GraphQLErrorShape> {
  const end = await sub.ended;
  const errors = end.type === 'error' ? end.errors : sub.nexts.flatMap((n) => n.errors ?? []);
  if (sub.nexts.some((n) => n.data))
    throw new Error(`the subscription delivered data: ${JSON.stringify(sub.nexts)}`);
  if (!errors.length) throw new Error(`the subscription ended without an error: ${JSON.stringify(end)}`);
  return errors[0];
}
