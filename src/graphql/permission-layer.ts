import type { GraphQLObjectType, GraphQLSchema } from 'graphql';
import { AccessDeniedError } from '../iam/authorizer';
import { PLATFORM_ACCOUNT_ID, parseArn, SHARED_ACCOUNT } from '../iam/arn';
import { UnauthenticatedError } from '../iam/identity/identity.errors';
import type { Principal } from '../iam/identity/principal';
import { principalContext } from '../iam/identity/principal-context';
import type { Evaluation, RequestContext } from '../iam/policy/account-authorizer';
import { DomainError } from '../platform/errors';
import type { GraphQLContext } from './context';
import {
  PERMISSION_EXTENSION,
  type BoundaryKey,
  type PermissionDeclaration,
  type TagLike,
} from './permission';

export function permissionOf(field: {
  extensions?: Record<string, unknown> | null;
}): PermissionDeclaration | undefined {
  return field.extensions?.[PERMISSION_EXTENSION] as PermissionDeclaration | undefined;
}

export function rootTypes(schema: GraphQLSchema): GraphQLObjectType[] {
  return [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].filter(
    (t): t is GraphQLObjectType => Boolean(t),
  );
}

/** A missing declaration must never mean "allowed": such a field refuses every call. */
class UndeclaredPermissionError extends DomainError {
  constructor(field: string) {
    super('ACCESS_DENIED', `Field ${field} declares no permission and is denied to everyone`);
  }
}

async function authenticate(ctx: GraphQLContext): Promise<Principal> {
  if (ctx.principal) return ctx.principal;
  if (!ctx.token)
    throw new UnauthenticatedError('This operation needs a bearer token: sign in with login first');
  ctx.principal = await ctx.services.sessions.resolve(ctx.token);
  return ctx.principal;
}

/** `aws:ResourceTag/<k>` for codepipeline resources: the tags of the pipeline the ARN is in. */
async function resourceTags(
  ctx: GraphQLContext,
  principal: Principal,
  resource: string,
): Promise<Record<string, string>> {
  const parsed = parseArn(resource);
  if (!parsed || parsed.service !== 'codepipeline' || parsed.account !== principal.accountId) return {};
  const pipelineName = parsed.resource.split('/')[0];
  const pipelineArn = resource.slice(0, resource.length - parsed.resource.length) + pipelineName;
  ctx.resourceTags ??= new Map();
  let tags = ctx.resourceTags.get(pipelineArn);
  if (!tags) {
    tags = ctx.services.tags.tagMap(principal.accountId, pipelineArn);
    ctx.resourceTags.set(pipelineArn, tags);
  }
  return tags;
}

/** The global condition keys of DESIGN §5 for one request (keys lower-cased). */
export async function conditionContext(
  ctx: GraphQLContext,
  principal: Principal,
  resource: string,
  requestTags: TagLike[] | null | undefined,
): Promise<RequestContext> {
  const context: RequestContext = {
    ...principalContext(principal, ctx.services.config.region),
    'aws:sourceip': ctx.sourceIp,
    'aws:securetransport': 'false',
  };
  if (await ctx.services.authorizer.usesConditionKeyPrefix(principal, 'aws:principaltag/')) {
    // A user's own tags; a role session's are its role's.
    const owner = principal.role?.roleArn ?? principal.arn;
    for (const [key, value] of Object.entries(await ctx.services.tags.tagMap(principal.accountId, owner)))
      context[`aws:principaltag/${key.toLowerCase()}`] = value;
  }
  if (requestTags) {
    context['aws:tagkeys'] = requestTags.map((t) => t.key);
    for (const tag of requestTags) context[`aws:requesttag/${tag.key.toLowerCase()}`] = tag.value ?? '';
  }
  if (await ctx.services.authorizer.usesConditionKeyPrefix(principal, 'aws:resourcetag/')) {
    for (const [key, value] of Object.entries(await resourceTags(ctx, principal, resource))) {
      context[`aws:resourcetag/${key.toLowerCase()}`] = value;
    }
  }
  return context;
}

function inCallersAccount(principal: Principal, resource: string): boolean {
  const account = parseArn(resource)?.account;
  return !account || account === principal.accountId || account === SHARED_ACCOUNT;
}

/**
 * Checks `action` on `resource` for the caller. A principal acts only inside its own account:
 * an ARN of another account is denied with the same message as any denial, so the answer never
 * tells whether that resource exists.
 */
async function check(
  ctx: GraphQLContext,
  principal: Principal,
  action: string,
  resource: string,
  requestTags?: TagLike[] | null,
  platformCrossAccount = false,
  extraContext: RequestContext = {},
): Promise<void> {
  if (ctx.services.authorizer.bypassed) return;
  const crossingAllowed = platformCrossAccount && principal.accountId === PLATFORM_ACCOUNT_ID;
  if (!crossingAllowed && !inCallersAccount(principal, resource)) {
    throw await denial(ctx, principal, action, resource, {
      decision: 'IMPLICIT_DENY',
      matchedStatements: [],
      reason: `${resource} is in another account; a principal acts only inside its own account (${principal.accountId})`,
    });
  }
  const context = { ...(await conditionContext(ctx, principal, resource, requestTags)), ...extraContext };
  const evaluation = await ctx.services.authorizer.evaluate(principal, { action, resource, context });
  if (evaluation.decision !== 'ALLOWED') throw await denial(ctx, principal, action, resource, evaluation);
}

/** `iam:PermissionsBoundary` as the declaration says where it comes from (absent when none). */
async function boundaryContext(
  ctx: GraphQLContext,
  principal: Principal,
  key: BoundaryKey | undefined,
  args: Record<string, unknown>,
): Promise<RequestContext> {
  if (!key) return {};
  // The boundary a call sets is named as stored: a Deny on `policy/DevBoundary` must hold for
  // `policy/devboundary` too (policy names are unique without regard to case).
  const given = 'arg' in key ? args[key.arg] : undefined;
  const boundary =
    'arg' in key
      ? typeof given === 'string'
        ? await ctx.services.iamNames.canonicalArn(principal.accountId, given)
        : undefined
      : await ctx.services.boundaries.boundaryOf(principal.accountId, key.holder, key.name(args));
  return boundary !== undefined ? { 'iam:permissionsboundary': boundary } : {};
}

/**
 * The ACCESS_DENIED for a refusal, carrying the id under which its explanation is kept for the
 * administrators of the caller's account (authorizationDecision). The message itself says no
 * more than IAM's does.
 */
async function denial(
  ctx: GraphQLContext,
  principal: Principal,
  action: string,
  resource: string,
  outcome: Pick<Evaluation, 'decision' | 'deniedBy' | 'matchedStatements'> & { reason?: string },
): Promise<AccessDeniedError> {
  const decisionId = await ctx.services.decisions.record(principal, action, resource, outcome);
  return new AccessDeniedError(principal, action, resource, outcome.decision === 'EXPLICIT_DENY', {
    decisionId,
  });
}

/**
 * The check a root field's declaration calls for, as a function of the request. It resolves
 * with the ARNs the call is about (for the audit trail), or rejects with UNAUTHENTICATED or
 * ACCESS_DENIED. A field without a declaration is refused to everyone.
 */
export function guardFor(
  fieldName: string,
  declaration: PermissionDeclaration | undefined,
): (ctx: GraphQLContext, args: Record<string, unknown>) => Promise<string[]> {
  if (!declaration) {
    return () => Promise.reject(new UndeclaredPermissionError(fieldName));
  }
  switch (declaration.kind) {
    case 'public':
      return () => Promise.resolve([]);
    case 'authenticated':
      return async (ctx) => {
        await authenticate(ctx);
        return [];
      };
    case 'resourcePolicy':
      return async (ctx, args) => {
        const principal = await authenticate(ctx);
        const resource = declaration.resource(args, {
          accountId: principal.accountId,
          region: ctx.services.config.region,
        });
        return [resource];
      };
    case 'list':
      return async (ctx) => {
        const principal = await authenticate(ctx);
        ctx.permits = async (arn) => {
          if (!parseArn(arn) || !inCallersAccount(principal, arn)) return false;
          const context = await conditionContext(ctx, principal, arn, undefined);
          return ctx.services.authorizer.isAllowed(principal, {
            action: declaration.action,
            resource: arn,
            context,
          });
        };
        return [];
      };
    case 'iam':
      return async (ctx, args) => {
        const principal = await authenticate(ctx);
        const env = { accountId: principal.accountId, region: ctx.services.config.region };
        // The entity the request reaches, spelled as stored: a Deny on `user/admin` must hold
        // for `userName: "ADMIN"` too (IAM names are unique without regard to case).
        const resource = await ctx.services.iamNames.canonicalArn(
          principal.accountId,
          declaration.resource(args, env),
        );
        if (declaration.platformOnly && principal.accountId !== PLATFORM_ACCOUNT_ID) {
          throw await denial(ctx, principal, declaration.action, resource, {
            decision: 'IMPLICIT_DENY',
            matchedStatements: [],
            reason: 'only principals of the platform account may call it',
          });
        }
        await check(
          ctx,
          principal,
          declaration.action,
          resource,
          declaration.requestTags?.(args),
          declaration.platformCrossAccount,
          await boundaryContext(ctx, principal, declaration.permissionsBoundary, args),
        );
        return resource === '*' ? [] : [resource];
      };
  }
}

/**
 * A check beyond the field's declaration, for resources known only once the request is read
 * (`iam:PassRole` on the roles a pipeline declaration names). The caller's own policies
 * decide, as IAM decides PassRole: the resource may be in another account (a role an action
 * assumes there), whose trust policy is asked only when the role is used. An ARN of the
 * caller's account is spelled as stored, so a Deny on `role/Deployer` holds for
 * `role/DEPLOYER` too. Rejects with ACCESS_DENIED naming the resource; the operation layer
 * records that as the call's outcome.
 */
export async function authorizeFurther(ctx: GraphQLContext, action: string, resource: string): Promise<void> {
  const principal = ctx.principal;
  if (!principal) throw new Error('permission layer did not run for this field');
  if (ctx.services.authorizer.bypassed) return;
  const canonical = await ctx.services.iamNames.canonicalArn(principal.accountId, resource);
  const context = await conditionContext(ctx, principal, canonical, undefined);
  const evaluation = await ctx.services.authorizer.evaluate(principal, {
    action,
    resource: canonical,
    context,
  });
  if (evaluation.decision !== 'ALLOWED') throw await denial(ctx, principal, action, canonical, evaluation);
}

/** What `permissionNow` found: allowed, denied by policy, or no valid session any more. */
export type PermissionNow = 'allowed' | 'denied' | 'signed-out';

/**
 * For subscriptions, which outlive the check made when they start: may the caller still do
 * `action` on `resource` now? The session verified at the start must still name an existing
 * principal (the token's signature is not verified again: the connection closes itself when
 * the token expires, 4403), and the policies as they are now decide. Never throws for a denial.
 */
export async function permissionNow(
  ctx: GraphQLContext,
  action: string,
  resource: string,
): Promise<PermissionNow> {
  const principal = ctx.principal;
  if (!principal || !(await ctx.services.sessions.stillExists(principal))) return 'signed-out';
  if (ctx.services.authorizer.bypassed) return 'allowed';
  if (!inCallersAccount(principal, resource)) return 'denied';
  // Many subscriptions of one principal (a console in many tabs, a fleet of watchers) ask the
  // same question at once: one evaluation answers them all for a second, or until IAM changes.
  // Sessions of one role may carry different session policies: a role session is keyed by its own id.
  const who = principal.role ? `${principal.role.roleId}|${principal.sessionId}` : (principal.userId ?? '');
  const key = `${principal.arn}|${who}|${ctx.sourceIp}|${action}|${resource}`;
  const generation = ctx.services.iamChanges.generation;
  const decisions = decisionsOf(ctx.services.authorizer);
  const cached = decisions.get(key);
  const now = Date.now();
  if (cached && cached.generation === generation && now - cached.at <= DECISION_CACHE_MS)
    return cached.answer;
  const answer = (async (): Promise<PermissionNow> => {
    const context = await conditionContext(ctx, principal, resource, undefined);
    return (await ctx.services.authorizer.isAllowed(principal, { action, resource, context }))
      ? 'allowed'
      : 'denied';
  })();
  if (decisions.size > 10_000) decisions.clear();
  decisions.set(key, { answer, generation, at: now });
  return answer;
}

const DECISION_CACHE_MS = 1000;
const decisionCaches = new WeakMap<
  object,
  Map<string, { answer: Promise<PermissionNow>; generation: number; at: number }>
>();

function decisionsOf(
  authorizer: object,
): Map<string, { answer: Promise<PermissionNow>; generation: number; at: number }> {
  let decisions = decisionCaches.get(authorizer);
  if (!decisions) decisionCaches.set(authorizer, (decisions = new Map()));
  return decisions;
}
