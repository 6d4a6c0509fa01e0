import 'reflect-metadata';
import type { IncomingMessage } from 'node:http';
import {
  buildSchema,
  GraphQLError,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLSchema,
} from 'graphql';
import type { Context } from 'graphql-ws';
import type { Extra } from 'graphql-ws/use/ws';
import { describe, expect, it, vi } from 'vitest';
import type { WebSocket } from 'ws';
import { SubscriberTooSlowError } from '../../src/events/event-errors';
import type { GraphQLContext } from '../../src/graphql/context';
import { graphqlProtections } from '../../src/graphql/protections';
import {
  maxBufferedBytes,
  webSocketTransport,
  type WsConnection,
} from '../../src/graphql/websocket-transport';
import type { Principal } from '../../src/iam/identity/principal';
import { createLogger } from '../../src/platform/logger';

// The transport's decisions about one socket, without a network: a socket whose send buffer
// is full cannot be produced reliably over loopback (the kernel's buffers absorb megabytes).

const principal: Principal = {
  type: 'ROOT',
  arn: 'arn:sluice:iam::123456789012:root',
  accountId: '123456789012',
  sessionId: 's',
};
const schema: GraphQLSchema = buildSchema('type Query { a: Int } type Subscription { s: Int }');

function fakeSocket(bufferedAmount = 0) {
  const socket = {
    OPEN: 1,
    readyState: 1,
    bufferedAmount,
    close: vi.fn((_code: number, _reason: string) => undefined),
  };
  socket.close.mockImplementation(() => {
    socket.readyState = 2;
  });
  return socket;
}

function setUp(bufferedAmount = 0) {
  const socket = fakeSocket(bufferedAmount);
  const connections: WsConnection[] = [];
  const transport = webSocketTransport({
    schema,
    protections: graphqlProtections(false),
    logger: createLogger('silent'),
    authenticate: async () => ({ principal, expiresAt: new Date(Date.now() + 60_000) }),
    context: (_request, connection) => {
      connections.push(connection);
      return {
        requestId: 'r',
        logger: createLogger('silent'),
        closeConnection: connection.close,
      } as unknown as GraphQLContext;
    },
  });
  const ctx = {
    connectionInitReceived: true,
    acknowledged: false,
    subscriptions: {},
    connectionParams: { authorization: 'Bearer good' },
    extra: { socket: socket as unknown as WebSocket, request: {} as IncomingMessage },
  } as unknown as Context<Record<string, unknown>, Extra>;
  return { socket, transport, ctx, connections };
}

describe('the WebSocket transport', () => {
  it('closes with 4008 instead of sending when more than 4 MiB wait in the socket’s send buffer', async () => {
    const { socket, transport, ctx } = setUp(maxBufferedBytes + 1);
    expect(await transport.onConnect!(ctx)).toBe(true);
    const args = { contextValue: {} } as ExecutionArgs;
    const result: ExecutionResult = { data: { s: 1 } };
    await transport.onNext!(ctx, '1', { query: 'subscription { s }' }, args, result);
    expect(socket.close).toHaveBeenCalledWith(4008, 'Subscriber too slow: resubscribe');
    await transport.onClose!(ctx, 4008, '');
  });

  it('sends normally below the limit', async () => {
    const { socket, transport, ctx } = setUp(maxBufferedBytes);
    await transport.onConnect!(ctx);
    await transport.onNext!(
      ctx,
      '1',
      { query: 'subscription { s }' },
      { contextValue: {} } as ExecutionArgs,
      {
        data: { s: 1 },
      },
    );
    expect(socket.close).not.toHaveBeenCalled();
    await transport.onClose!(ctx, 1000, '');
  });

  it('a stream failing with SubscriberTooSlowError closes the connection with 4008 and its message', async () => {
    const { socket, transport, ctx } = setUp();
    await transport.onConnect!(ctx);
    const failure = new GraphQLError('x', { originalError: new SubscriberTooSlowError(41n) });
    await transport.onError!(ctx, '1', { query: 'subscription { s }' }, [failure]);
    expect(socket.close).toHaveBeenCalledWith(4008, 'Subscriber too slow: resume with afterSequence 41');
    await transport.onClose!(ctx, 4008, '');
  });

  it('gives each operation a closeConnection that closes the socket, the reason cut to 123 bytes', async () => {
    const { socket, transport, ctx, connections } = setUp();
    await transport.onConnect!(ctx);
    await transport.onSubscribe!(ctx, '1', { query: 'subscription { s }' });
    expect(connections).toHaveLength(1);
    expect(connections[0]).toMatchObject({ token: 'good', principal });
    connections[0].close(4008, 'é'.repeat(100));
    const [code, reason] = socket.close.mock.calls[0];
    expect(code).toBe(4008);
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
    expect(reason).toBe('é'.repeat(61));
    await transport.onClose!(ctx, 4008, '');
  });
});
