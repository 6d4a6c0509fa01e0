import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { DomainError } from '../platform/errors';
import { requestScope } from '../platform/request-scope';

/**
 * The one place errors become what clients see (DESIGN §4). Domain errors keep their code and
 * message; GraphQL's own request errors (parse, validation, variable coercion) keep theirs;
 * anything else is logged with the request id and answered as INTERNAL carrying that id, so
 * no stack trace or internal message leaves the server.
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  if (original instanceof DomainError) {
    return {
      message: original.message,
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: original.code, ...original.details },
    };
  }
  const code = formatted.extensions?.code;
  if (original instanceof GraphQLError && typeof code === 'string' && code !== 'INTERNAL_SERVER_ERROR') {
    return {
      message: formatted.message,
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code },
    };
  }
  const scope = requestScope.getStore();
  scope?.logger.error({ err: original, requestId: scope.requestId }, 'unexpected error');
  return {
    message: `Internal error; quote request id ${scope?.requestId ?? 'unknown'} when reporting it`,
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: 'INTERNAL', requestId: scope?.requestId },
  };
}
