import { BadInputError } from '../../platform/errors';
import { parsePolicyDocument, type PolicyDocument } from '../policy/policy-document';

/** As STS: an inline session policy is at most 2,048 characters of minified JSON. */
export const SESSION_POLICY_MAX_CHARS = 2_048;

/** The `policy` argument of assumeRole as stored in the session: minified JSON text. */
export function sessionPolicyText(input: unknown): string {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (error) {
      throw BadInputError.of('Session policy', [
        { path: 'policy', message: `is not valid JSON: ${(error as Error).message}` },
      ]);
    }
  }
  const text = JSON.stringify(value);
  if (text.length > SESSION_POLICY_MAX_CHARS) {
    throw BadInputError.of('Session policy', [
      {
        path: 'policy',
        message: `is ${text.length} characters of minified JSON; the limit is ${SESSION_POLICY_MAX_CHARS}`,
      },
    ]);
  }
  parseSessionPolicy(text);
  return text;
}

/** Parses a session policy (an identity policy document: no Principal element). */
export function parseSessionPolicy(text: string): PolicyDocument {
  try {
    return parsePolicyDocument(text);
  } catch (error) {
    if (error instanceof BadInputError) {
      throw BadInputError.of(
        'Session policy',
        error.problems.map((p) => ({ path: p.path ? `policy.${p.path}` : 'policy', message: p.message })),
      );
    }
    throw error;
  }
}
