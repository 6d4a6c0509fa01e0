import http from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * The floor of the events fan-out on this machine (bench/events.ts): the same `ws` library on
 * the same loopback, with none of Sluice — no database, no GraphQL, no permission check. It
 * acknowledges graphql-transport-ws's connection_init like the real server and, on
 * `{ emit: { benchId } }` over IPC (what the real bench server takes), writes one `next` message of the real server's shape to every
 * socket, each with its own subscription id as graphql-ws serializes it; it answers with the
 * time the writing started (the counterpart of the real server's commit time).
 */
const server = http.createServer();
const wss = new WebSocketServer({ server, path: '/graphql' });
const sockets = new Set<WebSocket>();
wss.on('connection', (socket) => {
  socket.on('message', (raw: Buffer) => {
    const message = JSON.parse(raw.toString()) as { type: string };
    if (message.type === 'connection_init') socket.send(JSON.stringify({ type: 'connection_ack' }));
    if (message.type === 'subscribe') sockets.add(socket);
  });
  socket.on('close', () => sockets.delete(socket));
});

const now = (): number => performance.timeOrigin + performance.now();

process.on('message', (message: { emit?: { benchId: number }; stop?: boolean }) => {
  if (message.emit !== undefined) {
    const benchId = message.emit.benchId;
    const startedAt = now();
    const event = {
      sequence: String(1000 + benchId),
      state: 'STARTED',
      detail: {
        pipeline: 'bench',
        executionId: '00000000-0000-4000-8000-000000000000',
        stage: 'Build',
        action: 'Build',
        state: 'STARTED',
        type: { owner: 'Sluice', category: 'Build', provider: 'Shell', version: '1' },
        benchId,
      },
    };
    for (const socket of sockets) {
      socket.send(JSON.stringify({ id: '1', type: 'next', payload: { data: { pipelineEvents: event } } }));
    }
    process.send?.({ committedAt: startedAt });
  }
  if (message.stop) {
    for (const socket of sockets) socket.terminate();
    server.close(() => process.exit(0));
  }
});

server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as { port: number }).port });
});
