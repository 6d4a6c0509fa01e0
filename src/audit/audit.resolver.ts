import { GraphQLDateTime } from 'graphql-scalars';
import { Arg, Ctx, Int, Query, Resolver } from 'type-graphql';
import { callerOf, type GraphQLContext } from '../graphql/context';
import { Permission } from '../graphql/permission';
import { mapConnection, type Connection } from '../platform/pagination';
import type { StoredAuditEvent } from './audit-lookup';
import {
  AuditEventConnection,
  AuditEventFilter,
  type AuditEventType,
  AuditValidationType,
} from './audit.types';

type TrailArgs = { accountId?: string | null };
/** The account's trail; a platform principal may name any account's. */
const trailArn = (a: TrailArgs, env: { accountId: string; region: string }): string =>
  `arn:sluice:cloudtrail:${env.region}:${a.accountId ?? env.accountId}:trail/default`;

function toAuditEvent({ record }: StoredAuditEvent): AuditEventType {
  const identity = record.userIdentity;
  return {
    eventId: record.eventID,
    eventTime: new Date(record.eventTime),
    eventSource: record.eventSource,
    eventName: record.eventName,
    readOnly: record.readOnly,
    errorCode: record.errorCode,
    errorMessage: record.errorMessage,
    userIdentity: {
      type: identity.type,
      arn: identity.arn ?? null,
      accountId: identity.accountId ?? null,
      principalId: identity.principalId ?? null,
      userName: identity.userName ?? null,
      accessKeyId: identity.accessKeyId ?? null,
      sessionContext: identity.sessionContext
        ? {
            sessionIssuer: identity.sessionContext.sessionIssuer
              ? {
                  type: identity.sessionContext.sessionIssuer.type,
                  principalId: identity.sessionContext.sessionIssuer.principalId ?? null,
                  arn: identity.sessionContext.sessionIssuer.arn ?? null,
                  accountId: identity.sessionContext.sessionIssuer.accountId ?? null,
                  userName: identity.sessionContext.sessionIssuer.userName ?? null,
                }
              : null,
            sourceIdentity: identity.sessionContext.sourceIdentity ?? null,
            creationDate: identity.sessionContext.attributes?.creationDate ?? null,
          }
        : null,
    },
    sourceIpAddress: record.sourceIPAddress,
    userAgent: record.userAgent,
    requestParameters: record.requestParameters,
    responseElements: record.responseElements,
    requestId: record.requestID,
    recipientAccountId: record.recipientAccountId,
    resources: record.resources.map((r) => ({ arn: r.ARN, accountId: r.accountId, type: r.type })),
    cloudTrailEvent: record,
  };
}

/** The audit trail: search it, and check that nobody rewrote it. */
@Resolver()
export class AuditResolver {
  @Query(() => AuditEventConnection, {
    description: 'Events of the caller’s account (a platform admin: any account), newest first',
  })
  @Permission.iam<TrailArgs>('cloudtrail:LookupEvents', trailArn, { platformCrossAccount: true })
  async auditEvents(
    @Arg('filter', () => AuditEventFilter, { nullable: true }) filter: AuditEventFilter | undefined,
    @Arg('first', () => Int, { nullable: true }) first: number | undefined,
    @Arg('after', () => String, { nullable: true }) after: string | undefined,
    @Arg('accountId', () => String, { nullable: true }) accountId: string | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Connection<AuditEventType>> {
    const account = accountId ?? callerOf(ctx).accountId;
    const page = await ctx.services.auditLookup.find(account, filter ?? {}, first, after);
    return mapConnection(page, toAuditEvent);
  }

  @Query(() => AuditValidationType, {
    description: 'Recomputes the hash chain and checks the signed digests',
  })
  @Permission.iam<TrailArgs>('cloudtrail:ValidateAuditTrail', trailArn, { platformCrossAccount: true })
  async validateAuditTrail(
    @Arg('from', () => GraphQLDateTime, { nullable: true }) from: Date | undefined,
    @Arg('to', () => GraphQLDateTime, { nullable: true }) to: Date | undefined,
    @Arg('accountId', () => String, { nullable: true }) accountId: string | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<AuditValidationType> {
    return ctx.services.auditValidator.validate(accountId ?? callerOf(ctx).accountId, from, to);
  }
}
