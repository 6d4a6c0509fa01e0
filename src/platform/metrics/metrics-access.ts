import type { GraphQLContext } from '../../graphql/context';
import { conditionContext } from '../../graphql/permission-layer';
import { AccessDeniedError } from '../../iam/access-denied-error';
import { PLATFORM_ACCOUNT_ID } from '../../iam/arn';
import { UnauthenticatedError } from '../../iam/identity/identity.errors';
import type { Principal } from '../../iam/identity/principal';
import type { Evaluation } from '../../iam/policy/account-authorizer';

/** The IAM action a scrape of `/metrics` on the main port needs (AdministratorAccess has it). */
export const GET_METRICS_ACTION = 'sluice:GetMetrics';
const RESOURCE = '*';

/**
 * Who may read `/metrics` on the main port: a principal of the platform account whose policies
 * allow `sluice:GetMetrics`. Metrics describe the whole installation, so a tenant account's
 * root — which may do anything inside its own account — is refused before any policy is read,
 * as for every platform-only operation. Rejects with UNAUTHENTICATED or ACCESS_DENIED (the
 * latter with a decisionId, its explanation kept for the platform's administrators).
 */
export async function authorizeScrape(ctx: GraphQLContext): Promise<Principal> {
  if (!ctx.token)
    throw new UnauthenticatedError('/metrics needs a bearer token of a platform-account principal');
  const principal = await ctx.services.sessions.resolve(ctx.token);
  if (principal.accountId !== PLATFORM_ACCOUNT_ID) {
    throw await denial(ctx, principal, {
      decision: 'IMPLICIT_DENY',
      matchedStatements: [],
      reason: 'only principals of the platform account may read /metrics',
    });
  }
  const evaluation = await ctx.services.authorizer.evaluate(principal, {
    action: GET_METRICS_ACTION,
    resource: RESOURCE,
    context: await conditionContext(ctx, principal, RESOURCE, undefined),
  });
  if (evaluation.decision !== 'ALLOWED') throw await denial(ctx, principal, evaluation);
  return principal;
}

async function denial(
  ctx: GraphQLContext,
  principal: Principal,
  outcome: Pick<Evaluation, 'decision' | 'deniedBy' | 'matchedStatements'> & { reason?: string },
): Promise<AccessDeniedError> {
  const decisionId = await ctx.services.decisions.record(principal, GET_METRICS_ACTION, RESOURCE, outcome);
  return new AccessDeniedError(
    principal,
    GET_METRICS_ACTION,
    RESOURCE,
    outcome.decision === 'EXPLICIT_DENY',
    {
      decisionId,
    },
  );
}
