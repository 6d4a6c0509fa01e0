import { randomUUID } from 'node:crypto';
import { EVENT_VERSION, eventNaming, type AuditIdentity, type AuditRecord } from '../audit/audit-record';
import { auditDocument, maskUrlCredentials, MAX_RESPONSE_BYTES } from '../audit/redact';
import { arn as arns, parseArn, PLATFORM_ACCOUNT_ID } from '../iam/arn';
import type { Principal } from '../iam/identity/principal';
import { DomainError } from '../platform/errors';
import type { GraphQLContext } from './context';

export interface CallOutcome {
  action: string;
  readOnly: boolean;
  args: Record<string, unknown>;
  resources: string[];
  result?: unknown;
  error?: unknown;
}

const IDENTITY_TYPE = { ROOT: 'Root', USER: 'IAMUser', ASSUMED_ROLE: 'AssumedRole' } as const;

export function identityOf(
  principal: Pick<Principal, 'type' | 'arn' | 'accountId'> & Partial<Principal>,
): AuditIdentity {
  const { role } = principal;
  if (role) {
    // CloudTrail's shape for a role session: who it acts as (the issuer) and who started it.
    return {
      type: 'AssumedRole',
      principalId: `${role.roleId}:${role.sessionName}`,
      arn: principal.arn,
      accountId: principal.accountId,
      sessionContext: {
        sessionIssuer: {
          type: 'Role',
          principalId: role.roleId,
          arn: role.roleArn,
          accountId: principal.accountId,
          userName: role.roleName,
        },
        sourceIdentity: role.sourceIdentity,
        attributes: { creationDate: role.createdAt },
      },
    };
  }
  return {
    type: IDENTITY_TYPE[principal.type],
    principalId: principal.userId ?? principal.accountId,
    arn: principal.arn,
    accountId: principal.accountId,
    userName: principal.userName,
    accessKeyId: principal.accessKeyId,
  };
}

/** A signed-in principal in a sign-in call's answer (login, getSessionToken). */
function principalInResult(
  result: unknown,
): (Pick<Principal, 'type' | 'arn' | 'accountId'> & { userName?: string }) | undefined {
  const principal = (
    result as {
      principal?: { arn?: unknown; accountId?: unknown; type?: unknown; userName?: unknown };
    } | null
  )?.principal;
  if (typeof principal?.arn !== 'string' || typeof principal.accountId !== 'string') return undefined;
  return {
    arn: principal.arn,
    accountId: principal.accountId,
    type: principal.type as Principal['type'],
    userName: typeof principal.userName === 'string' ? principal.userName : undefined,
  };
}

/** Who a failed sign-in claimed to be, from its arguments. */
function claimedIdentity(args: Record<string, unknown>): AuditIdentity {
  const accountId = typeof args.accountId === 'string' ? args.accountId : undefined;
  const userName = typeof args.userName === 'string' ? args.userName : undefined;
  if (accountId && userName) {
    const root = userName === 'root';
    return {
      type: root ? 'Root' : 'IAMUser',
      accountId,
      userName,
      arn: root ? arns.root(accountId) : arns.user(accountId, userName),
    };
  }
  return {
    type: 'Unknown',
    accessKeyId: typeof args.accessKeyId === 'string' ? args.accessKeyId : undefined,
  };
}

/**
 * Which account's trail an event belongs to: the caller's; for a sign-in, the account signed
 * in to (or claimed, when it exists); anything else — calls without a valid token, sign-ins to
 * accounts that do not exist — goes to the platform account's trail.
 */
async function owningAccount(
  ctx: GraphQLContext,
  identity: AuditIdentity,
  signedIn: boolean,
): Promise<string> {
  if (ctx.principal) return ctx.principal.accountId;
  const claimed = identity.accountId;
  if (!claimed || !/^\d{12}$/.test(claimed)) return PLATFORM_ACCOUNT_ID;
  if (signedIn) return claimed;
  const rows: unknown[] = await ctx.services.dataSource.query('SELECT 1 FROM accounts WHERE id = $1', [
    claimed,
  ]);
  return rows.length ? claimed : PLATFORM_ACCOUNT_ID;
}

function errorFields(error: unknown): { errorCode: string | null; errorMessage: string | null } {
  if (error === undefined) return { errorCode: null, errorMessage: null };
  // A message may quote what the caller sent (a rejected value), URLs with credentials included.
  if (error instanceof DomainError)
    return { errorCode: error.code, errorMessage: maskUrlCredentials(error.message) };
  return { errorCode: 'INTERNAL', errorMessage: 'Internal error' };
}

/** The CloudTrail-shaped record of one root-field call. */
export async function auditRecordOf(ctx: GraphQLContext, call: CallOutcome): Promise<AuditRecord> {
  const signedIn = call.error === undefined ? principalInResult(call.result) : undefined;
  const identity = ctx.principal
    ? identityOf(ctx.principal)
    : signedIn
      ? identityOf(signedIn)
      : claimedIdentity(call.args);
  const recipientAccountId = await owningAccount(ctx, identity, signedIn !== undefined);
  const { eventSource, eventName } = eventNaming(call.action);
  return {
    eventVersion: EVENT_VERSION,
    eventID: randomUUID(),
    eventTime: new Date().toISOString(),
    eventSource,
    eventName,
    eventType: eventSource === 'signin.sluice' ? 'AwsConsoleSignIn' : 'AwsApiCall',
    awsRegion: ctx.services.config.region,
    readOnly: call.readOnly,
    userIdentity: identity,
    sourceIPAddress: ctx.sourceIp,
    userAgent: ctx.userAgent ?? null,
    requestParameters: auditDocument(call.args),
    responseElements:
      call.readOnly || call.error !== undefined ? null : auditDocument(call.result, MAX_RESPONSE_BYTES),
    ...errorFields(call.error),
    requestID: ctx.requestId,
    recipientAccountId,
    resources: call.resources.map((arn) => {
      const parsed = parseArn(arn);
      return {
        ARN: arn,
        accountId: parsed?.account ?? recipientAccountId,
        type: resourceType(parsed?.service, parsed?.resource),
      };
    }),
  };
}

/**
 * The same event for the trails of other accounts the call reached (assumeRole: the role's
 * account records who assumed its role), each with its own event id and the same request id.
 */
export function copiesFor(ctx: GraphQLContext, record: AuditRecord): AuditRecord[] {
  return [...(ctx.auditAlsoIn ?? [])]
    .filter((accountId) => accountId !== record.recipientAccountId)
    .map((accountId) => ({ ...record, eventID: randomUUID(), recipientAccountId: accountId }));
}

function resourceType(service: string | undefined, resource: string | undefined): string {
  if (!service || resource === undefined) return 'Unknown';
  if (service === 'codepipeline') {
    const depth = resource.split('/').length;
    return depth === 1
      ? 'Sluice::CodePipeline::Pipeline'
      : depth === 2
        ? 'Sluice::CodePipeline::Stage'
        : 'Sluice::CodePipeline::Action';
  }
  const kind = resource.split('/')[0];
  return `Sluice::${service.toUpperCase()}::${kind.charAt(0).toUpperCase()}${kind.slice(1)}`;
}
