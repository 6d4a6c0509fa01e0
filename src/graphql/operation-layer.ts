import {
  defaultFieldResolver,
  type GraphQLFieldConfig,
  type GraphQLFieldResolver,
  type GraphQLSchema,
} from 'graphql';
import { DomainError } from '../platform/errors';
import type { AuditRecord } from '../audit/audit-record';
import type { GraphQLContext } from './context';
import { auditRecordOf, copiesFor, type CallOutcome } from './operation-audit';
import { guardFor, permissionOf, rootTypes } from './permission-layer';
import type { PermissionDeclaration } from './permission';

type Args = Record<string, unknown>;
type Resolver = GraphQLFieldResolver<unknown, GraphQLContext, Args>;

class AuditUnavailableError extends DomainError {
  constructor() {
    super('INTERNAL', 'The call could not be recorded in the audit trail, so it was not carried out');
  }
}

function actionOf(declaration: PermissionDeclaration | undefined, field: string): string {
  return declaration?.action ?? `sluice:${field}`;
}

/**
 * Wraps every root field (query, mutation, subscription) so that each call, in order:
 * 1. passes its declared permission check (src/graphql/permission-layer.ts);
 * 2. runs — a mutation as one unit of work, so all its writes share one transaction;
 * 3. leaves one audit event: a mutation's inside its own transaction (it exists if and only if
 *    the change committed), every other event group-committed before the answer is sent. A
 *    call that failed — denied, invalid, rolled back — is recorded with its error code.
 * If its event cannot be written, the call fails as INTERNAL rather than go unaudited.
 */
export function applyOperationLayer(schema: GraphQLSchema): GraphQLSchema {
  for (const type of rootTypes(schema)) {
    const isMutation = type === schema.getMutationType();
    const isSubscription = type === schema.getSubscriptionType();
    for (const field of Object.values(type.getFields())) {
      const declaration = permissionOf(field);
      const guard = guardFor(`${type.name}.${field.name}`, declaration);
      const action = actionOf(declaration, field.name);
      const config = field as unknown as GraphQLFieldConfig<unknown, GraphQLContext, Args>;

      const recordSeparately = async (ctx: GraphQLContext, outcome: CallOutcome): Promise<void> => {
        try {
          const record = await auditRecordOf(ctx, outcome);
          await Promise.all([record, ...copiesFor(ctx, record)].map((r) => ctx.services.audit.record(r)));
        } catch {
          throw new AuditUnavailableError();
        }
      };

      const run = async (
        ctx: GraphQLContext,
        args: Args,
        execute: () => Promise<unknown>,
      ): Promise<unknown> => {
        const outcome: CallOutcome = { action, readOnly: !isMutation, args, resources: [] };
        try {
          outcome.resources = await guard(ctx, args);
        } catch (error) {
          await recordSeparately(ctx, { ...outcome, error });
          throw error;
        }
        if (!isMutation) {
          let result: unknown;
          try {
            result = await execute();
          } catch (error) {
            await recordSeparately(ctx, { ...outcome, error });
            throw error;
          }
          await recordSeparately(ctx, { ...outcome, result });
          return result;
        }
        let record: AuditRecord | undefined;
        try {
          return await ctx.services.db.unitOfWork(
            async () => {
              const result = await execute();
              record = await auditRecordOf(ctx, { ...outcome, result });
              return result;
            },
            // The audit row rides with the COMMIT: it exists if and only if the change does.
            {
              finalStatement: () =>
                record ? ctx.services.audit.appendStatement([record, ...copiesFor(ctx, record)]) : undefined,
            },
          );
        } catch (error) {
          await recordSeparately(ctx, { ...outcome, error });
          throw error;
        }
      };

      if (isSubscription) {
        const subscribe = config.subscribe as Resolver;
        config.subscribe = (source, args, ctx, info) =>
          run(ctx, args, () => Promise.resolve(subscribe(source, args, ctx, info)));
      } else {
        const resolve = (config.resolve ?? defaultFieldResolver) as Resolver;
        config.resolve = (source, args, ctx, info) =>
          run(ctx, args, () => Promise.resolve(resolve(source, args, ctx, info)));
      }
    }
  }
  return schema;
}
