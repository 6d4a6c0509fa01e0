import WebSocket from 'ws';
import type { GraphQLErrorShape } from './graphql-client';

export interface WsOutcome {
  /** From the operation's `next` message, if any. */
  data?: unknown;
  /** Field errors from `next`, or the request errors of an `error` message. */
  errors?: GraphQLErrorShape[];
  /** Set when the server closed the socket instead of answering. */
  closeCode?: number;
}

/**
 * Runs one operation over graphql-transport-ws with a raw socket, so a test sees exactly what
 * the server sent: its `next`/`error` payloads, or the close code when it hung up instead.
 */
export function wsRequest(
  httpUrl: string,
  payload: { query: string; variables?: Record<string, unknown>; operationName?: string },
  token?: string,
  /** Headers of the upgrade request (X-Forwarded-For, say). */
  headers: Record<string, string> = {},
): Promise<WsOutcome> {
  const socket = new WebSocket(httpUrl.replace(/^http/, 'ws'), 'graphql-transport-ws', { headers });
  return new Promise<WsOutcome>((resolve, reject) => {
    const outcome: WsOutcome = {};
    let done = false;
    const finish = (): void => {
      done = true;
      resolve(outcome);
      socket.close();
    };
    socket.on('open', () => {
      socket.send(
        JSON.stringify({
          type: 'connection_init',
          payload: token ? { authorization: `Bearer ${token}` } : {},
        }),
      );
    });
    socket.on('message', (raw) => {
      const message = JSON.parse(String(raw)) as { type: string; payload?: unknown };
      switch (message.type) {
        case 'connection_ack':
          socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload }));
          return;
        case 'next': {
          const result = message.payload as { data?: unknown; errors?: GraphQLErrorShape[] };
          outcome.data = result.data;
          if (result.errors) outcome.errors = result.errors;
          return;
        }
        case 'error':
          outcome.errors = message.payload as GraphQLErrorShape[];
          return finish();
        case 'complete':
          return finish();
      }
    });
    socket.on('close', (code) => {
      if (done) return;
      done = true;
      resolve({ ...outcome, closeCode: code });
    });
    socket.on('error', (error) => {
      if (!done) reject(error);
    });
  });
}
