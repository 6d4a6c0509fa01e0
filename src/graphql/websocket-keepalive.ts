import type { WebSocket, WebSocketServer } from 'ws';

/**
 * Pings every socket of `server` each `intervalMs`; one that has not answered the previous
 * ping by the next round is terminated (a peer that vanished without a close — a laptop
 * lid, a dropped NAT mapping — otherwise holds its subscriptions forever). One timer for the
 * whole server, not one per socket. Returns the function that stops it.
 */
export function keepAlive(server: WebSocketServer, intervalMs: number): () => void {
  const answered = new WeakSet<WebSocket>();
  const onConnection = (socket: WebSocket): void => {
    answered.add(socket);
    socket.on('pong', () => answered.add(socket));
  };
  server.on('connection', onConnection);
  const timer = setInterval(() => {
    for (const socket of server.clients) {
      if (!answered.has(socket)) {
        socket.terminate();
        continue;
      }
      answered.delete(socket);
      socket.ping();
    }
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    server.off('connection', onConnection);
  };
}
