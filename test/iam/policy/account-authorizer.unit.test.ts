import { describe, expect, it } from 'vitest';
import type { Binding, Decision, RequestContext } from '../../../src/iam/policy/account-authorizer';
import {
  ACTION,
  allow,
  build,
  buildForAlice,
  deny,
  doc,
  iamDoc,
  expectDecision,
  OTHER_PIPELINE,
  PIPELINE,
  policy,
  policyArn,
  STAGE,
} from './authorizer-fixtures';

type Row = [principal: string, action: string, resource: string, context: RequestContext, expected: Decision];

describe('AccountAuthorizer: actions and resources', () => {
  // prettier-ignore
  const rows: Row[] = [
    ['user:alice', 'codepipeline:GetPipeline', PIPELINE, {}, 'ALLOWED'],
    ['user:alice', 'CODEPIPELINE:getpipeline', PIPELINE, {}, 'ALLOWED'], // actions are case-insensitive
    ['user:alice', 'codepipeline:ListPipelines', PIPELINE, {}, 'ALLOWED'],
    ['user:alice', 'codepipeline:DeletePipeline', PIPELINE, {}, 'IMPLICIT_DENY'],
    ['user:alice', 'codepipeline:GetPipeline', PIPELINE.replace('MyPipe', 'mypipe'), {}, 'IMPLICIT_DENY'], // ARNs are not
    ['user:alice', 'codepipeline:GetPipeline', OTHER_PIPELINE, {}, 'IMPLICIT_DENY'],
    ['user:alice', 'codepipeline:PutApprovalResult', ACTION, {}, 'ALLOWED'], // `*` spans `/`
    ['user:alice', 'codepipeline:PutApprovalResult', STAGE, {}, 'ALLOWED'],
    ['user:alice', 'codepipeline:PutApprovalResult', PIPELINE, {}, 'IMPLICIT_DENY'],
    ['user:alice', 'codepipeline:GetPipelineState', 'arn:sluice:codepipeline:eu-1:123456789012:Dot.Pipe', {}, 'ALLOWED'],
    ['user:alice', 'codepipeline:GetPipelineState', 'arn:sluice:codepipeline:eu-1:123456789012:DotXPipe', {}, 'IMPLICIT_DENY'],
    ['user:bob', 'codepipeline:GetPipeline', PIPELINE, {}, 'IMPLICIT_DENY'], // no policies at all
    ['group:nobody', 'codepipeline:GetPipeline', PIPELINE, {}, 'IMPLICIT_DENY'],
  ];

  it.each(rows)('%s %s %s → %s', async (principal, action, resource, context, expected) => {
    const authz = await buildForAlice(
      allow(['codepipeline:Get*', 'codepipeline:List*'], PIPELINE),
      allow('codepipeline:PutApprovalResult', `${PIPELINE}/*`),
      // `*` spans `:` (the region), `.` is literal.
      allow('codepipeline:GetPipelineState', 'arn:sluice:codepipeline:*:123456789012:Dot.Pipe'),
    );
    expectDecision(authz, principal, action, resource, context, expected);
  });

  it('NotAction allows everything but the listed actions', async () => {
    const authz = await buildForAlice({
      Effect: 'Allow',
      NotAction: ['iam:*', 'codepipeline:Delete*'],
      Resource: '*',
    });
    expectDecision(authz, 'user:alice', 'codepipeline:GetPipeline', PIPELINE, {}, 'ALLOWED');
    expectDecision(authz, 'user:alice', 'cloudtrail:LookupEvents', '*', {}, 'ALLOWED');
    expectDecision(authz, 'user:alice', 'iam:CreateUser', '*', {}, 'IMPLICIT_DENY');
    expectDecision(authz, 'user:alice', 'codepipeline:deletepipeline', PIPELINE, {}, 'IMPLICIT_DENY');
  });

  it('NotResource allows everything but the listed resources', async () => {
    const authz = await buildForAlice({
      Effect: 'Allow',
      Action: 'codepipeline:*',
      NotResource: `${OTHER_PIPELINE}*`,
    });
    expectDecision(authz, 'user:alice', 'codepipeline:DeletePipeline', PIPELINE, {}, 'ALLOWED');
    expectDecision(authz, 'user:alice', 'codepipeline:DeletePipeline', OTHER_PIPELINE, {}, 'IMPLICIT_DENY');
    expectDecision(
      authz,
      'user:alice',
      'codepipeline:GetPipelineState',
      `${OTHER_PIPELINE}/Prod`,
      {},
      'IMPLICIT_DENY',
    );
  });

  it('Deny with NotAction denies everything except the listed actions', async () => {
    const authz = await buildForAlice(allow('*'), {
      Effect: 'Deny',
      NotAction: ['codepipeline:Get*', 'codepipeline:List*'],
      Resource: '*',
    });
    expectDecision(authz, 'user:alice', 'codepipeline:GetPipeline', PIPELINE, {}, 'ALLOWED');
    expectDecision(authz, 'user:alice', 'codepipeline:StartPipelineExecution', PIPELINE, {}, 'EXPLICIT_DENY');
  });

  it('Deny with NotResource protects everything outside the listed resources', async () => {
    const authz = await buildForAlice(allow('codepipeline:*'), {
      Effect: 'Deny',
      Action: 'codepipeline:*',
      NotResource: `${PIPELINE}*`,
    });
    expectDecision(authz, 'user:alice', 'codepipeline:StartPipelineExecution', PIPELINE, {}, 'ALLOWED');
    expectDecision(
      authz,
      'user:alice',
      'codepipeline:StartPipelineExecution',
      OTHER_PIPELINE,
      {},
      'EXPLICIT_DENY',
    );
  });

  it('substitutes ${aws:username} in Resource from the request context', async () => {
    const authz = await buildForAlice(
      allow('codepipeline:*', 'arn:sluice:codepipeline:local:123456789012:${aws:username}-*'),
    );
    const resource = 'arn:sluice:codepipeline:local:123456789012:alice-service';
    expectDecision(
      authz,
      'user:alice',
      'codepipeline:UpdatePipeline',
      resource,
      { 'aws:username': 'alice' },
      'ALLOWED',
    );
    expectDecision(
      authz,
      'user:alice',
      'codepipeline:UpdatePipeline',
      resource,
      { 'aws:username': 'bob' },
      'IMPLICIT_DENY',
    );
    expectDecision(authz, 'user:alice', 'codepipeline:UpdatePipeline', resource, {}, 'IMPLICIT_DENY');
  });

  it('keeps policy text as data: matcher-like text in a rule field is matched literally', async () => {
    const odd = "arn:sluice:codepipeline:local:123456789012:x') || true || ('";
    const authz = await buildForAlice(allow('codepipeline:GetPipeline', odd));
    expectDecision(authz, 'user:alice', 'codepipeline:GetPipeline', odd, {}, 'ALLOWED');
    expectDecision(authz, 'user:alice', 'codepipeline:GetPipeline', PIPELINE, {}, 'IMPLICIT_DENY');
  });

  it('a document without Version follows 2008-10-17: ${aws:username} is literal text', async () => {
    const literal = 'arn:sluice:codepipeline:local:123456789012:${aws:username}';
    const context = { 'aws:username': 'alice' };
    const unversioned = await build(
      [policy('NoVersion', { Statement: [allow('codepipeline:GetPipeline', literal)] })],
      [{ member: 'user:alice', of: policyArn('NoVersion') }],
    );
    const alicePipeline = `${PIPELINE.slice(0, -6)}alice`;
    expectDecision(
      unversioned,
      'user:alice',
      'codepipeline:GetPipeline',
      alicePipeline,
      context,
      'IMPLICIT_DENY',
    );
    expectDecision(unversioned, 'user:alice', 'codepipeline:GetPipeline', literal, context, 'ALLOWED');
    const versioned = await build(
      [
        policy('Versioned', {
          Version: '2012-10-17',
          Statement: [allow('codepipeline:GetPipeline', literal)],
        }),
      ],
      [{ member: 'user:alice', of: policyArn('Versioned') }],
    );
    expectDecision(versioned, 'user:alice', 'codepipeline:GetPipeline', alicePipeline, context, 'ALLOWED');
  });

  it('treats ${…} as plain text in a 2008-10-17 document', async () => {
    const literal = 'arn:sluice:codepipeline:local:123456789012:${aws:username}';
    const authz = await build(
      [policy('Old', { Version: '2008-10-17', Statement: [allow('codepipeline:GetPipeline', literal)] })],
      [{ member: 'user:alice', of: policyArn('Old') }],
    );
    const context = { 'aws:username': 'alice' };
    expectDecision(authz, 'user:alice', 'codepipeline:GetPipeline', literal, context, 'ALLOWED');
    expectDecision(
      authz,
      'user:alice',
      'codepipeline:GetPipeline',
      `${PIPELINE.slice(0, -6)}alice`,
      context,
      'IMPLICIT_DENY',
    );
  });
});

describe('AccountAuthorizer: policies, groups and explicit deny', () => {
  // prettier-ignore
  const bindings: Binding[] = [
    { member: 'user:alice', of: 'group:devs' },
    { member: 'user:alice', of: policyArn('UserAllow') },
    { member: 'user:bob', of: 'group:devs' },
    { member: 'user:carol', of: 'group:ops' },
    { member: 'group:devs', of: policyArn('DevsAllow') },
    { member: 'group:devs', of: policyArn('DevsDeny') },
    { member: 'group:ops', of: policyArn('OpsAllow') },
    { member: 'group:ops', of: 'group:devs-readers' }, // nested group
    { member: 'group:devs-readers', of: policyArn('ReadOnly') },
  ];
  const policies = [
    policy('UserAllow', iamDoc({ Sid: 'UserDelete', ...allow('codepipeline:DeletePipeline') })),
    policy('DevsAllow', iamDoc(allow(['codepipeline:Get*', 'codepipeline:StartPipelineExecution']))),
    policy('DevsDeny', iamDoc({ Sid: 'NoProdDelete', ...deny('codepipeline:DeletePipeline', PIPELINE) })),
    policy('OpsAllow', iamDoc(allow('codepipeline:*', OTHER_PIPELINE))),
    policy('ReadOnly', iamDoc(allow('codepipeline:List*'))),
  ];

  // prettier-ignore
  const rows: Row[] = [
    ['user:alice', 'codepipeline:GetPipeline', PIPELINE, {}, 'ALLOWED'], // via group:devs
    ['user:alice', 'codepipeline:StartPipelineExecution', PIPELINE, {}, 'ALLOWED'],
    ['user:alice', 'codepipeline:DeletePipeline', OTHER_PIPELINE, {}, 'ALLOWED'], // own policy
    ['user:alice', 'codepipeline:DeletePipeline', PIPELINE, {}, 'EXPLICIT_DENY'], // group Deny beats own Allow
    ['user:bob', 'codepipeline:GetPipeline', PIPELINE, {}, 'ALLOWED'],
    ['user:bob', 'codepipeline:DeletePipeline', OTHER_PIPELINE, {}, 'IMPLICIT_DENY'],
    ['user:bob', 'codepipeline:DeletePipeline', PIPELINE, {}, 'EXPLICIT_DENY'],
    ['user:carol', 'codepipeline:DeletePipeline', OTHER_PIPELINE, {}, 'ALLOWED'],
    ['user:carol', 'codepipeline:GetPipeline', PIPELINE, {}, 'IMPLICIT_DENY'],
    ['user:carol', 'codepipeline:ListPipelines', '*', {}, 'ALLOWED'], // through the nested group
    ['user:dave', 'codepipeline:ListPipelines', '*', {}, 'IMPLICIT_DENY'], // no bindings
    ['group:devs', 'codepipeline:GetPipeline', PIPELINE, {}, 'ALLOWED'], // a group key is evaluated too
    ['group:devs', 'codepipeline:DeletePipeline', PIPELINE, {}, 'EXPLICIT_DENY'],
  ];

  it.each(rows)('%s %s %s → %s', async (principal, action, resource, context, expected) => {
    const authz = await build(policies, bindings);
    expectDecision(authz, principal, action, resource, context, expected);
  });

  it('explains an explicit deny with the Deny statements that matched, from whichever policy', async () => {
    const authz = await build(policies, bindings);
    expect(authz.evaluate('user:alice', 'codepipeline:DeletePipeline', PIPELINE, {})).toEqual({
      decision: 'EXPLICIT_DENY',
      deniedBy: 'identity',
      matchedStatements: [
        {
          sourcePolicyId: policyArn('DevsDeny'),
          sourcePolicyArn: policyArn('DevsDeny'),
          sourcePolicyName: 'DevsDeny',
          statementIndex: 0,
          sid: 'NoProdDelete',
          effect: 'Deny',
          layer: 'identity',
        },
      ],
    });
  });

  it('explains an allow with every Allow statement that matched', async () => {
    const authz = await build(
      [
        policy(
          'A',
          iamDoc(allow('codepipeline:GetPipeline', PIPELINE), {
            Sid: 'Second',
            ...allow('codepipeline:Get*'),
          }),
        ),
        policy('B', iamDoc(allow('codepipeline:Delete*'), allow('*'))),
      ],
      [
        { member: 'user:alice', of: policyArn('A') },
        { member: 'user:alice', of: policyArn('B') },
      ],
    );
    const evaluation = authz.evaluate('user:alice', 'codepipeline:GetPipeline', PIPELINE, {});
    expect(evaluation.decision).toBe('ALLOWED');
    expect(
      evaluation.matchedStatements.map((m) => [m.sourcePolicyName, m.statementIndex, m.sid, m.effect]),
    ).toEqual([
      ['A', 0, undefined, 'Allow'],
      ['A', 1, 'Second', 'Allow'],
      ['B', 1, undefined, 'Allow'],
    ]);
    expect(evaluation.matchedStatements[0]).not.toHaveProperty('sid');
  });

  it('tolerates repeated bindings, a policy attached twice and identical statements', async () => {
    const same = allow('codepipeline:GetPipeline');
    const authz = await build(
      [policy('Twice', iamDoc(same, same))],
      [
        { member: 'user:alice', of: policyArn('Twice') },
        { member: 'user:alice', of: policyArn('Twice') },
        { member: 'user:alice', of: 'group:g' },
        { member: 'group:g', of: policyArn('Twice') },
      ],
    );
    expectDecision(authz, 'user:alice', 'codepipeline:GetPipeline', PIPELINE, {}, 'ALLOWED');
    expect(
      authz.evaluate('user:alice', 'codepipeline:GetPipeline', PIPELINE, {}).matchedStatements,
    ).toHaveLength(2);
  });

  it('refuses two policy sources with the same id', async () => {
    const source = policy('P', iamDoc(allow('*')));
    await expect(build([source, source], [])).rejects.toThrow(/Duplicate policy source id/);
  });

  it('builds an empty account', async () => {
    const authz = await build([], []);
    expectDecision(authz, 'user:alice', 'codepipeline:GetPipeline', PIPELINE, {}, 'IMPLICIT_DENY');
  });
});

describe('AccountAuthorizer: session policies', () => {
  const sessionReadOnly = doc({ Sid: 'SessionRead', ...allow('codepipeline:Get*') });

  // prettier-ignore
  const rows: [what: string, action: string, expected: Decision][] = [
    ['both allow', 'codepipeline:GetPipeline', 'ALLOWED'],
    ['only the principal allows', 'codepipeline:StartPipelineExecution', 'IMPLICIT_DENY'],
    ['only the session allows', 'codepipeline:GetJobDetails', 'IMPLICIT_DENY'],
    ['the principal denies', 'codepipeline:GetPipelineState', 'EXPLICIT_DENY'],
  ];

  it.each(rows)('%s: %s → %s', async (_what, action, expected) => {
    const authz = await buildForAlice(
      allow(['codepipeline:GetPipeline*', 'codepipeline:StartPipelineExecution']),
      deny('codepipeline:GetPipelineState'),
    );
    expectDecision(authz, 'user:alice', action, PIPELINE, {}, expected, sessionReadOnly);
  });

  it('a Deny in the session policy wins, and is explained', async () => {
    const authz = await buildForAlice(allow('codepipeline:*'));
    const session = doc(allow('codepipeline:*'), { Sid: 'NoDelete', ...deny('codepipeline:Delete*') });
    expectDecision(
      authz,
      'user:alice',
      'codepipeline:DeletePipeline',
      PIPELINE,
      {},
      'EXPLICIT_DENY',
      session,
    );
    expect(
      authz.evaluate('user:alice', 'codepipeline:DeletePipeline', PIPELINE, {}, { sessionPolicy: session })
        .matchedStatements,
    ).toEqual([
      {
        sourcePolicyId: 'session',
        sourcePolicyArn: '',
        sourcePolicyName: 'SessionPolicy',
        statementIndex: 1,
        sid: 'NoDelete',
        effect: 'Deny',
        layer: 'session',
      },
    ]);
  });

  it('lists the Allow statements of both the principal and the session', async () => {
    const authz = await buildForAlice(allow('codepipeline:*'));
    const evaluation = authz.evaluate(
      'user:alice',
      'codepipeline:GetPipeline',
      PIPELINE,
      {},
      { sessionPolicy: sessionReadOnly },
    );
    expect(evaluation.matchedStatements.map((m) => [m.sourcePolicyName, m.sid])).toEqual([
      ['AlicePolicy', undefined],
      ['SessionPolicy', 'SessionRead'],
    ]);
  });

  it('a session policy cannot widen what the principal has', async () => {
    const authz = await build([], []);
    expectDecision(
      authz,
      'role:deployer',
      'codepipeline:GetPipeline',
      PIPELINE,
      {},
      'IMPLICIT_DENY',
      doc(allow('*')),
    );
  });
});

describe('AccountAuthorizer: per-principal rule sets agree with the whole-account enforcer', () => {
  // A deterministic pseudo-random generator, so a failure reproduces.
  function random(seed: number): () => number {
    let state = seed;
    return () => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state / 2147483648;
    };
  }

  it('gives the same decision for a principal whether or not it has its own enforcer', async () => {
    const next = random(42);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
    const actions = [
      'codepipeline:GetPipeline',
      'codepipeline:DeletePipeline',
      'codepipeline:List*',
      'iam:*',
      '*',
    ];
    const resources = [PIPELINE, `${PIPELINE}/*`, OTHER_PIPELINE, '*', 'arn:sluice:codepipeline:*:*:Other*'];
    const conditions = [
      undefined,
      { StringEquals: { 'aws:ResourceTag/env': 'prod' } },
      { Bool: { 'aws:SecureTransport': 'true' } },
    ];
    const policies = Array.from({ length: 12 }, (_, p) =>
      policy(
        `P${p}`,
        iamDoc(
          ...Array.from({ length: 3 }, () => {
            const condition = pick(conditions);
            return {
              Effect: next() < 0.2 ? 'Deny' : 'Allow',
              [next() < 0.15 ? 'NotAction' : 'Action']: pick(actions),
              [next() < 0.1 ? 'NotResource' : 'Resource']: pick(resources),
              ...(condition ? { Condition: condition } : {}),
            };
          }),
        ),
      ),
    );
    const bindings: Binding[] = [];
    for (let g = 0; g < 3; g++) {
      for (let p = 0; p < 3; p++)
        bindings.push({ member: `group:g${g}`, of: policyArn(`P${Math.floor(next() * 12)}`) });
    }
    for (let u = 0; u < 6; u++) {
      bindings.push({ member: `user:u${u}`, of: `group:g${u % 3}` });
      bindings.push({ member: `user:u${u}`, of: policyArn(`P${Math.floor(next() * 12)}`) });
    }
    const fast = await build(policies, bindings);
    // Binding every user to something makes none of them a leaf principal: all of them are then
    // evaluated by the whole-account enforcer, through Casbin's role manager.
    const slow = await build(policies, [
      ...bindings,
      ...Array.from({ length: 6 }, (_, u) => ({ member: 'x', of: `user:u${u}` })),
    ]);

    const requestActions = [
      'codepipeline:GetPipeline',
      'codepipeline:DeletePipeline',
      'codepipeline:ListPipelines',
      'iam:CreateUser',
    ];
    const requestResources = [
      PIPELINE,
      STAGE,
      OTHER_PIPELINE,
      'arn:sluice:codepipeline:local:123456789012:OtherThing',
    ];
    const contexts: RequestContext[] = [{}, { 'aws:resourcetag/env': 'prod', 'aws:securetransport': 'true' }];
    const seen = new Set<Decision>();
    for (let u = 0; u < 6; u++) {
      for (const action of requestActions) {
        for (const resource of requestResources) {
          for (const context of contexts) {
            const expected = slow.evaluate(`user:u${u}`, action, resource, context);
            expectDecision(fast, `user:u${u}`, action, resource, context, expected.decision);
            expect(fast.evaluate(`user:u${u}`, action, resource, context)).toEqual(expected);
            seen.add(expected.decision);
          }
        }
      }
    }
    expect([...seen].sort()).toEqual(['ALLOWED', 'EXPLICIT_DENY', 'IMPLICIT_DENY']);
  });
});
