import { expect } from 'vitest';
import {
  AccountAuthorizer,
  type Binding,
  type Decision,
  type PolicySource,
  type RequestContext,
} from '../../../src/iam/policy/account-authorizer';
import { parsePolicyDocument, type PolicyDocument } from '../../../src/iam/policy/policy-document';

/** Shared fixtures for the policy tests, in the style of node-casbin's `testEnforce`. */
export const ACCOUNT = '123456789012';
export const PIPELINE = `arn:sluice:codepipeline:local:${ACCOUNT}:MyPipe`;
export const STAGE = `${PIPELINE}/Prod`;
export const ACTION = `${STAGE}/Approve`;
export const OTHER_PIPELINE = `arn:sluice:codepipeline:local:${ACCOUNT}:OtherPipe`;

export function policyArn(name: string): string {
  return `arn:sluice:iam::${ACCOUNT}:policy/${name}`;
}

/** A customer policy source named `name` (id = ARN) from a raw IAM document. */
export function policy(name: string, document: unknown): PolicySource {
  return { id: policyArn(name), arn: policyArn(name), name, document: parsePolicyDocument(document) };
}

export function allow(
  action: string | string[],
  resource: string | string[] = '*',
  extra: object = {},
): object {
  return { Effect: 'Allow', Action: action, Resource: resource, ...extra };
}

export function deny(
  action: string | string[],
  resource: string | string[] = '*',
  extra: object = {},
): object {
  return { Effect: 'Deny', Action: action, Resource: resource, ...extra };
}

/** A raw IAM document (JSON shape) holding the statements. */
export function iamDoc(...statements: object[]): object {
  return { Version: '2012-10-17', Statement: statements };
}

/** A parsed document holding the statements (e.g. a session policy). */
export function doc(...statements: object[]): PolicyDocument {
  return parsePolicyDocument(iamDoc(...statements));
}

export function build(policies: PolicySource[], bindings: Binding[]): Promise<AccountAuthorizer> {
  return AccountAuthorizer.build({ accountId: ACCOUNT, policies, bindings });
}

/** Builds an account where `user:alice` holds exactly the given statements in one policy. */
export function buildForAlice(...statements: object[]): Promise<AccountAuthorizer> {
  return build(
    [policy('AlicePolicy', iamDoc(...statements))],
    [{ member: 'user:alice', of: policyArn('AlicePolicy') }],
  );
}

/**
 * Asserts one decision, and that the fast path (`isAllowed`) and the explaining path
 * (`evaluate`) agree on it.
 */
export function expectDecision(
  authz: AccountAuthorizer,
  principal: string,
  action: string,
  resource: string,
  context: RequestContext,
  expected: Decision,
  sessionPolicy?: PolicyDocument,
): void {
  const label = `${principal} ${action} ${resource} ${JSON.stringify(context)}`;
  const evaluation = authz.evaluate(principal, action, resource, context, { sessionPolicy });
  expect(evaluation.decision, label).toBe(expected);
  expect(authz.isAllowed(principal, action, resource, context, { sessionPolicy }), label).toBe(
    expected === 'ALLOWED',
  );
  if (expected === 'IMPLICIT_DENY') expect(evaluation.matchedStatements, label).toEqual([]);
  else {
    const effect = expected === 'ALLOWED' ? 'Allow' : 'Deny';
    expect(evaluation.matchedStatements.length, label).toBeGreaterThan(0);
    expect(
      evaluation.matchedStatements.every((m) => m.effect === effect),
      label,
    ).toBe(true);
  }
}
