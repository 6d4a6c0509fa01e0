import { describe, expect, it } from 'vitest';
import { BadInputError, type Problem } from '../../../src/platform/errors';
import {
  parsePolicyDocument,
  POLICY_DOCUMENT_MAX_CHARS,
  type ParsePolicyOptions,
} from '../../../src/iam/policy/policy-document';

const ok = { Effect: 'Allow', Action: 'codepipeline:GetPipeline', Resource: '*' };

function withStatement(statement: object): object {
  return { Version: '2012-10-17', Statement: [statement] };
}

function problemsOf(input: unknown, options?: ParsePolicyOptions): Problem[] {
  try {
    parsePolicyDocument(input, options);
  } catch (error) {
    expect(error).toBeInstanceOf(BadInputError);
    return (error as BadInputError).problems;
  }
  throw new Error('expected the document to be refused');
}

describe('parsePolicyDocument: accepted documents', () => {
  it('normalizes a minimal document; without Version it is 2008-10-17, as in IAM', () => {
    expect(parsePolicyDocument({ Statement: ok })).toEqual({
      version: '2008-10-17',
      statements: [
        { effect: 'Allow', actions: ['codepipeline:GetPipeline'], resources: ['*'], conditions: [] },
      ],
    });
  });

  it('reads a JSON string, keeps Id and Sid, and the 2008 version', () => {
    const parsed = parsePolicyDocument(
      JSON.stringify({
        Version: '2008-10-17',
        Id: 'my-doc',
        Statement: [
          { Sid: 'Read1', Effect: 'Deny', NotAction: ['iam:*'], NotResource: 'arn:sluice:iam::1:user/x' },
        ],
      }),
    );
    expect(parsed).toEqual({
      version: '2008-10-17',
      id: 'my-doc',
      statements: [
        {
          sid: 'Read1',
          effect: 'Deny',
          notActions: ['iam:*'],
          notResources: ['arn:sluice:iam::1:user/x'],
          conditions: [],
        },
      ],
    });
  });

  it('splits condition operators into operator, qualifier and IfExists, and normalizes values to strings', () => {
    const parsed = parsePolicyDocument(
      withStatement({
        ...ok,
        Condition: {
          'ForAllValues:StringEqualsIfExists': { 'aws:TagKeys': ['env', 'team'] },
          NumericLessThan: { 'codepipeline:Count': 10 },
          Bool: { 'aws:SecureTransport': true },
          Null: { 'aws:ResourceTag/env': 'false' },
        },
      }),
    );
    expect(parsed.statements[0].conditions).toEqual([
      {
        operator: 'StringEquals',
        qualifier: 'ForAllValues',
        ifExists: true,
        key: 'aws:TagKeys',
        values: ['env', 'team'],
      },
      { operator: 'NumericLessThan', ifExists: false, key: 'codepipeline:Count', values: ['10'] },
      { operator: 'Bool', ifExists: false, key: 'aws:SecureTransport', values: ['true'] },
      { operator: 'Null', ifExists: false, key: 'aws:ResourceTag/env', values: ['false'] },
    ]);
  });

  it('accepts every operator family with valid values, and unknown condition keys', () => {
    expect(() =>
      parsePolicyDocument(
        withStatement({
          ...ok,
          Condition: {
            IpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '192.168.1.7', '2001:db8::/32', '::1'] },
            NotIpAddressIfExists: { 'aws:SourceIp': '203.0.113.0/24' },
            DateGreaterThan: { 'aws:CurrentTime': ['2024-01-01T00:00:00Z', '2024-06-01', 1700000000] },
            'ForAnyValue:StringLike': { 'aws:TagKeys': 'team-*' },
            ArnLike: { 'aws:PrincipalArn': 'arn:sluice:iam::*:role/deploy-*' },
            StringEquals: { 'sts:ExternalId': 'x', 'codepipeline:Anything': 'y', 'vendor:unknown/key': 'z' },
          },
        }),
      ),
    ).not.toThrow();
  });

  it('parses trust-policy principals when allowed', () => {
    const parsed = parsePolicyDocument(
      {
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { AWS: '123456789012' }, Action: 'sts:AssumeRole' },
          { Effect: 'Allow', Principal: '*', Action: 'sts:AssumeRole' },
          {
            Effect: 'Allow',
            Principal: { AWS: ['arn:sluice:iam::123456789012:root'], Service: 'codepipeline.sluice.local' },
            Action: 'sts:AssumeRole',
          },
        ],
      },
      { allowPrincipal: true },
    );
    expect(parsed.statements.map((s) => s.principals)).toEqual([
      { aws: ['123456789012'], service: [] },
      { aws: ['*'], service: [] },
      { aws: ['arn:sluice:iam::123456789012:root'], service: ['codepipeline.sluice.local'] },
    ]);
    expect(parsed.statements[0].resources).toBeUndefined();
  });
});

describe('parsePolicyDocument: refused documents', () => {
  const statements101 = Array.from({ length: 101 }, () => ok);
  const big = withStatement({
    ...ok,
    Resource: Array.from(
      { length: 200 },
      (_, i) => `arn:sluice:codepipeline:local:123456789012:Pipeline${i}`,
    ),
  });

  // [what, input, path, message (exact string, or a regular expression)]
  // prettier-ignore
  const rows: [string, unknown, string, string | RegExp][] = [
    ['invalid JSON text', '{"Statement": ', '', /^is not valid JSON: /],
    ['a non-object', ['Statement'], '', 'must be a JSON object, got ["Statement"]'],
    ['null', null, '', 'must be a JSON object, got null'],
    ['a bad Version', { Version: '2020-01-01', Statement: ok }, 'Version', 'Version must be "2012-10-17" or "2008-10-17", got "2020-01-01"'],
    ['a non-string Id', { Id: 7, Statement: ok }, 'Id', 'Id must be a string, got 7'],
    ['an unknown top-level key', { Statement: ok, Foo: 1 }, 'Foo', 'Unknown key "Foo"'],
    ['a mis-cased top-level key', { statement: ok }, 'statement', 'Unknown key "statement" (did you mean "Statement"?)'],
    ['no Statement', { Version: '2012-10-17' }, 'Statement', 'Statement is required'],
    ['an empty Statement list', { Statement: [] }, 'Statement', 'Statement must contain at least one statement'],
    ['too many statements', { Statement: statements101 }, 'Statement', 'Statement has 101 statements; the limit is 100'],
    ['a statement that is not an object', { Statement: [ok, 'x'] }, 'Statement[1]', 'Statement[1] must be an object, got "x"'],
    ['a missing Effect', withStatement({ Action: '*', Resource: '*' }), 'Statement[0].Effect', 'Effect is required'],
    ['a misspelled Effect', withStatement({ ...ok, Effect: 'Alow' }), 'Statement[0].Effect', 'Effect must be "Allow" or "Deny", got "Alow"'],
    ['Effect in a single statement object', { Statement: { ...ok, Effect: 'allow' } }, 'Statement.Effect', 'Effect must be "Allow" or "Deny", got "allow"'],
    ['both Action and NotAction', withStatement({ ...ok, NotAction: 'iam:*' }), 'Statement[0].NotAction', 'NotAction cannot be used together with Action; use one of them'],
    ['neither Action nor NotAction', withStatement({ Effect: 'Allow', Resource: '*' }), 'Statement[0].Action', 'Action (or NotAction) is required'],
    ['an empty Action list', withStatement({ ...ok, Action: [] }), 'Statement[0].Action', 'Action must not be an empty list'],
    ['a non-string action', withStatement({ ...ok, Action: ['codepipeline:GetPipeline', 5] }), 'Statement[0].Action[1]', 'Action must be a string or a list of strings, got 5'],
    ['an action without a service', withStatement({ ...ok, Action: 'GetPipeline' }), 'Statement[0].Action', 'Action "GetPipeline" is not an action name (expected "service:Operation" or "*")'],
    ['an action with a space', withStatement({ ...ok, NotAction: ['iam:*', 'codepipeline: Get'], Action: undefined }), 'Statement[0].NotAction[1]', /^NotAction "codepipeline: Get" is not an action name/],
    ['a missing Resource', withStatement({ Effect: 'Allow', Action: '*' }), 'Statement[0].Resource', 'Resource (or NotResource) is required'],
    ['both Resource and NotResource', withStatement({ ...ok, NotResource: '*' }), 'Statement[0].NotResource', 'NotResource cannot be used together with Resource; use one of them'],
    ['a resource that is not an ARN', withStatement({ ...ok, Resource: 'MyPipe' }), 'Statement[0].Resource', 'Resource "MyPipe" is not an ARN or "*"'],
    ['an incomplete ARN', withStatement({ ...ok, Resource: ['*', 'arn:sluice:codepipeline'] }), 'Statement[0].Resource[1]', /is not a complete ARN/],
    ['a control character in a resource', withStatement({ ...ok, Resource: 'arn:sluice:codepipeline:local:1:a\nb' }), 'Statement[0].Resource', /must not contain control characters/],
    ['a non-alphanumeric Sid', withStatement({ ...ok, Sid: 'read-only' }), 'Statement[0].Sid', 'Sid must be alphanumeric (A-Z, a-z, 0-9), got "read-only"'],
    ['a duplicate Sid', { Statement: [{ ...ok, Sid: 'A' }, { ...ok, Sid: 'A' }] }, 'Statement[1].Sid', 'Sid "A" is already used by Statement[0]'],
    ['an unknown statement key', withStatement({ ...ok, Actions: '*' }), 'Statement[0].Actions', 'Unknown key "Actions"'],
    ['a mis-cased statement key', withStatement({ ...ok, condition: {} }), 'Statement[0].condition', 'Unknown key "condition" (did you mean "Condition"?)'],
    ['a Principal in an identity policy', withStatement({ ...ok, Principal: '*' }), 'Statement[0].Principal', 'Principal is not allowed in an identity-based policy'],
    ['a NotPrincipal in an identity policy', withStatement({ ...ok, NotPrincipal: { AWS: '*' } }), 'Statement[0].NotPrincipal', 'NotPrincipal is not allowed in an identity-based policy'],
    ['a Condition that is not an object', withStatement({ ...ok, Condition: ['StringEquals'] }), 'Statement[0].Condition', 'Condition must be an object of operators, got ["StringEquals"]'],
    ['an unknown operator', withStatement({ ...ok, Condition: { StringEqual: { 'aws:username': 'a' } } }), 'Statement[0].Condition.StringEqual', 'Unknown condition operator "StringEqual"'],
    ['a mis-cased operator', withStatement({ ...ok, Condition: { stringequals: { 'aws:username': 'a' } } }), 'Statement[0].Condition.stringequals', 'Unknown condition operator "stringequals" (did you mean "StringEquals"?)'],
    ['an unknown set qualifier', withStatement({ ...ok, Condition: { 'ForSomeValues:StringEquals': { 'aws:TagKeys': 'a' } } }), 'Statement[0].Condition.ForSomeValues:StringEquals', 'Unknown set qualifier "ForSomeValues" (expected "ForAnyValue" or "ForAllValues")'],
    ['NullIfExists', withStatement({ ...ok, Condition: { NullIfExists: { 'aws:username': 'true' } } }), 'Statement[0].Condition.NullIfExists', 'Null cannot take the IfExists suffix'],
    ['an empty operator block', withStatement({ ...ok, Condition: { StringEquals: {} } }), 'Statement[0].Condition.StringEquals', 'StringEquals must map at least one condition key to its values, got {}'],
    ['an operator mapped to a string', withStatement({ ...ok, Condition: { StringEquals: 'x' } }), 'Statement[0].Condition.StringEquals', /must map at least one condition key/],
    ['a condition key without a prefix', withStatement({ ...ok, Condition: { StringEquals: { username: 'a' } } }), 'Statement[0].Condition.StringEquals.username', /^"username" is not a condition key/],
    ['a tag key with no tag', withStatement({ ...ok, Condition: { StringEquals: { 'aws:ResourceTag/': 'a' } } }), 'Statement[0].Condition.StringEquals["aws:ResourceTag/"]', /is not a condition key/],
    ['an empty value list', withStatement({ ...ok, Condition: { StringEquals: { 'aws:username': [] } } }), 'Statement[0].Condition.StringEquals["aws:username"]', 'StringEquals needs at least one value'],
    ['an object value', withStatement({ ...ok, Condition: { StringEquals: { 'aws:username': [{ a: 1 }] } } }), 'Statement[0].Condition.StringEquals["aws:username"][0]', 'StringEquals values must be strings, numbers or booleans, got {"a":1}'],
    ['a bad IP address', withStatement({ ...ok, Condition: { IpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '10.0.0.0/33'] } } }), 'Statement[0].Condition.IpAddress["aws:SourceIp"][1]', 'IpAddress value "10.0.0.0/33" is not an IPv4/IPv6 address or CIDR block'],
    ['a bad IPv6 block', withStatement({ ...ok, Condition: { NotIpAddress: { 'aws:SourceIp': '2001:db8::/129' } } }), 'Statement[0].Condition.NotIpAddress["aws:SourceIp"]', /is not an IPv4\/IPv6 address or CIDR block/],
    ['a bad number', withStatement({ ...ok, Condition: { NumericLessThan: { 'codepipeline:n': 'ten' } } }), 'Statement[0].Condition.NumericLessThan["codepipeline:n"]', 'NumericLessThan value "ten" is not a number'],
    ['a bad date', withStatement({ ...ok, Condition: { DateLessThan: { 'aws:CurrentTime': 'next tuesday' } } }), 'Statement[0].Condition.DateLessThan["aws:CurrentTime"]', 'DateLessThan value "next tuesday" is not an ISO 8601 date-time or epoch seconds'],
    ['an impossible date', withStatement({ ...ok, Condition: { DateLessThan: { 'aws:CurrentTime': '2024-02-31T00:00:00Z' } } }), 'Statement[0].Condition.DateLessThan["aws:CurrentTime"]', /is not an ISO 8601 date-time/],
    ['a bad Bool', withStatement({ ...ok, Condition: { Bool: { 'aws:SecureTransport': 'yes' } } }), 'Statement[0].Condition.Bool["aws:SecureTransport"]', 'Bool value "yes" must be true or false'],
    ['a bad Null', withStatement({ ...ok, Condition: { Null: { 'aws:SecureTransport': 1 } } }), 'Statement[0].Condition.Null["aws:SecureTransport"]', 'Null value 1 must be true or false'],
    ['a document over the size limit', big, '', `is ${JSON.stringify(big).length} characters of minified JSON; the limit is ${POLICY_DOCUMENT_MAX_CHARS}`],
  ];

  it.each(rows)('reports %s', (_what, input, path, message) => {
    const problems = problemsOf(input);
    const atPath = problems.filter((p) => p.path === path);
    expect(atPath.length, JSON.stringify(problems)).toBeGreaterThan(0);
    if (typeof message === 'string') expect(atPath.map((p) => p.message)).toContain(message);
    else
      expect(
        atPath.some((p) => message.test(p.message)),
        JSON.stringify(atPath),
      ).toBe(true);
  });

  it('reports every problem at once, in one BadInputError', () => {
    const input = {
      Version: 'v1',
      Statement: [
        { Effect: 'Alow', Action: 'x', Resource: '*' },
        {
          Sid: 'has space',
          Effect: 'Allow',
          Action: '*',
          Resource: '*',
          Condition: { Foo: { 'aws:a': 'b' } },
        },
      ],
    };
    let error: unknown;
    try {
      parsePolicyDocument(input);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(BadInputError);
    const bad = error as BadInputError;
    expect(bad.code).toBe('BAD_USER_INPUT');
    expect(bad.problems.map((p) => p.path)).toEqual([
      'Version',
      'Statement[0].Effect',
      'Statement[0].Action',
      'Statement[1].Sid',
      'Statement[1].Condition.Foo',
    ]);
    expect(bad.message).toMatch(/^Policy document is invalid: Version: /);
    expect(bad.details).toEqual({ problems: bad.problems });
  });

  // prettier-ignore
  const trustRows: [string, unknown, string, string | RegExp][] = [
    ['a trust statement without Principal', withStatement({ Effect: 'Allow', Action: 'sts:AssumeRole' }), 'Statement[0].Principal', 'Principal (or NotPrincipal) is required'],
    ['both Principal and NotPrincipal', withStatement({ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: '*', NotPrincipal: '*' }), 'Statement[0].NotPrincipal', /cannot be used together with Principal/],
    ['an unsupported principal type', withStatement({ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { Federated: 'x' } }), 'Statement[0].Principal.Federated', 'Principal type "Federated" is not supported (use "AWS" or "Service")'],
    ['a bad AWS principal', withStatement({ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { AWS: ['123', '*'] } }), 'Statement[0].Principal.AWS[0]', 'Principal.AWS "123" is not "*", a 12-digit account ID or an ARN'],
    ['a principal string other than *', withStatement({ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: 'alice' }), 'Statement[0].Principal', /^Principal must be "\*" or an object/],
    ['an empty principal object', withStatement({ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: {} }), 'Statement[0].Principal', 'Principal must name at least one principal'],
  ];

  it.each(trustRows)('in a trust policy, reports %s', (_what, input, path, message) => {
    const problems = problemsOf(input, { allowPrincipal: true });
    const messages = problems.filter((p) => p.path === path).map((p) => p.message);
    if (typeof message === 'string') expect(messages, JSON.stringify(problems)).toContain(message);
    else
      expect(
        messages.some((m) => message.test(m)),
        JSON.stringify(problems),
      ).toBe(true);
  });
});
