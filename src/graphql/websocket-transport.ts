import type { IncomingMessage } from 'node:http';
import {
  execute,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  parse,
  specifiedRules,
  subscribe,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type GraphQLSchema,
} from 'graphql';
import type { Context, ServerOptions } from 'graphql-ws';
import type { Extra } from 'graphql-ws/use/ws';
import { requestScope, type RequestScope } from '../platform/request-scope';
import type { GraphQLContext } from './context';
import type { GraphQLProtections } from './protections';

type ConnectionParams = Record<string, unknown>;
type WsContext = Context<ConnectionParams, Extra>;

export interface WebSocketTransportOptions {
  schema: GraphQLSchema;
  protections: GraphQLProtections;
  /** The context of one operation, built as HTTP builds it (a fresh request id per operation). */
  context(request: IncomingMessage, connectionParams: ConnectionParams | undefined): GraphQLContext;
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
 * graphql-ws options that give an operation sent over WebSocket exactly what one sent over
 * HTTP gets: the same parse limit, validation rules and error formatting (src/graphql/protections.ts),
 * the same codes for request errors (GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED,
 * OPERATION_RESOLUTION_FAILURE, BAD_USER_INPUT), and the same schema, so every root field passes
 * the permission and audit layer. Each operation runs in its own request scope, so an unexpected
 * error is logged and masked with that operation's request id.
 */
export function webSocketTransport(
  options: WebSocketTransportOptions,
): ServerOptions<ConnectionParams, Extra> {
  const { schema, protections } = options;
  const rules = [...specifiedRules, ...protections.validationRules];
  // Request errors reach onError without the operation's context: keep its scope by id.
  const scopes = new WeakMap<WsContext, Map<string, RequestScope>>();
  const scopesOf = (ctx: WsContext): Map<string, RequestScope> => {
    let byId = scopes.get(ctx);
    if (!byId) scopes.set(ctx, (byId = new Map()));
    return byId;
  };
  const format = (errors: readonly GraphQLError[]) =>
    errors.map((error) => protections.formatError(error.toJSON(), error));

  return {
    schema,
    onSubscribe: (ctx, id, payload): ExecutionArgs | GraphQLError[] => {
      const contextValue = options.context(ctx.extra.request, ctx.connectionParams);
      scopesOf(ctx).set(id, scopeOf(contextValue));
      let document: DocumentNode;
      try {
        document = parse(payload.query, protections.parseOptions);
      } catch (error) {
        if (error instanceof GraphQLError) return [requestError(error, 'GRAPHQL_PARSE_FAILED')];
        throw error;
      }
      const invalid = validate(schema, document, rules);
      if (invalid.length) return invalid.map((error) => requestError(error, 'GRAPHQL_VALIDATION_FAILED'));
      const operation = getOperationAST(document, payload.operationName);
      if (!operation) {
        const message = payload.operationName
          ? `Unknown operation named "${payload.operationName}".`
          : 'Must provide operation name if query contains multiple operations.';
        return [new GraphQLError(message, { extensions: { code: 'OPERATION_RESOLUTION_FAILURE' } })];
      }
      const variables = payload.variables ?? {};
      const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables, {
        maxErrors: 50,
      });
      if (coerced.errors) return coerced.errors.map((error) => requestError(error, 'BAD_USER_INPUT'));
      return {
        schema,
        document,
        operationName: payload.operationName,
        variableValues: variables,
        contextValue,
      };
    },
    execute: (args) => requestScope.run(scopeOf(args.contextValue), () => execute(args)),
    subscribe: (args) => requestScope.run(scopeOf(args.contextValue), () => subscribe(args)),
    onNext: (_ctx, _id, _payload, args, result) => {
      const { errors } = result;
      if (!errors?.length) return undefined;
      return requestScope.run(scopeOf(args.contextValue), () => ({ ...result, errors: format(errors) }));
    },
    onError: (ctx, id, _payload, errors) => {
      const scope = scopesOf(ctx).get(id);
      scopesOf(ctx).delete(id);
      return scope ? requestScope.run(scope, () => format(errors)) : format(errors);
    },
    onComplete: (ctx, id) => {
      scopesOf(ctx).delete(id);
    },
  };
}
