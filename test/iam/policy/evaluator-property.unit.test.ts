import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AccountAuthorizer,
  type Binding,
  type Decision,
  type EvaluationLayer,
  type PolicySource,
} from '../../../src/iam/policy/account-authorizer';
import { parsePolicyDocument } from '../../../src/iam/policy/policy-document';
import {
  referenceEvaluate,
  type ReferenceMatch,
  type ReferencePolicies,
  type ReferenceRequest,
  type ReferenceResult,
} from './reference-evaluator';

/**
 * The proof of the evaluator (issue 9, point 7): on random accounts — policies with wildcards,
 * NotAction/NotResource, conditions, policy variables, allow/deny mixes, groups, boundaries,
 * guardrails — and random requests with session policies and the root, the Casbin-backed
 * AccountAuthorizer (both `evaluate` and `isAllowed`) must decide exactly as the reference
 * evaluator, which is written from AWS's documentation and shares no code with it. The
 * pools below are small on purpose, so that wildcards, variables and conditions often hit.
 */

const ACCOUNT = '111122223333';
const CP = `arn:sluice:codepipeline:local:${ACCOUNT}`;
const USER_ARN = `arn:sluice:iam::${ACCOUNT}:user`;
const REQUESTS_PER_ACCOUNT = 12;
// PROP_ACCOUNTS=20000 runs a longer search (about a minute per 20,000 accounts).
const ACCOUNTS = Number(process.env.PROP_ACCOUNTS ?? 850);

const REQUEST_ACTIONS = [
  'codepipeline:GetPipeline',
  'codepipeline:GetPipelineState',
  'codepipeline:ListPipelines',
  'codepipeline:DeletePipeline',
  'codepipeline:PutApprovalResult',
  'codepipeline:StartPipelineExecution',
  'iam:CreateUser',
  'sts:AssumeRole',
];

const ACTION_PATTERNS = [
  '*',
  'codepipeline:*',
  'codepipeline:Get*',
  'codepipeline:*Pipeline*',
  'codepipeline:?etPipeline',
  'codepipeline:GetPipeline?????',
  'CODEPIPELINE:getpipeline',
  'codepipeline:Delete*',
  'codepipeline:List*',
  'code*:Put*',
  'iam:*',
  '*:*User',
  'sts:AssumeRole',
  'codepipeline:StartPipelineExecution',
];

const REQUEST_RESOURCES = [
  `${CP}:Pipe1`,
  `${CP}:Pipe1/Prod`,
  `${CP}:Pipe1/Prod/Approve`,
  `${CP}:Pipe1/Staging/Approve`,
  `${CP}:Pipe2`,
  `${CP}:alice-app`,
  `${CP}:team-a/Prod`,
  `${CP}:Pipe*`, // literally a star: what `${*}` spells
  `${CP}:Pipe?`,
  `${CP}:\${aws:username}`, // literally: what a 2008-10-17 document means
  `arn:sluice:codepipeline:eu-1:${ACCOUNT}:Pipe1`,
  `${USER_ARN}/alice`,
  '*',
];

const RESOURCE_PATTERNS = [
  '*',
  'arn:sluice:codepipeline:*',
  `${CP}:Pipe1`,
  `${CP}:Pipe1/*`,
  `${CP}:Pipe?`,
  `${CP}:Pipe?/*/Approve`,
  `${CP}:*/Prod/*`,
  `arn:sluice:codepipeline:*:${ACCOUNT}:Pipe1`,
  `${CP}:\${aws:username}-*`,
  `${CP}:\${aws:username}`,
  `${CP}:\${aws:PrincipalTag/team}*`,
  `${CP}:Pipe\${*}`,
  `${CP}:Pipe\${?}`,
  `${CP}:\${$}{aws:username}`,
  `${CP}:\${aws:UserName, 'Pipe1'}`,
  `${USER_ARN}/\${aws:username}`,
  'arn:sluice:iam::*:user/*',
];

type RawValue = string | number | boolean;
interface Clause {
  operator: string;
  key: string;
  values: RawValue | RawValue[];
}

const oneOrMore = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | T[]> =>
  fc.oneof(arb, fc.array(arb, { minLength: 1, maxLength: 3 }));

const rarely = (weight = 4): fc.Arbitrary<boolean> =>
  fc.oneof({ arbitrary: fc.constant(false), weight }, { arbitrary: fc.constant(true), weight: 1 });

const STRING_OPERATORS = [
  'StringEquals',
  'StringNotEquals',
  'StringEqualsIgnoreCase',
  'StringNotEqualsIgnoreCase',
  'StringLike',
  'StringNotLike',
];

function clauseOf(
  operators: readonly string[],
  keys: readonly string[],
  values: readonly RawValue[],
  { qualified = false, ifExists = true } = {},
): fc.Arbitrary<Clause> {
  return fc
    .record({
      qualifier: qualified ? fc.constantFrom('ForAnyValue:', 'ForAllValues:') : fc.constant(''),
      operator: fc.constantFrom(...operators),
      ifExists: ifExists ? rarely(3) : fc.constant(false),
      key: fc.constantFrom(...keys),
      values: oneOrMore(fc.constantFrom(...values)),
    })
    .map(({ qualifier, operator, ifExists: suffix, key, values: chosen }) => ({
      operator: `${qualifier}${operator}${suffix ? 'IfExists' : ''}`,
      key,
      values: chosen,
    }));
}

const clauseArb: fc.Arbitrary<Clause> = fc.oneof(
  // Single-valued string keys, with policy variables and escapes in the values. Key names in
  // any case: IAM compares them case-insensitively.
  {
    weight: 4,
    arbitrary: clauseOf(
      STRING_OPERATORS,
      ['aws:username', 'aws:UserName', 'aws:PrincipalTag/team', 'aws:ResourceTag/env', 'AWS:RESOURCETAG/Env'],
      [
        'alice',
        'bob',
        'prod',
        'Prod',
        'dev',
        'pr*',
        'd?v',
        'a*',
        'team-?',
        '${aws:username}',
        '${aws:PrincipalTag/team}',
        '${aws:username}*',
        "${aws:username, 'prod'}",
        'a${*}',
        '${?}ev',
      ],
    ),
  },
  // Set operators, over the multi-valued aws:TagKeys and over single-valued keys.
  {
    weight: 3,
    arbitrary: clauseOf(
      STRING_OPERATORS,
      ['aws:TagKeys', 'aws:tagkeys', 'aws:ResourceTag/env'],
      ['env', 'team', 'cost', 't*', 'ENV', 'prod'],
      { qualified: true },
    ),
  },
  {
    weight: 2,
    arbitrary: clauseOf(
      ['ArnEquals', 'ArnLike', 'ArnNotEquals', 'ArnNotLike'],
      ['aws:PrincipalArn'],
      [
        `${USER_ARN}/*`,
        'arn:sluice:iam::*:role/r1',
        'arn:sluice:iam::${aws:PrincipalAccount}:user/alice',
        `arn:*:iam::${ACCOUNT}:user/a?ice`,
        `arn:sluice:iam::${ACCOUNT}:*`,
        'arn:sluice:iam::*:user/${aws:username}',
        // Five components: no ARN matches it, though a plain wildcard match would.
        'arn:sluice:iam:*:user/alice',
      ],
    ),
  },
  { weight: 1, arbitrary: clauseOf(['Bool'], ['aws:SecureTransport'], [true, false, 'true', 'false']) },
  {
    weight: 2,
    arbitrary: clauseOf(
      ['Null'],
      ['aws:username', 'aws:ResourceTag/env', 'aws:TagKeys', 'aws:SourceIp'],
      ['true', 'false', true, false],
      { ifExists: false },
    ),
  },
  {
    weight: 1,
    arbitrary: clauseOf(
      [
        'NumericEquals',
        'NumericNotEquals',
        'NumericLessThan',
        'NumericLessThanEquals',
        'NumericGreaterThan',
        'NumericGreaterThanEquals',
      ],
      ['codepipeline:Count'],
      [5, '10', 10.5, '7', -1],
    ),
  },
  {
    weight: 1,
    arbitrary: clauseOf(
      [
        'DateEquals',
        'DateNotEquals',
        'DateLessThan',
        'DateLessThanEquals',
        'DateGreaterThan',
        'DateGreaterThanEquals',
      ],
      ['aws:CurrentTime'],
      ['2025-01-01T00:00:00Z', 1735689600, '2030-06-01T12:00:00Z', '2024-06-01T00:00:00.500Z'],
    ),
  },
  {
    weight: 1,
    arbitrary: clauseOf(
      ['IpAddress', 'NotIpAddress'],
      ['aws:SourceIp'],
      ['10.0.0.0/8', '192.168.1.1', '2001:db8::/32', '::/0', '0.0.0.0/0', 'fd00::/8', '10.1.2.3/32'],
    ),
  },
);

type RawStatement = Record<string, unknown>;
type RawDocument = Record<string, unknown>;

const statementArb: fc.Arbitrary<RawStatement> = fc
  .record({
    effect: fc.constantFrom('Allow', 'Allow', 'Deny'),
    notAction: rarely(),
    actions: oneOrMore(fc.constantFrom(...ACTION_PATTERNS)),
    notResource: rarely(),
    resources: oneOrMore(fc.constantFrom(...RESOURCE_PATTERNS)),
    clauses: fc.oneof(
      { weight: 1, arbitrary: fc.constant([]) },
      { weight: 1, arbitrary: fc.array(clauseArb, { minLength: 1, maxLength: 3 }) },
    ),
  })
  .map(({ effect, notAction, actions, notResource, resources, clauses }) => {
    const condition: Record<string, Record<string, unknown>> = {};
    for (const { operator, key, values } of clauses)
      condition[operator] = { ...condition[operator], [key]: values };
    return {
      Effect: effect,
      [notAction ? 'NotAction' : 'Action']: actions,
      [notResource ? 'NotResource' : 'Resource']: resources,
      ...(clauses.length > 0 ? { Condition: condition } : {}),
    };
  });

const documentArb: fc.Arbitrary<RawDocument> = fc
  .record({
    // Mostly 2012-10-17; sometimes 2008-10-17 or no Version at all, where `${…}` is plain text.
    version: fc.constantFrom<string | undefined>(
      '2012-10-17',
      '2012-10-17',
      '2012-10-17',
      '2008-10-17',
      undefined,
    ),
    statements: fc.array(statementArb, { minLength: 1, maxLength: 4 }),
    bare: fc.boolean(),
  })
  .map(({ version, statements, bare }) => ({
    ...(version !== undefined ? { Version: version } : {}),
    Statement: bare && statements.length === 1 ? statements[0] : statements,
  }));

const contextArb: fc.Arbitrary<ReferenceRequest['context']> = fc.record(
  {
    'aws:username': fc.constantFrom('alice', 'bob', 'a*', 'Pipe1', 'prod'),
    'aws:principaltag/team': fc.constantFrom('team-a', 'Pipe', 'prod'),
    'aws:principalaccount': fc.constantFrom(ACCOUNT, '999999999999'),
    'aws:principalarn': fc.constantFrom(
      `${USER_ARN}/alice`,
      `${USER_ARN}/bob`,
      `arn:sluice:iam::${ACCOUNT}:role/r1`,
      'whatever',
    ),
    'aws:resourcetag/env': fc.constantFrom('prod', 'Prod', 'dev', 'd?v'),
    'aws:tagkeys': fc.constantFrom<string[]>([], ['env'], ['env', 'team'], ['cost'], ['team', 'cost', 'env']),
    'aws:securetransport': fc.constantFrom('true', 'false'),
    'codepipeline:count': fc.constantFrom('5', '10', '10.5', '7.0', '-1'),
    'aws:currenttime': fc.constantFrom(
      '2025-01-01T00:00:00Z',
      '2024-12-31T23:59:59Z',
      '2030-06-01T12:00:00Z',
      '1735689600',
    ),
    'aws:sourceip': fc.constantFrom(
      '10.1.2.3',
      '192.168.1.1',
      '2001:db8::1',
      '8.8.8.8',
      'fd00::5',
      '2001:db9::1',
    ),
  },
  { requiredKeys: [] },
);

const PRINCIPALS = ['user:alice', 'user:bob', 'role:r1'] as const;
const GROUPS = ['group:devs', 'group:ops'] as const;
const HOLDERS = [...PRINCIPALS, ...GROUPS];

interface Request extends ReferenceRequest {
  principal: string;
  sessionPolicy?: RawDocument;
  root: boolean;
}

const requestArb: fc.Arbitrary<Request> = fc
  .record({
    // user:nobody has no bindings at all; a group key is evaluated with the group's policies.
    principal: fc.constantFrom(
      'user:alice',
      'user:alice',
      'user:bob',
      'role:r1',
      'user:nobody',
      'group:devs',
    ),
    action: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...REQUEST_ACTIONS) },
      { weight: 1, arbitrary: fc.mixedCase(fc.constantFrom(...REQUEST_ACTIONS)) },
    ),
    resource: fc.constantFrom(...REQUEST_RESOURCES),
    context: contextArb,
    session: fc.oneof(
      { weight: 3, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: documentArb },
    ),
    root: rarely(9),
  })
  .map(({ session, ...rest }) => ({ ...rest, ...(session ? { sessionPolicy: session } : {}) }));

interface Account {
  policies: RawDocument[];
  /** Per policy: the principals and groups it is attached to. */
  holders: string[][];
  memberships: Record<string, readonly string[]>;
  /** group:devs is itself a member of group:ops. */
  nested: boolean;
  /** Per principal: the index of its boundary policy. */
  boundaries: Partial<Record<string, number>>;
  /** Indexes of the guardrail policies, or undefined for an account without guardrails. */
  guardrails?: number[];
  requests: Request[];
}

const accountArb: fc.Arbitrary<Account> = fc
  .array(documentArb, { minLength: 1, maxLength: 5 })
  .chain((policies) => {
    const index = fc.nat({ max: policies.length - 1 });
    const maybeIndex = fc.oneof(
      { weight: 3, arbitrary: fc.constant(undefined) },
      { weight: 2, arbitrary: index },
    );
    return fc.record({
      policies: fc.constant(policies),
      holders: fc.array(fc.subarray(HOLDERS), { minLength: policies.length, maxLength: policies.length }),
      memberships: fc.record({
        'user:alice': fc.subarray([...GROUPS]),
        'user:bob': fc.subarray([...GROUPS]),
      }),
      nested: fc.boolean(),
      boundaries: fc.record({ 'user:alice': maybeIndex, 'user:bob': maybeIndex, 'role:r1': maybeIndex }),
      guardrails: fc.oneof(
        { weight: 3, arbitrary: fc.constant(undefined) },
        { weight: 2, arbitrary: fc.subarray(policies.map((_, i) => i)) },
      ),
      requests: fc.array(requestArb, { minLength: REQUESTS_PER_ACCOUNT, maxLength: REQUESTS_PER_ACCOUNT }),
    });
  });

const policyId = (index: number): string => `arn:sluice:iam::${ACCOUNT}:policy/P${index}`;

async function buildAuthorizer(account: Account): Promise<AccountAuthorizer> {
  const policies: PolicySource[] = account.policies.map((raw, i) => ({
    id: policyId(i),
    arn: policyId(i),
    name: `P${i}`,
    document: parsePolicyDocument(raw),
  }));
  const bindings: Binding[] = [
    ...Object.entries(account.memberships).flatMap(([member, groups]) =>
      groups.map((of) => ({ member, of })),
    ),
    ...(account.nested ? [{ member: 'group:devs', of: 'group:ops' }] : []),
    ...account.holders.flatMap((members, i) => members.map((member) => ({ member, of: policyId(i) }))),
  ];
  const boundaries: Binding[] = Object.entries(account.boundaries).flatMap(([member, index]) =>
    index === undefined ? [] : [{ member, of: policyId(index) }],
  );
  return AccountAuthorizer.build({
    accountId: ACCOUNT,
    policies,
    bindings,
    boundaries,
    ...(account.guardrails ? { guardrails: account.guardrails.map(policyId) } : {}),
  });
}

/** The reference's view of one request: the principal's policies, found through its groups. */
function referenceInput(account: Account, request: Request): { policies: ReferencePolicies; ids: IdsOf } {
  const keys = new Set([request.principal, ...(account.memberships[request.principal] ?? [])]);
  if (account.nested && keys.has('group:devs')) keys.add('group:ops');
  const identity = account.policies.flatMap((_, i) =>
    account.holders[i].some((h) => keys.has(h)) ? [i] : [],
  );
  const boundary = account.boundaries[request.principal];
  const policies: ReferencePolicies = {
    identityPolicies: identity.map((i) => account.policies[i]),
    ...(boundary !== undefined ? { boundary: account.policies[boundary] } : {}),
    ...(account.guardrails ? { guardrails: account.guardrails.map((i) => account.policies[i]) } : {}),
    ...(request.sessionPolicy ? { sessionPolicy: request.sessionPolicy } : {}),
    root: request.root,
  };
  const ids: IdsOf = {
    identity: identity.map(policyId),
    boundary: boundary === undefined ? [] : [policyId(boundary)],
    guardrails: (account.guardrails ?? []).map(policyId),
    session: ['session'],
  };
  return { policies, ids };
}

type IdsOf = Record<EvaluationLayer, string[]>;
type Reference = (policies: ReferencePolicies, request: ReferenceRequest) => ReferenceResult;

interface Tally {
  cases: number;
  decisions: Record<Decision, number>;
  deniedBy: Record<EvaluationLayer, number>;
}

const newTally = (): Tally => ({
  cases: 0,
  decisions: { ALLOWED: 0, EXPLICIT_DENY: 0, IMPLICIT_DENY: 0 },
  deniedBy: { guardrails: 0, boundary: 0, session: 0, identity: 0 },
});

/** Evaluates every request of the account both ways; throws (with the details) on a mismatch. */
async function compareAccount(account: Account, reference: Reference, tally?: Tally): Promise<void> {
  const authz = await buildAuthorizer(account);
  for (const request of account.requests) {
    const { policies, ids } = referenceInput(account, request);
    const expected = reference(policies, request);
    const options = {
      ...(request.sessionPolicy ? { sessionPolicy: parsePolicyDocument(request.sessionPolicy) } : {}),
      root: request.root,
    };
    const { principal, action, resource, context } = request;
    const actual = authz.evaluate(principal, action, resource, context, options);
    const allowed = authz.isAllowed(principal, action, resource, context, options);

    const describeMatch = (m: ReferenceMatch) => `${ids[m.layer][m.policy]}#${m.statement}#${m.effect}`;
    const got = {
      decision: actual.decision,
      deniedBy: actual.deniedBy,
      isAllowed: allowed,
      matched: actual.matchedStatements
        .map((m) => `${m.sourcePolicyId}#${m.statementIndex}#${m.effect}`)
        .sort(),
    };
    const want = {
      decision: expected.decision,
      deniedBy: expected.deniedBy,
      isAllowed: expected.decision === 'ALLOWED',
      matched: expected.matched.map(describeMatch).sort(),
    };
    expect(got, JSON.stringify({ request })).toEqual(want);
    if (tally) {
      tally.cases++;
      tally.decisions[expected.decision]++;
      if (expected.deniedBy) tally.deniedBy[expected.deniedBy]++;
    }
  }
}

describe('AccountAuthorizer agrees with the reference evaluator', () => {
  it(`on ${ACCOUNTS} random accounts × ${REQUESTS_PER_ACCOUNT} requests`, { timeout: 120_000 }, async () => {
    const tally = newTally();
    await fc.assert(
      fc.asyncProperty(accountArb, (account) => compareAccount(account, referenceEvaluate, tally)),
      { numRuns: ACCOUNTS },
    );
    expect(tally.cases).toBeGreaterThanOrEqual(10_000);
    // The generators must reach every outcome and every layer often, or agreement means little.
    for (const count of [...Object.values(tally.decisions), ...Object.values(tally.deniedBy)]) {
      expect(count, JSON.stringify(tally)).toBeGreaterThan(tally.cases / 100);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The property can fail: each deliberately wrong reference below must be caught.

function mapStatements(document: unknown, change: (statement: RawStatement) => RawStatement): unknown {
  const raw = document as RawDocument;
  const list = Array.isArray(raw.Statement)
    ? (raw.Statement as RawStatement[])
    : [raw.Statement as RawStatement];
  return { ...raw, Statement: list.map(change) };
}

function mapDocuments(
  policies: ReferencePolicies,
  change: (document: unknown) => unknown,
): ReferencePolicies {
  return {
    ...policies,
    identityPolicies: policies.identityPolicies.map(change),
    ...(policies.boundary !== undefined ? { boundary: change(policies.boundary) } : {}),
    ...(policies.guardrails ? { guardrails: policies.guardrails.map(change) } : {}),
    ...(policies.sessionPolicy !== undefined ? { sessionPolicy: change(policies.sessionPolicy) } : {}),
  };
}

const onStatements =
  (change: (statement: RawStatement) => RawStatement): Reference =>
  (policies, request) =>
    referenceEvaluate(
      mapDocuments(policies, (document) => mapStatements(document, change)),
      request,
    );

const renameKey = (from: string, to: string) => (statement: RawStatement) => {
  if (!(from in statement)) return statement;
  const { [from]: value, ...rest } = statement;
  return { ...rest, [to]: value };
};

const renameOperators = (rename: (operator: string) => string) => (statement: RawStatement) => {
  if (statement.Condition === undefined) return statement;
  const condition = Object.fromEntries(
    Object.entries(statement.Condition as Record<string, unknown>).map(([operator, block]) => [
      rename(operator),
      block,
    ]),
  );
  return { ...statement, Condition: condition };
};

const MUTANTS: [string, Reference][] = [
  [
    'guardrails ignored',
    (policies, request) => referenceEvaluate({ ...policies, guardrails: undefined }, request),
  ],
  [
    'boundary ignored',
    (policies, request) => referenceEvaluate({ ...policies, boundary: undefined }, request),
  ],
  [
    'session policy ignored',
    (policies, request) => referenceEvaluate({ ...policies, sessionPolicy: undefined }, request),
  ],
  [
    'root treated as any principal',
    (policies, request) => referenceEvaluate({ ...policies, root: false }, request),
  ],
  ['NotAction read as Action', onStatements(renameKey('NotAction', 'Action'))],
  ['NotResource read as Resource', onStatements(renameKey('NotResource', 'Resource'))],
  ['IfExists ignored', onStatements(renameOperators((operator) => operator.replace(/IfExists$/, '')))],
  [
    'ForAllValues read as ForAnyValue',
    onStatements(renameOperators((operator) => operator.replace('ForAllValues:', 'ForAnyValue:'))),
  ],
  [
    'every document read as 2012-10-17',
    (policies, request) =>
      referenceEvaluate(
        mapDocuments(policies, (document) => ({ ...(document as RawDocument), Version: '2012-10-17' })),
        request,
      ),
  ],
  [
    'action names compared case-sensitively',
    (policies, request) => {
      const result = referenceEvaluate(policies, request);
      const cased = REQUEST_ACTIONS.includes(request.action);
      return cased ? result : referenceEvaluate(policies, { ...request, action: 'unknown:Action' });
    },
  ],
];

describe('the property test catches a wrong evaluator', () => {
  it.each(MUTANTS)('%s', { timeout: 60_000 }, async (_name, mutant) => {
    const result = await fc.check(
      fc.asyncProperty(accountArb, (account) => compareAccount(account, mutant)),
      { numRuns: 300, endOnFailure: true },
    );
    expect(result.failed).toBe(true);
  });
});
