import http from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { MetricsConfig } from '../../config';
import { DomainError } from '../errors';
import type { Logger } from '../logger';
import type { Metrics } from './metrics';

function errorBody(message: string, code: string, details: Record<string, unknown> = {}): string {
  return JSON.stringify({ errors: [{ message, extensions: { code, ...details } }] });
}

function sendJson(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
}

async function sendMetrics(res: http.ServerResponse, metrics: Metrics): Promise<void> {
  const text = await metrics.render();
  res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
  res.end(text);
}

/**
 * `GET /metrics` on the main port. Served only when metrics are on and have no listener of
 * their own, and then only to callers `authorize` lets through (src/platform/metrics/metrics-access.ts):
 * 401 UNAUTHENTICATED without a valid token, 403 ACCESS_DENIED otherwise. Elsewise 404, as for a
 * path that does not exist, so the main port never says where metrics are served instead.
 */
export function metricsRoute(
  config: MetricsConfig,
  metrics: Metrics,
  authorize: (req: Request) => Promise<unknown>,
): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    if (!config.enabled || config.listen) {
      sendJson(res, 404, errorBody('Not found', 'NOT_FOUND'));
      return;
    }
    try {
      await authorize(req);
    } catch (err) {
      if (err instanceof DomainError && err.code === 'UNAUTHENTICATED') {
        res.setHeader('www-authenticate', 'Bearer');
        sendJson(res, 401, errorBody(err.message, err.code));
      } else if (err instanceof DomainError && err.code === 'ACCESS_DENIED') {
        sendJson(res, 403, errorBody(err.message, err.code, err.details));
      } else next(err);
      return;
    }
    sendMetrics(res, metrics).catch(next);
  };
}

export interface MetricsListener {
  /** The bound port (SLUICE_METRICS_LISTEN may ask for 0: any free one). */
  port: number;
  close(): Promise<void>;
}

/**
 * SLUICE_METRICS_LISTEN: `/metrics` without a token on an address of its own, meant for
 * loopback or a private network that only the scraper reaches. Nothing else is served there.
 */
export function listenForMetrics(
  metrics: Metrics,
  address: { host: string; port: number },
  logger: Logger,
): Promise<MetricsListener> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') return sendJson(res, 404, errorBody('Not found', 'NOT_FOUND'));
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return sendJson(res, 405, errorBody('Only GET reads /metrics', 'BAD_REQUEST'));
    }
    sendMetrics(res, metrics).catch((err: unknown) => {
      logger.error({ err }, 'rendering /metrics failed');
      if (!res.headersSent) sendJson(res, 500, errorBody('Internal error', 'INTERNAL'));
      else res.destroy();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      const bound = server.address();
      const port = typeof bound === 'object' && bound ? bound.port : address.port;
      logger.info({ host: address.host, port }, 'serving /metrics without a token on its own listener');
      resolve({
        port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            // A scraper keeps its connection alive between scrapes: do not wait for it to leave.
            server.closeAllConnections();
          }),
      });
    });
  });
}
