import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type Request } from 'express';
import type { GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import jwt from 'jsonwebtoken';
import { WebSocketServer } from 'ws';
import { clientAddress, clientOrigin } from './graphql/client-address';
import type { GraphQLContext } from './graphql/context';
import { graphqlOverHttpStatus } from './graphql/http-status';
import { graphqlProtections } from './graphql/protections';
import { RequestMetrics } from './graphql/request-metrics';
import { createSchema } from './graphql/schema';
import { keepAlive } from './graphql/websocket-keepalive';
import { originAllowed } from './graphql/websocket-origin';
import { bearerToken, webSocketTransport } from './graphql/websocket-transport';
import { migrationsApplied } from './platform/db/database';
import type { Logger } from './platform/logger';
import { authorizeScrape } from './platform/metrics/metrics-access';
import { metricsRoute } from './platform/metrics/metrics-endpoint';
import { requestScope } from './platform/request-scope';
import type { Services } from './services';

export interface HttpServer {
  server: http.Server;
  /** Resolves with the bound port. */
  listen(port: number, host: string): Promise<number>;
  /** Stops accepting, drains in-flight requests, closes WebSockets. */
  close(): Promise<void>;
}

const REQUEST_ID = /^[\w.-]{8,64}$/;

/** A verified token's `exp`, which the session resolver does not hand back. */
function expiryOf(token: string): Date | undefined {
  const claims = jwt.decode(token);
  const exp = typeof claims === 'object' ? claims?.exp : undefined;
  return typeof exp === 'number' ? new Date(exp * 1000) : undefined;
}

export async function createHttpServer(
  services: Services,
  logger: Logger,
  /** Shown by /readyz: how this process isolates job processes (SLUICE_SANDBOX resolved). */
  info: { sandbox?: string } = {},
): Promise<HttpServer> {
  const { config } = services;
  const schema: GraphQLSchema = await createSchema();
  // The same limits, rules and error mapping for HTTP and WebSocket (src/graphql/protections.ts).
  const protections = graphqlProtections(config.nodeEnv === 'production');
  const requestMetrics = new RequestMetrics(schema, services.metrics);
  const hops = config.trustProxyHops;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', hops);
  const server = http.createServer(app);

  /** One operation's context, whichever transport carried it. */
  const contextOf = (
    request: http.IncomingMessage,
    requestId: string,
    token: string | undefined,
    requestLogger: Logger,
  ): GraphQLContext => ({
    requestId,
    sourceIp: clientAddress(request, hops),
    origin: clientOrigin(request, hops, `localhost:${config.port}`),
    userAgent: request.headers['user-agent'],
    token,
    services,
    logger: requestLogger,
  });

  // graphql-ws on the same port and path as HTTP GraphQL, with HTTP's body limit per message
  // (a larger one closes the socket with 1009, WebSocket's "message too big"). A browser page
  // of a site not allowed by SLUICE_ALLOWED_ORIGINS is refused with 403 before the upgrade.
  const wsServer = new WebSocketServer({
    server,
    path: '/graphql',
    maxPayload: config.maxBodyBytes,
    verifyClient: (info, done) => {
      if (originAllowed(info.req.headers.origin, info.req.headers.host, config.allowedOrigins))
        return done(true);
      logger.warn({ origin: info.origin }, 'WebSocket upgrade refused: origin not allowed');
      done(false, 403, 'Forbidden: origin not allowed');
    },
  });
  const wsCleanup = useServer(
    webSocketTransport({
      schema,
      protections,
      logger,
      requestMetrics,
      authenticate: async (token) => ({
        principal: await services.sessions.resolve(token),
        expiresAt: expiryOf(token),
      }),
      // Each operation resolves the connection's token again (as an HTTP request does) rather
      // than reuse the principal of connection_init: it costs a signature check and a cached
      // lookup, and a user deleted meanwhile is refused on an open socket as on HTTP.
      context: (request, connection) => {
        const requestId = randomUUID();
        return {
          ...contextOf(request, requestId, connection.token, logger.child({ requestId })),
          closeConnection: connection.close,
        };
      },
    }),
    wsServer,
    // graphql-ws's keep-alive runs a timer per socket: ours (below) runs one for the server.
    0,
  );
  const stopKeepAlive = keepAlive(wsServer, config.wsPingSeconds * 1000);
  // graphql-ws reports socket errors (an oversized message, a broken frame) with console.error;
  // any client could fill stderr with them, so they go to the JSON log instead.
  wsServer.on('connection', (socket) => {
    socket.removeAllListeners('error');
    socket.on('error', (err) => {
      logger.warn({ err: err.message }, 'WebSocket connection error');
      if (socket.readyState === socket.OPEN) socket.close(1011, 'Internal server error');
    });
  });

  const apollo = new ApolloServer<GraphQLContext>({
    schema,
    // Introspection is refused in production by protections.validationRules, on both transports.
    introspection: true,
    csrfPrevention: true,
    // Shutdown is ours (src/main.ts): drain, then close the database, then exit.
    stopOnTerminationSignals: false,
    allowBatchedHttpRequests: false,
    includeStacktraceInErrorResponses: false,
    parseOptions: protections.parseOptions,
    validationRules: protections.validationRules,
    formatError: protections.formatError,
    plugins: [
      requestMetrics.plugin(),
      graphqlOverHttpStatus(),
      ApolloServerPluginDrainHttpServer({ httpServer: server }),
      ApolloServerPluginLandingPageDisabled(),
      {
        async serverWillStart() {
          return {
            async drainServer() {
              await wsCleanup.dispose();
            },
          };
        },
      },
    ],
  });
  await apollo.start();

  app.use((req, res, next) => {
    const given = req.header('x-request-id');
    const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', requestId);
    requestScope.run({ requestId, logger: logger.child({ requestId }) }, next);
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    try {
      await services.dataSource.query('SELECT 1');
      if (!(await migrationsApplied(services.dataSource))) {
        res.status(503).json({ status: 'unavailable', reason: 'database migrations are pending' });
        return;
      }
      res.json({ status: 'ready', sandbox: info.sandbox });
    } catch {
      res.status(503).json({ status: 'unavailable', reason: 'database unreachable' });
    }
  });

  // Prometheus text, behind a platform token (or 404 when off or on its own listener).
  app.get(
    '/metrics',
    metricsRoute(config.metrics, services.metrics, (req) => {
      const scope = requestScope.getStore();
      const requestId = scope?.requestId ?? randomUUID();
      return authorizeScrape(
        contextOf(req, requestId, bearerToken(req.header('authorization')), scope?.logger ?? logger),
      );
    }),
  );

  // Signed, expiring links from artifacts(…){ downloadUrl }; the link is the permission.
  app.get('/artifacts/:accountId/:executionId/:name', async (req, res, next) => {
    try {
      const { accountId, executionId, name } = req.params;
      const file = await services.artifactLinks.resolve(accountId, executionId, name, {
        expires: typeof req.query.expires === 'string' ? req.query.expires : undefined,
        kid: typeof req.query.kid === 'string' ? req.query.kid : undefined,
        signature: typeof req.query.signature === 'string' ? req.query.signature : undefined,
      });
      if (!file) {
        res.status(404).json({
          errors: [{ message: 'No such artifact, or the link expired', extensions: { code: 'NOT_FOUND' } }],
        });
        return;
      }
      res.setHeader('content-type', 'application/zip');
      res.setHeader('content-length', String(file.sizeBytes));
      res.setHeader(
        'content-disposition',
        `attachment; filename="${file.name.replace(/[^\w.-]/g, '_')}.zip"`,
      );
      res.setHeader('x-content-sha256', file.sha256);
      services.artifacts.openRead(file.sha256).on('error', next).pipe(res);
    } catch (err) {
      next(err);
    }
  });

  app.use(
    '/graphql',
    // GraphQL over HTTP: a POST body is application/json, anything else is refused unread (415),
    // which also keeps form posts from other sites (CSRF) away from the resolvers.
    (req: Request, res: express.Response, next: express.NextFunction) => {
      const type = req.header('content-type')?.split(';')[0].trim().toLowerCase();
      if (req.method !== 'POST' || type === 'application/json') return next();
      res.status(415).json({
        errors: [
          {
            message: 'POST requests to /graphql must have content-type application/json',
            extensions: { code: 'BAD_REQUEST' },
          },
        ],
      });
    },
    express.json({ limit: config.maxBodyBytes }),
    expressMiddleware(apollo, {
      context: async ({ req }: { req: Request }): Promise<GraphQLContext> => {
        const scope = requestScope.getStore();
        const requestId = scope?.requestId ?? randomUUID();
        return contextOf(req, requestId, bearerToken(req.header('authorization')), scope?.logger ?? logger);
      },
    }),
  );

  // Malformed JSON and oversized bodies: a GraphQL-shaped answer, never a stack trace.
  app.use(
    (
      err: Error & { status?: number; type?: string },
      _req: Request,
      res: express.Response,
      next: express.NextFunction,
    ) => {
      if (res.headersSent) return next(err);
      const status = err.status ?? 500;
      const code = status === 413 ? 'LIMIT_EXCEEDED' : status < 500 ? 'BAD_REQUEST' : 'INTERNAL';
      const message =
        status === 413
          ? `Request body is larger than ${config.maxBodyBytes} bytes`
          : status < 500
            ? `Malformed request: ${err.message}`
            : 'Internal error';
      if (status >= 500) requestScope.getStore()?.logger.error({ err }, 'unexpected HTTP error');
      res.status(status).json({ errors: [{ message, extensions: { code } }] });
    },
  );

  return {
    server,
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          const address = server.address();
          resolve(typeof address === 'object' && address ? address.port : port);
        });
      }),
    close: async () => {
      stopKeepAlive();
      await apollo.stop();
      wsServer.close();
    },
  };
}
