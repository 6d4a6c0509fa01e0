import { BadInputError, type Problem } from '../../platform/errors';
import { parsePolicyDocument } from '../policy/policy-document';

/**
 * Who a trust policy may name as `Principal.AWS`: "*", an account id, or an account root,
 * user or role ARN of this partition. Anything else could never match a caller, so it is
 * refused rather than stored as a statement that silently grants nothing.
 */
const TRUSTED = /^(\*|\d{12}|arn:sluice:iam::\d{12}:(root|user\/[\w+=,.@-]{1,64}|role\/[\w+=,.@-]{1,64}))$/;

/** Validates a role's trust policy as IAM does; BAD_USER_INPUT naming each bad statement. */
export function parseTrustPolicy(input: unknown): Record<string, unknown> {
  const document = parsePolicyDocument(input, { allowPrincipal: true });
  const problems: Problem[] = [];
  document.statements.forEach((statement, index) => {
    const path = `Statement[${index}]`;
    for (const principals of [statement.principals, statement.notPrincipals]) {
      for (const principal of principals?.aws ?? []) {
        if (!TRUSTED.test(principal))
          problems.push({
            path: `${path}.Principal.AWS`,
            message: `"${principal}" is not "*", an account id, or an arn:sluice:iam::<account>:root, user/… or role/… ARN`,
          });
      }
    }
    for (const action of statement.actions ?? []) {
      if (!/^sts:/i.test(action) && action !== '*')
        problems.push({ path: `${path}.Action`, message: `"${action}" is not an sts: action` });
    }
  });
  if (problems.length) throw BadInputError.of('Trust policy', problems);
  return (typeof input === 'string' ? JSON.parse(input) : input) as Record<string, unknown>;
}
