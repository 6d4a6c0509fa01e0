import { arn, parseArn } from '../arn';
import type { Principal } from '../identity/principal';
import { compileStatement, statementApplies } from '../policy/compiled-statement';
import { parsePolicyDocument, type PolicyPrincipals, type PolicyStatement } from '../policy/policy-document';
import type { RequestContext } from '../policy/request-context';

/**
 * How a role's trust policy answers an assumeRole call:
 * - `deny`: a Deny statement names the caller (it wins over everything);
 * - `named`: an Allow names the caller itself (its user ARN, or the role its session is of);
 * - `account`: an Allow names only the caller's account (its id, its root ARN) or `*`, so the
 *   account must also have granted `sts:AssumeRole` to the caller in its own policies;
 * - `none`: nothing allows the caller.
 */
export type TrustAnswer = 'deny' | 'named' | 'account' | 'none';

const ASSUME_ROLE = 'sts:assumerole';

/**
 * The trust policy's answer for `caller` assuming `roleArn`, with conditions (sts:ExternalId,
 * aws:SourceIp, aws:PrincipalTag/…) evaluated against `context`. Names compare as IAM's do:
 * an account root or id matches every principal of that account; a user ARN its user (user
 * names are unique without regard to case); a role ARN the sessions of that role.
 */
export function evaluateTrust(
  trustPolicy: unknown,
  caller: Principal,
  roleArn: string,
  context: RequestContext,
): TrustAnswer {
  const document = parsePolicyDocument(trustPolicy, { allowPrincipal: true });
  let answer: TrustAnswer = 'none';
  document.statements.forEach((statement, index) => {
    const match = principalMatch(statement, caller);
    if (match === undefined) return;
    const compiled = compileStatement(statement, index, document.version);
    if (!statementApplies(compiled, ASSUME_ROLE, roleArn, context)) return;
    if (statement.effect === 'Deny') answer = 'deny';
    else if (answer !== 'deny' && (match === 'named' || answer === 'none')) answer = match;
  });
  return answer;
}

/** How a statement's Principal (or NotPrincipal) covers the caller, if it does. */
function principalMatch(statement: PolicyStatement, caller: Principal): 'named' | 'account' | undefined {
  if (statement.principals) return bestMatch(statement.principals, caller);
  // NotPrincipal: everyone but those listed (IAM allows it with Deny; with Allow it is
  // refused by IAM's validation, and here it never counts as naming the caller).
  if (statement.notPrincipals) {
    if (bestMatch(statement.notPrincipals, caller) !== undefined) return undefined;
    return statement.effect === 'Deny' ? 'account' : undefined;
  }
  return undefined;
}

function bestMatch(principals: PolicyPrincipals, caller: Principal): 'named' | 'account' | undefined {
  let best: 'named' | 'account' | undefined;
  for (const entry of principals.aws) {
    const match = entryMatch(entry, caller);
    if (match === 'named') return 'named';
    best ??= match;
  }
  return best;
}

function entryMatch(entry: string, caller: Principal): 'named' | 'account' | undefined {
  if (entry === '*') return 'account';
  // The account (by id or root ARN) delegates to the account's own policies.
  if (entry === caller.accountId || entry === arn.root(caller.accountId)) return 'account';
  const parsed = parseArn(entry);
  if (!parsed || parsed.service !== 'iam' || parsed.account !== caller.accountId) return undefined;
  const [kind, ...rest] = parsed.resource.split('/');
  const name = rest.join('/').toLowerCase();
  if (kind === 'user' && caller.type === 'USER' && caller.userName?.toLowerCase() === name) return 'named';
  if (kind === 'role' && caller.role?.roleName.toLowerCase() === name) return 'named';
  return undefined;
}
