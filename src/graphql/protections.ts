import { ApolloArmor } from '@escape.tech/graphql-armor';
import {
  NoSchemaIntrospectionCustomRule,
  type GraphQLFormattedError,
  type ParseOptions,
  type ValidationRule,
} from 'graphql';
import { formatError } from './error-mapping';

/** The query limits every transport enforces (graphql-armor's, and graphql-js's token limit). */
export const QUERY_LIMITS = {
  maxDepth: 12,
  maxCost: 50_000,
  maxAliases: 15,
  maxDirectives: 50,
  maxTokens: 2000,
} as const;

/**
 * One set of protections, handed to Apollo (HTTP) and to graphql-ws (WebSocket) alike, so no
 * transport is a way around a limit. Each is transport-neutral on purpose: graphql-armor's
 * token limit and suggestion masking are Apollo plugins, which graphql-ws never runs, so the
 * token limit is graphql-js's own parse option and suggestions are masked in formatError.
 */
export interface GraphQLProtections {
  /** For `parse`: a document over the token limit fails to parse (GRAPHQL_PARSE_FAILED). */
  parseOptions: ParseOptions;
  /** Added to graphql-js's specified rules: depth, cost, aliases, directives; introspection off in production. */
  validationRules: ValidationRule[];
  /** The one error mapping (src/graphql/error-mapping.ts), with field suggestions hidden in production. */
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
}

/** graphql-js appends `Did you mean "x"?` to unknown names; in production that maps the schema for a caller. */
const SUGGESTION = /\s*Did you mean [^?]*\?/g;

function withoutSuggestions(formatted: GraphQLFormattedError): GraphQLFormattedError {
  return { ...formatted, message: formatted.message.replace(SUGGESTION, '') };
}

export function graphqlProtections(production: boolean): GraphQLProtections {
  // Only armor's validation rules are used: they are plain graphql-js rules, whoever runs them.
  const armorRules = new ApolloArmor({
    maxDepth: { n: QUERY_LIMITS.maxDepth },
    costLimit: { maxCost: QUERY_LIMITS.maxCost },
    maxAliases: { n: QUERY_LIMITS.maxAliases },
    maxDirectives: { n: QUERY_LIMITS.maxDirectives },
    maxTokens: { enabled: false },
    blockFieldSuggestion: { enabled: false },
  }).protect().validationRules;
  return {
    parseOptions: { maxTokens: QUERY_LIMITS.maxTokens },
    validationRules: [...armorRules, ...(production ? [NoSchemaIntrospectionCustomRule] : [])],
    formatError: production
      ? (formatted, error) => withoutSuggestions(formatError(formatted, error))
      : formatError,
  };
}
