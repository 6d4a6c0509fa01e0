import { AccessDeniedError, type Authorizer } from '../authorizer';
import type { DecisionLog } from '../decisions/decision-log';
import { arn, parseArn } from '../arn';
import type { Principal } from '../identity/principal';
import type { IssuedToken, TokenService } from '../identity/token.service';
import type { RequestContext } from '../policy/request-context';
import type { RoleService } from '../roles/role.service';
import type { Db } from '../../platform/db/unit-of-work';
import { BadInputError, type Problem } from '../../platform/errors';
import { parseSessionPolicy, sessionPolicyText } from './session-policy';
import { evaluateTrust } from './trust-evaluation';

export interface AssumeRoleInput {
  roleArn: string;
  roleSessionName: string;
  externalId?: string;
  durationSeconds?: number;
  /** A session policy (JSON object or text): the session may do only what it allows too. */
  policy?: unknown;
}

export interface AssumedRole {
  principal: Omit<Principal, 'sessionId'>;
  token: IssuedToken;
}

/** DESIGN §5: 15 minutes to the role's maximum, 1 hour by default; a chained session ≤ 1 hour. */
export const MIN_DURATION_SECONDS = 900;
export const DEFAULT_DURATION_SECONDS = 3600;
export const CHAINED_MAX_SECONDS = 3600;

const ROLE_ARN = /^arn:sluice:iam::(\d{12}):role\/([\w+=,.@-]{1,64})$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;
const ACTION = 'sts:AssumeRole';

/** Tags of a principal (`aws:PrincipalTag/<k>`), by its canonical ARN. */
export type PrincipalTags = (accountId: string, principalArn: string) => Promise<Record<string, string>>;

/**
 * assumeRole (DESIGN §5, IAM's cross-account model). Two policies must agree: the role's trust
 * policy must name the caller, and — unless the caller is in the role's account and named by
 * the trust policy itself — the caller's own policies must allow `sts:AssumeRole` on the role.
 * Every refusal reads the same whether the role exists or not, so a caller learns nothing
 * about another account's roles.
 */
export class StsService {
  constructor(
    private readonly db: Db,
    private readonly roles: RoleService,
    private readonly authorizer: Authorizer,
    private readonly tokens: TokenService,
    private readonly principalTags: PrincipalTags,
    private readonly decisions: DecisionLog,
  ) {}

  /**
   * `roleFound` is called with the role's account once the role is known to exist, before the
   * decision, so the attempt can be recorded in that account's audit trail too.
   */
  async assumeRole(
    caller: Principal,
    input: AssumeRoleInput,
    requestContext: RequestContext,
    roleFound: (accountId: string) => void = () => undefined,
  ): Promise<AssumedRole> {
    const principal = await this.startSession(caller, input, requestContext, roleFound);
    return {
      principal,
      token: this.tokens.issue(principal, input.durationSeconds ?? DEFAULT_DURATION_SECONDS),
    };
  }

  /**
   * The decision of assumeRole and the session principal it yields, without a token: for
   * callers inside this process (the engine acting with a pipeline's service role), whose
   * session never leaves it. Throws exactly as assumeRole does.
   *
   * `options.rootActsAsAccount`: STS refuses the account root because root credentials are
   * not to be handed around; the engine, acting for a pipeline its account root last changed,
   * hands nothing out, so there the root counts as the account itself (a trust policy naming
   * the account admits it, within the account's guardrails).
   */
  async startSession(
    caller: Principal,
    input: AssumeRoleInput,
    requestContext: RequestContext,
    roleFound: (accountId: string) => void = () => undefined,
    options: { rootActsAsAccount?: boolean } = {},
  ): Promise<Omit<Principal, 'sessionId'>> {
    const target = validate(input);
    const sessionPolicy =
      input.policy !== undefined && input.policy !== null ? sessionPolicyText(input.policy) : undefined;
    if (caller.type === 'ROOT' && !options.rootActsAsAccount) {
      // As STS: root credentials cannot assume roles; a user of the account must.
      throw new AccessDeniedError(caller, ACTION, input.roleArn, false, {
        because: 'the account root cannot assume roles',
      });
    }
    const role = await this.roles.findRole(this.db.manager, target.accountId, target.roleName);
    if (role) roleFound(role.accountId);
    // Decided on the role's canonical ARN: a Deny on `role/Admin` holds for `role/ADMIN` too.
    const roleArn = role ? arn.role(role.accountId, role.name) : input.roleArn;

    const context: RequestContext = {
      ...requestContext,
      'sts:rolesessionname': input.roleSessionName,
      ...(input.externalId !== undefined ? { 'sts:externalid': input.externalId } : {}),
    };
    for (const [key, value] of Object.entries(await this.principalTags(caller.accountId, tagOwnerOf(caller))))
      context[`aws:principaltag/${key.toLowerCase()}`] = value;

    const identity = await this.authorizer.evaluate(caller, { action: ACTION, resource: roleArn, context });
    const trust = role ? evaluateTrust(role.assumeRolePolicy, caller, roleArn, context) : 'none';
    const sameAccount = role?.accountId === caller.accountId;
    const allowed =
      role !== null &&
      identity.decision !== 'EXPLICIT_DENY' &&
      trust !== 'deny' &&
      trust !== 'none' &&
      ((trust === 'named' && sameAccount) || identity.decision === 'ALLOWED');
    if (!allowed || !role) {
      // Only the caller's own explicit deny is worth telling it about; the trust policy's
      // answer is the role owner's business.
      // The explanation, for the caller's own administrators, holds the caller's side only: its
      // policies' decision when they refused, else a reason that does not tell the two apart.
      const outcome =
        identity.decision !== 'ALLOWED'
          ? identity
          : {
              decision: 'IMPLICIT_DENY' as const,
              matchedStatements: [],
              reason:
                "the role does not exist, or its trust policy does not allow this caller (the role's account can tell which)",
            };
      const decisionId = await this.decisions.record(caller, ACTION, input.roleArn, outcome);
      throw new AccessDeniedError(caller, ACTION, input.roleArn, identity.decision === 'EXPLICIT_DENY', {
        decisionId,
      });
    }

    const chained = caller.type === 'ASSUMED_ROLE';
    const duration = input.durationSeconds ?? DEFAULT_DURATION_SECONDS;
    // Checked only once the caller may assume the role: the role's maximum is not for strangers.
    if (chained && duration > CHAINED_MAX_SECONDS) {
      throw durationProblem(
        `is ${duration}, but a role session assuming another role lasts at most ${CHAINED_MAX_SECONDS} seconds`,
      );
    }
    if (duration > role.maxSessionDuration) {
      throw durationProblem(
        `is ${duration}, more than role ${role.name}'s maximum session duration of ${role.maxSessionDuration} seconds`,
      );
    }

    return {
      type: 'ASSUMED_ROLE',
      arn: `arn:sluice:sts::${role.accountId}:assumed-role/${role.name}/${input.roleSessionName}`,
      accountId: role.accountId,
      role: {
        roleId: role.id,
        roleName: role.name,
        roleArn,
        sessionName: input.roleSessionName,
        // IAM's source identity: who started the chain, kept through every hop.
        sourceIdentity: caller.role?.sourceIdentity ?? caller.arn,
        issuedBy: caller.arn,
        sessionPolicy: sessionPolicy !== undefined ? parseSessionPolicy(sessionPolicy) : undefined,
        sessionPolicyText: sessionPolicy,
        createdAt: new Date().toISOString(),
      },
    };
  }
}

/** Whose tags `aws:PrincipalTag` reads: a user's own, a session's role's. */
function tagOwnerOf(caller: Principal): string {
  return caller.role?.roleArn ?? caller.arn;
}

function validate(input: AssumeRoleInput): { accountId: string; roleName: string } {
  const problems: Problem[] = [];
  const match = ROLE_ARN.exec(input.roleArn);
  if (!match || !parseArn(input.roleArn))
    problems.push({
      path: 'roleArn',
      message: 'must be a role ARN, arn:sluice:iam::<account id>:role/<name>',
    });
  if (!SESSION_NAME.test(input.roleSessionName))
    problems.push({
      path: 'roleSessionName',
      message: 'must be 2–64 characters of letters, digits and _+=,.@-',
    });
  if (input.externalId !== undefined && !EXTERNAL_ID.test(input.externalId))
    problems.push({
      path: 'externalId',
      message: 'must be 2–1224 characters of letters, digits and _+=,.@:/-',
    });
  const duration = input.durationSeconds;
  if (
    duration !== undefined &&
    (!Number.isInteger(duration) || duration < MIN_DURATION_SECONDS || duration > 43_200)
  )
    problems.push({
      path: 'durationSeconds',
      message: `must be a whole number of seconds from ${MIN_DURATION_SECONDS} (15 minutes) to 43200 (12 hours)`,
    });
  if (problems.length || !match) throw BadInputError.of('AssumeRole request', problems);
  return { accountId: match[1], roleName: match[2] };
}

function durationProblem(message: string): BadInputError {
  return BadInputError.of('AssumeRole request', [{ path: 'durationSeconds', message }]);
}
