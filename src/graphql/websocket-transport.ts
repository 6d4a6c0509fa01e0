import type { IncomingMessage } from 'node:http';
import {
  execute,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import type { Context, ServerOptions } from 'graphql-ws';
import type { Extra } from 'graphql-ws/use/ws';
import type { WebSocket } from 'ws';
import { SubscriberTooSlowError } from '../events/event-errors';
import type { Principal } from '../iam/identity/principal';
import { DomainError } from '../platform/errors';
import type { Logger } from '../platform/logger';
import { sharedPayloads } from '../events/event-permits';
import { requestScope, type RequestScope } from '../platform/request-scope';
import { subscribeSharing } from './shared-results';
import type { GraphQLContext } from './context';
import type { GraphQLProtections } from './protections';
import { RequestMetrics } from './request-metrics';

type ConnectionParams = Record<string, unknown>;
type WsContext = Context<ConnectionParams, Extra>;

/**
 * Close codes of the Sluice WebSocket besides graphql-ws's own (4400 bad message, 4408 no
 * `connection_init` in time, 4409 duplicate subscription id, 4429 second `connection_init`,
 * 4500 internal error) and WebSocket's (1001 server going away, 1009 message too big).
 */
export const WsCloseCode = {
  /** No token at `connection_init`, or one that does not verify: sign in, then reconnect. */
  Unauthorized: 4401,
  /** The connection's token expired: reconnect with a fresh one. */
  TokenExpired: 4403,
  /** The client did not keep up (bounded buffer, or the socket's send buffer): resume from what it has. */
  TooSlow: 4008,
  InternalError: 4500,
} as const;

const maxCachedDocuments = 1000;
const maxCachedQueryChars = 10_000;

/** Past this many bytes queued for the client, a subscriber is cut off rather than buffered for. */
export const maxBufferedBytes = 4 * 1024 * 1024;

/** A verified connection token: whom it names and when it stops being valid. */
export interface WsSession {
  principal: Principal;
  expiresAt: Date | undefined;
}

/** What an operation's context is built from: the connection's token and the means to end it. */
export interface WsConnection {
  token: string;
  /** Who signed in at `connection_init`. */
  principal: Principal;
  /** Closes the whole connection (every subscription on it) with a WebSocket close code. */
  close(code: number, reason: string): void;
}

export interface WebSocketTransportOptions {
  schema: GraphQLSchema;
  protections: GraphQLProtections;
  /** Verifies the token of `connection_init`; rejects with UNAUTHENTICATED when it is not valid. */
  authenticate(token: string): Promise<WsSession>;
  /** The context of one operation, built as HTTP builds it (a fresh request id per operation). */
  context(request: IncomingMessage, connection: WsConnection): GraphQLContext;
  logger: Logger;
  /** Overrides `maxBufferedBytes` (tests). */
  maxBufferedBytes?: number;
  /** Times each operation, as the Apollo plugin does over HTTP: a subscription until it is set up. */
  requestMetrics?: RequestMetrics;
}

/** The token of `Authorization: Bearer <token>` (or the same string in connectionParams). */
export function bearerToken(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(value.trim());
  return match?.[1];
}

/** connectionParams `authorization: "Bearer <jwt>"` (any case), or `token: "<jwt>"`. */
function connectionToken(params: ConnectionParams | undefined): string | undefined {
  if (!params) return undefined;
  const token = params.token;
  return (
    bearerToken(params.authorization) ??
    bearerToken(params.Authorization) ??
    (typeof token === 'string' && /^\S+$/.test(token) ? token : bearerToken(token))
  );
}

/** A close reason fits in a control frame: at most 123 bytes of UTF-8. */
function closeSocket(socket: WebSocket, code: number, reason: string): void {
  let text = reason;
  while (Buffer.byteLength(text) > 123) text = text.slice(0, -1);
  if (socket.readyState === socket.OPEN) socket.close(code, text);
}

/** A request error with the code Apollo gives the same failure over HTTP. */
function requestError(error: GraphQLError, code: string): GraphQLError {
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    originalError: error.originalError ?? error,
    extensions: { ...error.extensions, code },
  });
}

function scopeOf(contextValue: unknown): RequestScope {
  const ctx = contextValue as GraphQLContext;
  return { requestId: ctx.requestId, logger: ctx.logger };
}

/**
 * A stream's failure as graphql-ws reports it: wrapped in a GraphQLError without a path, which
 * the error mapping would not unwrap (and so would mask a domain error as INTERNAL).
 */
function failureOf(error: GraphQLError): unknown {
  const original = error.originalError;
  return !error.path && original && !(original instanceof GraphQLError) ? original : error;
}

/**
 * graphql-ws options that give an operation sent over WebSocket exactly what one sent over
 * HTTP gets: the same parse limit, validation rules and error formatting (src/graphql/protections.ts),
 * the same codes for request errors (GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED,
 * OPERATION_RESOLUTION_FAILURE, BAD_USER_INPUT), and the same schema, so every root field passes
 * the permission and audit layer. Each operation runs in its own request scope, so an unexpected
 * error is logged and masked with that operation's request id.
 *
 * The connection itself: `connection_init` must carry a valid token (else close 4401, before
 * anything is delivered); the socket closes with 4403 when that token expires; a subscriber
 * whose socket has more than `maxBufferedBytes` waiting, or whose stream fails with
 * SubscriberTooSlowError, is disconnected with 4008 and that error's message, which says
 * where to resume.
 */
export function webSocketTransport(
  options: WebSocketTransportOptions,
): ServerOptions<ConnectionParams, Extra> {
  const { schema, protections, logger } = options;
  const bufferLimit = options.maxBufferedBytes ?? maxBufferedBytes;
  const rules = [...specifiedRules, ...protections.validationRules];
  /** Per connection: its token and principal, and the timer that closes it when the token expires. */
  const connections = new WeakMap<
    WsContext,
    { token: string; principal: Principal; expiry?: NodeJS.Timeout }
  >();
  // Request errors reach onError without the operation's context: keep its scope by id.
  const scopes = new WeakMap<WsContext, Map<string, RequestScope>>();
  // Each operation's text and variables, by its context: subscribers that sent the same one
  // share the execution of a shared event (src/graphql/shared-results.ts).
  const operationKeys = new WeakMap<object, string>();
  // Parsed and validated documents by query text, as Apollo caches them over HTTP: thousands of
  // clients subscribing with the same query share one AST (memory per subscription) and skip
  // parsing and validation (the rules depend on the document and the schema alone). Only
  // valid documents are kept; the oldest goes first past the bound.
  const documents = new Map<string, DocumentNode>();
  const remember = (query: string, document: DocumentNode): void => {
    // Bounded in bytes too: a client cannot fill the cache with large documents.
    if (query.length > maxCachedQueryChars) return;
    if (documents.size >= maxCachedDocuments) documents.delete(documents.keys().next().value!);
    documents.set(query, document);
  };
  const scopesOf = (ctx: WsContext): Map<string, RequestScope> => {
    let byId = scopes.get(ctx);
    if (!byId) scopes.set(ctx, (byId = new Map()));
    return byId;
  };
  const format = (errors: readonly GraphQLError[]) =>
    errors.map((error) => protections.formatError(error.toJSON(), failureOf(error)));
  // When each operation's `subscribe` message arrived, and what it runs, by its context.
  const timings = new WeakMap<object, { started: number; operation: OperationDefinitionNode }>();
  const metrics = options.requestMetrics;
  /** Records `run`'s operation once it settled; a subscription counts as ok once its stream is open. */
  const timed = <T extends object>(args: ExecutionArgs, run: () => T | Promise<T>): T | Promise<T> => {
    const timing = metrics && timings.get(args.contextValue as object);
    if (!timing) return run();
    const done = (result: T): T => {
      const errors = 'errors' in result ? (result.errors as readonly GraphQLError[] | undefined) : undefined;
      metrics.record(args.document, timing.operation, RequestMetrics.firstRawCode(errors), timing.started);
      return result;
    };
    const failed = (error: unknown): never => {
      metrics.record(args.document, timing.operation, 'INTERNAL', timing.started);
      throw error;
    };
    try {
      const result = run();
      return result instanceof Promise ? result.then(done, failed) : done(result);
    } catch (error) {
      return failed(error);
    }
  };

  return {
    schema,
    onConnect: async (ctx) => {
      const socket = ctx.extra.socket;
      const token = connectionToken(ctx.connectionParams);
      if (!token) {
        closeSocket(
          socket,
          WsCloseCode.Unauthorized,
          'Unauthorized: connection_init needs authorization: Bearer <token>',
        );
        return false;
      }
      let session: WsSession;
      try {
        session = await options.authenticate(token);
      } catch (error) {
        if (error instanceof DomainError && error.code === 'UNAUTHENTICATED') {
          closeSocket(socket, WsCloseCode.Unauthorized, 'Unauthorized');
        } else {
          logger.error({ err: error }, 'WebSocket connection_init failed unexpectedly');
          closeSocket(socket, WsCloseCode.InternalError, 'Internal server error');
        }
        // graphql-ws then closes with 4403 too; the first close is the one the client sees.
        return false;
      }
      if (socket.readyState !== socket.OPEN) return false;
      const connection: { token: string; principal: Principal; expiry?: NodeJS.Timeout } = {
        token,
        principal: session.principal,
      };
      if (session.expiresAt) {
        // Tokens live at most an hour; the cap only keeps setTimeout from firing at once on a
        // delay past its 32-bit range (closing a far-future token's socket early, never late).
        connection.expiry = setTimeout(
          () => closeSocket(socket, WsCloseCode.TokenExpired, 'Forbidden: token expired'),
          Math.min(Math.max(0, session.expiresAt.getTime() - Date.now()), 2 ** 31 - 1),
        );
      }
      connections.set(ctx, connection);
      return true;
    },
    onClose: (ctx) => {
      clearTimeout(connections.get(ctx)?.expiry);
      connections.delete(ctx);
    },
    onSubscribe: (ctx, id, payload): ExecutionArgs | GraphQLError[] => {
      const started = performance.now();
      const refused = (errors: GraphQLError[]): GraphQLError[] => {
        metrics?.record(undefined, undefined, RequestMetrics.firstRawCode(errors), started);
        return errors;
      };
      const connection = connections.get(ctx);
      const socket = ctx.extra.socket;
      // graphql-ws accepts `subscribe` only after connection_ack, which only onConnect gives.
      if (!connection) throw new Error('operation on a connection that was not acknowledged');
      const contextValue = options.context(ctx.extra.request, {
        token: connection.token,
        principal: connection.principal,
        close: (code, reason) => closeSocket(socket, code, reason),
      });
      scopesOf(ctx).set(id, scopeOf(contextValue));
      let document = documents.get(payload.query);
      if (!document) {
        try {
          document = parse(payload.query, protections.parseOptions);
        } catch (error) {
          if (error instanceof GraphQLError) return refused([requestError(error, 'GRAPHQL_PARSE_FAILED')]);
          throw error;
        }
        const invalid = validate(schema, document, rules);
        if (invalid.length)
          return refused(invalid.map((error) => requestError(error, 'GRAPHQL_VALIDATION_FAILED')));
        remember(payload.query, document);
      }
      const operation = getOperationAST(document, payload.operationName);
      if (!operation) {
        const message = payload.operationName
          ? `Unknown operation named "${payload.operationName}".`
          : 'Must provide operation name if query contains multiple operations.';
        return refused([new GraphQLError(message, { extensions: { code: 'OPERATION_RESOLUTION_FAILURE' } })]);
      }
      const variables = payload.variables ?? {};
      operationKeys.set(
        contextValue,
        JSON.stringify([payload.query, payload.operationName ?? null, variables]),
      );
      const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables, {
        maxErrors: 50,
      });
      if (coerced.errors) {
        const errors = coerced.errors.map((error) => requestError(error, 'BAD_USER_INPUT'));
        metrics?.record(document, operation, 'BAD_USER_INPUT', started);
        return errors;
      }
      timings.set(contextValue, { started, operation });
      return {
        schema,
        document,
        operationName: payload.operationName,
        variableValues: variables,
        contextValue,
      };
    },
    execute: (args) => timed(args, () => requestScope.run(scopeOf(args.contextValue), () => execute(args))),
    subscribe: (args) =>
      timed(args, () =>
        requestScope.run(scopeOf(args.contextValue), () =>
          subscribeSharing(args, operationKeys.get(args.contextValue as object) ?? '', sharedPayloads),
        ),
      ),
    onNext: (ctx, _id, _payload, args, result) => {
      const socket = ctx.extra.socket;
      // A client that stopped reading: the rest would pile up in this process's memory.
      if (socket.bufferedAmount > bufferLimit) {
        closeSocket(socket, WsCloseCode.TooSlow, new SubscriberTooSlowError(undefined).message);
        return undefined;
      }
      const { errors } = result;
      if (!errors?.length) return undefined;
      return requestScope.run(scopeOf(args.contextValue), () => ({ ...result, errors: format(errors) }));
    },
    onError: (ctx, id, _payload, errors) => {
      const tooSlow = errors
        .map((error) => error.originalError)
        .find((e) => e instanceof SubscriberTooSlowError);
      if (tooSlow) closeSocket(ctx.extra.socket, WsCloseCode.TooSlow, tooSlow.message);
      const scope = scopesOf(ctx).get(id);
      scopesOf(ctx).delete(id);
      return scope ? requestScope.run(scope, () => format(errors)) : format(errors);
    },
    onComplete: (ctx, id) => {
      scopesOf(ctx).delete(id);
    },
  };
}
