import type { ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import {
  GraphQLError,
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { DomainError, type ErrorCode } from '../platform/errors';
import type { Metrics, RequestLabels } from '../platform/metrics/metrics';
import type { GraphQLContext } from './context';

/**
 * Every value the `outcome` label takes besides `ok`: the domain codes, GraphQL's request errors,
 * and Apollo's refusals of a malformed request. Anything else counts as INTERNAL, so no client
 * can mint a label value.
 */
const ERROR_OUTCOMES = [
  'UNAUTHENTICATED',
  'ACCESS_DENIED',
  'NOT_FOUND',
  'BAD_USER_INPUT',
  'CONFLICT',
  'LIMIT_EXCEEDED',
  'THROTTLED',
  'INTERNAL',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'OPERATION_RESOLUTION_FAILURE',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
] as const;
const KNOWN_OUTCOMES: ReadonlySet<string> = new Set(ERROR_OUTCOMES);

// A domain code added to ErrorCode but not here would be counted as INTERNAL: refuse to compile.
type MissingCode = Exclude<ErrorCode, (typeof ERROR_OUTCOMES)[number]>;
const everyDomainCode: [MissingCode] extends [never] ? true : MissingCode = true;
void everyDomainCode;

/** The outcome label of a call that raised `code` first. */
export function outcomeOf(code: unknown): string {
  if (code === undefined) return 'ok';
  return typeof code === 'string' && KNOWN_OUTCOMES.has(code) ? code : 'INTERNAL';
}

/** The code a client sees for an error not formatted yet (src/graphql/error-mapping.ts decides it the same way). */
function codeOfRaw(error: GraphQLError): unknown {
  const original = unwrapResolverError(error);
  if (original instanceof DomainError) return original.code;
  if (!(original instanceof GraphQLError)) return 'INTERNAL';
  if (typeof original.extensions.code === 'string') return original.extensions.code;
  // A stream's failure, wrapped by graphql-ws without a path (see failureOf in websocket-transport.ts).
  return original.originalError instanceof DomainError ? original.originalError.code : 'INTERNAL';
}

function typeOf(operation: OperationDefinitionNode | undefined | null): RequestLabels['type'] {
  return operation?.operation ?? 'unknown';
}

/**
 * Labels GraphQL operations and records them in `sluice_graphql_request_duration_seconds`.
 *
 * `operation` is the root field the call reaches, read from the parsed document and checked
 * against the schema — never `operationName` or any other text the client chooses, which would
 * let anyone create series at will. Several root fields in one document count as `multiple`
 * (their combinations are not bounded in practice); a document that did not parse or validate,
 * or that names only meta fields (`__typename`, `__schema`), counts as `unknown`.
 */
export class RequestMetrics {
  /** Operation nodes are those of cached documents: their label is worked out once. */
  private readonly labels = new WeakMap<OperationDefinitionNode, string>();

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly metrics: Metrics,
  ) {}

  /** The root-field label of `operation` in `document`. */
  operationLabel(
    document: DocumentNode | undefined,
    operation: OperationDefinitionNode | undefined | null,
  ): string {
    if (!document || !operation) return 'unknown';
    let label = this.labels.get(operation);
    if (label === undefined) {
      label = this.computeLabel(document, operation);
      this.labels.set(operation, label);
    }
    return label;
  }

  /** A call that ended at `started` (a performance.now() reading) with these errors (formatted or not). */
  record(
    document: DocumentNode | undefined,
    operation: OperationDefinitionNode | undefined | null,
    firstErrorCode: unknown,
    started: number,
  ): void {
    this.metrics.observeRequest(
      {
        operation: this.operationLabel(document, operation),
        type: typeOf(operation),
        outcome: outcomeOf(firstErrorCode),
      },
      (performance.now() - started) / 1000,
    );
  }

  /** The first error's code, for errors GraphQL raised (not yet formatted). */
  static firstRawCode(errors: readonly GraphQLError[] | undefined): unknown {
    return errors?.length ? codeOfRaw(errors[0]) : undefined;
  }

  /** The first error's code, for errors as the client receives them. */
  static firstFormattedCode(errors: readonly GraphQLFormattedError[] | undefined): unknown {
    return errors?.length ? (errors[0].extensions?.code ?? 'INTERNAL') : undefined;
  }

  /** The Apollo Server plugin timing every HTTP GraphQL request from its start to its response. */
  plugin(): ApolloServerPlugin<GraphQLContext> {
    return {
      requestDidStart: async () => {
        const started = performance.now();
        return {
          willSendResponse: async ({ document, operation, response, errors }) => {
            const code =
              response.body.kind === 'single'
                ? RequestMetrics.firstFormattedCode(response.body.singleResult.errors)
                : RequestMetrics.firstRawCode(errors);
            this.record(document, operation, code, started);
          },
        };
      },
    };
  }

  private computeLabel(document: DocumentNode, operation: OperationDefinitionNode): string {
    const root = this.schema.getRootType(operation.operation);
    if (!root) return 'unknown';
    const fields = root.getFields();
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of document.definitions)
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    const names = new Set<string>();
    const visited = new Set<string>();
    const walk = (selectionSet: SelectionSetNode): void => {
      for (const selection of selectionSet.selections) {
        if (selection.kind === Kind.FIELD) {
          if (Object.hasOwn(fields, selection.name.value)) names.add(selection.name.value);
        } else if (selection.kind === Kind.INLINE_FRAGMENT) walk(selection.selectionSet);
        else if (!visited.has(selection.name.value)) {
          visited.add(selection.name.value);
          const fragment = fragments.get(selection.name.value);
          if (fragment) walk(fragment.selectionSet);
        }
      }
    };
    walk(operation.selectionSet);
    if (names.size === 0) return 'unknown';
    return names.size === 1 ? names.values().next().value! : 'multiple';
  }
}
