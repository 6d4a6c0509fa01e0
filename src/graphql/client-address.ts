import type { IncomingMessage } from 'node:http';

/**
 * The caller's address for `aws:SourceIp` and the audit trail, computed the same way for HTTP
 * requests and WebSocket upgrades, and the way express computes `req.ip` for a numeric
 * `trust proxy`. With `trustedHops` proxies of our own in front, each appended the address it
 * was reached from to X-Forwarded-For; the caller is the entry the outermost trusted proxy
 * wrote, counted from the right. Entries further left were written by the client itself and
 * prove nothing, so a spoofed left-most entry is never taken.
 */
export function clientAddress(request: IncomingMessage, trustedHops: number): string {
  const peer = request.socket.remoteAddress;
  const header = request.headers['x-forwarded-for'];
  const forwarded = trustedHops > 0 && typeof header === 'string' ? header.split(',') : [];
  // Nearest first: the socket's peer, then X-Forwarded-For from right to left.
  const chain = [peer, ...forwarded.map((entry) => entry.trim()).reverse()];
  const address = chain[Math.min(trustedHops, chain.length - 1)];
  if (!address) return 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** `scheme://host` the client reached us at, for links it can follow (X-Forwarded-Proto only from a trusted proxy). */
export function clientOrigin(request: IncomingMessage, trustedHops: number, fallbackHost: string): string {
  const forwardedProto = request.headers['x-forwarded-proto'];
  const proto =
    trustedHops > 0 &&
    typeof forwardedProto === 'string' &&
    /^https?$/i.test(forwardedProto.split(',')[0].trim())
      ? forwardedProto.split(',')[0].trim().toLowerCase()
      : 'http';
  return `${proto}://${request.headers.host ?? fallbackHost}`;
}
