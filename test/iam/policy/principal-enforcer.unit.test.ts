import { describe, expect, it } from 'vitest';
import {
  AccountAuthorizer,
  type Binding,
  type Decision,
  type RequestContext,
} from '../../../src/iam/policy/account-authorizer';
import {
  ACCOUNT,
  build,
  iamDoc,
  OTHER_PIPELINE,
  PIPELINE,
  policy,
  policyArn,
  STAGE,
} from './authorizer-fixtures';

/**
 * PrincipalEnforcer picks, per request, the rules that can apply, remembers Casbin's answer
 * for sets of unconditional rules, and builds rule subsets in the background. None of that may
 * change a decision: here it is held to the whole-account enforcer (Casbin over every rule,
 * through its role manager) on random policies, requests repeated so that remembered answers
 * and built subsets answer too, and to the one-principal build.
 */

// A deterministic pseudo-random generator, so a failure reproduces.
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

describe('PrincipalEnforcer decides as Casbin over every rule', () => {
  // The last reaches over 30 rules per user: rule sets are then keyed by lists, not bit masks.
  it.each([
    [1, 10],
    [2, 10],
    [3, 10],
    [4, 60],
  ])('random policies, seed %i, %i policies', async (seed, count) => {
    const next = random(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
    const actions = [
      'codepipeline:GetPipeline',
      'codepipeline:Get*',
      'codepipeline:DeletePipeline',
      'codepipeline:*',
      'iam:*',
      '*',
    ];
    const resources = [
      PIPELINE,
      `${PIPELINE}/*`,
      OTHER_PIPELINE,
      '*',
      `arn:sluice:codepipeline:*:${ACCOUNT}:\${aws:username}*`,
      `arn:sluice:codepipeline:local:${ACCOUNT}:\${aws:PrincipalTag/team}/*`,
    ];
    const conditions = [
      undefined,
      undefined,
      { StringEquals: { 'aws:ResourceTag/env': 'prod' } },
      { StringEqualsIfExists: { 'aws:ResourceTag/env': 'dev' } },
      { StringLike: { 'aws:username': 'My*' } },
      { Bool: { 'aws:SecureTransport': 'true' } },
    ];
    const policies = Array.from({ length: count }, (_, p) =>
      policy(
        `P${p}`,
        iamDoc(
          ...Array.from({ length: 1 + Math.floor(next() * 3) }, () => {
            const condition = pick(conditions);
            return {
              Effect: next() < 0.25 ? 'Deny' : 'Allow',
              [next() < 0.15 ? 'NotAction' : 'Action']: pick(actions),
              [next() < 0.15 ? 'NotResource' : 'Resource']: pick(resources),
              ...(condition ? { Condition: condition } : {}),
            };
          }),
        ),
      ),
    );
    const bindings: Binding[] = [];
    for (let g = 0; g < 3; g++) {
      for (let p = 0; p < count / 5; p++)
        bindings.push({ member: `group:g${g}`, of: policyArn(`P${Math.floor(next() * count)}`) });
    }
    const users = Array.from({ length: 6 }, (_, u) => `user:u${u}`);
    for (const [u, user] of users.entries()) {
      if (u % 2 === 0) bindings.push({ member: user, of: `group:g${u % 3}` });
      for (let p = 0; p < (u % 3) + count / 10; p++)
        bindings.push({ member: user, of: policyArn(`P${Math.floor(next() * count)}`) });
    }
    const fast = await build(policies, bindings);
    // Bound to something, no user is a leaf principal: the whole-account enforcer decides.
    const slow = await build(policies, [...bindings, ...users.map((of) => ({ member: 'x', of }))]);

    const requestActions = ['codepipeline:GetPipeline', 'codepipeline:DeletePipeline', 'iam:CreateUser'];
    const requestResources = [
      PIPELINE,
      STAGE,
      OTHER_PIPELINE,
      `arn:sluice:codepipeline:local:${ACCOUNT}:MyPipe2`,
    ];
    const contexts: RequestContext[] = [
      {},
      { 'aws:username': 'MyPipe', 'aws:resourcetag/env': 'prod' },
      { 'aws:username': 'other', 'aws:resourcetag/env': 'dev', 'aws:securetransport': 'true' },
      { 'aws:principaltag/team': 'MyPipe', 'aws:securetransport': 'false' },
    ];
    const one = new Map<string, AccountAuthorizer>();
    for (const user of users) {
      one.set(
        user,
        await AccountAuthorizer.build({ accountId: ACCOUNT, policies, bindings }, { principal: user }),
      );
    }
    const seen = new Set<Decision>();
    for (let pass = 0; pass < 3; pass++) {
      for (const user of users)
        for (const action of requestActions)
          for (const resource of requestResources)
            for (const context of contexts) {
              const label = `pass ${pass} ${user} ${action} ${resource} ${JSON.stringify(context)}`;
              const expected = slow.evaluate(user, action, resource, context);
              seen.add(expected.decision);
              for (const authz of [fast, one.get(user)!]) {
                expect(authz.evaluate(user, action, resource, context), label).toEqual(expected);
                expect(authz.isAllowed(user, action, resource, context), label).toBe(
                  expected.decision === 'ALLOWED',
                );
              }
            }
      await Promise.all([fast.settled(), ...[...one.values()].map((a) => a.settled())]);
    }
    expect([...seen].sort()).toEqual(['ALLOWED', 'EXPLICIT_DENY', 'IMPLICIT_DENY']);
  });

  it('a one-principal build refuses to answer for a key it was not built for', async () => {
    const authz = await AccountAuthorizer.build(
      {
        accountId: ACCOUNT,
        policies: [policy('P', iamDoc({ Effect: 'Allow', Action: '*', Resource: '*' }))],
        bindings: [
          { member: 'user:a', of: 'group:g' },
          { member: 'group:g', of: policyArn('P') },
        ],
      },
      { principal: 'user:a' },
    );
    expect(authz.isAllowed('user:a', 'iam:GetUser', '*', {})).toBe(true);
    expect(authz.isAllowed('user:nobody', 'iam:GetUser', '*', {})).toBe(false);
    expect(() => authz.isAllowed('group:g', 'iam:GetUser', '*', {})).toThrow(/built for one principal/);
  });
});
