import type { ApolloServerPlugin } from '@apollo/server';
import Negotiator from 'negotiator';
import type { GraphQLContext } from './context';

export const MEDIA_TYPES = {
  json: 'application/json; charset=utf-8',
  graphqlResponse: 'application/graphql-response+json; charset=utf-8',
} as const;

/** Codes of request errors: the document or its variables were refused, nothing was executed. */
const REQUEST_ERROR_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'OPERATION_RESOLUTION_FAILURE',
]);

/**
 * Response media type and status as the GraphQL-over-HTTP spec says. Apollo answers every
 * request error with 400, which is right for `application/graphql-response+json`; for
 * `application/json` the spec says a well-formed request is answered with 200 whatever
 * GraphQL errors it raised, since a legacy client may not read the body of a 4xx. A request
 * that is not well-formed (bad JSON, no query, a mutation over GET, CSRF) keeps its 4xx.
 *
 * The media type is negotiated here as Apollo would (with the same library, in the same
 * order), and set, so the status and the Content-Type can never disagree.
 */
export function graphqlOverHttpStatus(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ request, response, errors }) {
          if (!request.http || response.body.kind !== 'single') return;
          const accept = request.http.headers.get('accept');
          const mediaType = accept
            ? new Negotiator({ headers: { accept } }).mediaType([
                MEDIA_TYPES.json,
                MEDIA_TYPES.graphqlResponse,
              ])
            : MEDIA_TYPES.json;
          // Nothing acceptable: Apollo answers 406.
          if (!mediaType) return;
          response.http.headers.set('content-type', mediaType);
          if (mediaType !== MEDIA_TYPES.json || response.body.singleResult.data !== undefined) return;
          const requestErrors =
            errors?.length && errors.every((error) => REQUEST_ERROR_CODES.has(String(error.extensions.code)));
          if (requestErrors) response.http.status = 200;
        },
      };
    },
  };
}
