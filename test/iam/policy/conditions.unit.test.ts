import { describe, it } from 'vitest';
import type { RequestContext } from '../../../src/iam/policy/account-authorizer';
import { allow, buildForAlice, deny, expectDecision, PIPELINE } from './authorizer-fixtures';

/**
 * One Allow statement for codepipeline:GetPipeline on MyPipe, guarded by the condition in each
 * row: ALLOWED when the condition holds, IMPLICIT_DENY when it does not.
 */
type Row = [what: string, condition: object, context: RequestContext, holds: boolean];

async function expectCondition(condition: object, context: RequestContext, holds: boolean): Promise<void> {
  const authz = await buildForAlice(allow('codepipeline:GetPipeline', PIPELINE, { Condition: condition }));
  expectDecision(
    authz,
    'user:alice',
    'codepipeline:GetPipeline',
    PIPELINE,
    context,
    holds ? 'ALLOWED' : 'IMPLICIT_DENY',
  );
}

const env = (value: string | undefined): RequestContext =>
  value === undefined ? {} : { 'aws:resourcetag/env': value };
const ip = (address: string): RequestContext => ({ 'aws:sourceip': address });
const now = (iso: string): RequestContext => ({ 'aws:currenttime': iso });
const tags = (keys: string[] | undefined): RequestContext =>
  keys === undefined ? {} : { 'aws:tagkeys': keys };
const count = (n: string | undefined): RequestContext => (n === undefined ? {} : { 'codepipeline:count': n });

describe('condition operators', () => {
  // prettier-ignore
  const rows: Row[] = [
    // String
    ['StringEquals matches', { StringEquals: { 'aws:ResourceTag/env': 'prod' } }, env('prod'), true],
    ['StringEquals is case-sensitive', { StringEquals: { 'aws:ResourceTag/env': 'prod' } }, env('Prod'), false],
    ['StringEquals: any of several values', { StringEquals: { 'aws:ResourceTag/env': ['dev', 'prod'] } }, env('prod'), true],
    ['StringEquals: missing key is false', { StringEquals: { 'aws:ResourceTag/env': 'prod' } }, env(undefined), false],
    ['StringNotEquals: other value', { StringNotEquals: { 'aws:ResourceTag/env': 'prod' } }, env('dev'), true],
    ['StringNotEquals: same value', { StringNotEquals: { 'aws:ResourceTag/env': 'prod' } }, env('prod'), false],
    ['StringNotEquals: must match none of the values', { StringNotEquals: { 'aws:ResourceTag/env': ['dev', 'prod'] } }, env('dev'), false],
    ['StringNotEquals: missing key is true (as IAM)', { StringNotEquals: { 'aws:ResourceTag/env': 'prod' } }, env(undefined), true],
    ['StringEqualsIgnoreCase', { StringEqualsIgnoreCase: { 'aws:ResourceTag/env': 'PROD' } }, env('prod'), true],
    ['StringNotEqualsIgnoreCase: same but for case', { StringNotEqualsIgnoreCase: { 'aws:ResourceTag/env': 'PROD' } }, env('prod'), false],
    ['StringNotEqualsIgnoreCase: other value', { StringNotEqualsIgnoreCase: { 'aws:ResourceTag/env': 'PROD' } }, env('dev'), true],
    ['StringLike with *', { StringLike: { 'aws:ResourceTag/env': 'pr*' } }, env('prod'), true],
    ['StringLike with ?', { StringLike: { 'aws:ResourceTag/env': 'pro?' } }, env('prod'), true],
    ['StringLike is case-sensitive', { StringLike: { 'aws:ResourceTag/env': 'PR*' } }, env('prod'), false],
    ['StringLike: no wildcard means equality', { StringLike: { 'aws:ResourceTag/env': 'pro' } }, env('prod'), false],
    ['StringNotLike: matching value', { StringNotLike: { 'aws:ResourceTag/env': 'pr*' } }, env('prod'), false],
    ['StringNotLike: other value', { StringNotLike: { 'aws:ResourceTag/env': 'pr*' } }, env('dev'), true],
    ['StringNotLike: missing key is true', { StringNotLike: { 'aws:ResourceTag/env': 'pr*' } }, env(undefined), true],
    ['condition key names are case-insensitive', { StringEquals: { 'AWS:RESOURCETAG/ENV': 'prod' } }, env('prod'), true],
    // ARN
    ['ArnEquals exact', { ArnEquals: { 'aws:PrincipalArn': 'arn:sluice:iam::123456789012:user/alice' } }, { 'aws:principalarn': 'arn:sluice:iam::123456789012:user/alice' }, true],
    ['ArnLike with wildcards', { ArnLike: { 'aws:PrincipalArn': 'arn:sluice:iam::*:user/a*' } }, { 'aws:principalarn': 'arn:sluice:iam::123456789012:user/alice' }, true],
    ['ArnLike: a * stays inside its ARN component', { ArnLike: { 'aws:PrincipalArn': 'arn:*:iam::1:user/alice' } }, { 'aws:principalarn': 'arn:sluice:extra:iam::1:user/alice' }, false],
    ['ArnLike: a * matches within its component', { ArnLike: { 'aws:PrincipalArn': 'arn:*:iam::1:user/alice' } }, { 'aws:principalarn': 'arn:sluice:iam::1:user/alice' }, true],
    ['ArnLike: resource component may hold colons', { ArnLike: { 'aws:PrincipalArn': 'arn:sluice:codepipeline:*:*:actiontype:*' } }, { 'aws:principalarn': 'arn:sluice:codepipeline:local:1:actiontype:Sluice/Build/x/1' }, true],
    ['ArnLike: "*" matches any ARN', { ArnLike: { 'aws:PrincipalArn': '*' } }, { 'aws:principalarn': 'arn:sluice:iam::1:user/alice' }, true],
    ['ArnLike: a value that is not an ARN matches nothing, not even "*"', { ArnLike: { 'aws:PrincipalArn': '*' } }, { 'aws:principalarn': 'whatever' }, false],
    ['ArnLike: a value of fewer than six components is not an ARN', { ArnLike: { 'aws:PrincipalArn': 'arn:*:*:*:*:*' } }, { 'aws:principalarn': 'arn:sluice:iam' }, false],
    ['ArnLike: a value must start with arn', { ArnLike: { 'aws:PrincipalArn': '*:*:*:*:*:*' } }, { 'aws:principalarn': 'urn:sluice:iam::1:user/alice' }, false],
    ['ArnLike: a * in one component does not run into the next', { ArnLike: { 'aws:PrincipalArn': 'arn:sluice:iam:*:user/alice' } }, { 'aws:principalarn': 'arn:sluice:iam::1:user/alice' }, false],
    ['ArnLike: a pattern of fewer than six components matches nothing', { ArnLike: { 'aws:PrincipalArn': 'arn:sluice:*' } }, { 'aws:principalarn': 'arn:sluice:iam::1:user/alice' }, false],
    ['ArnLike: an empty component matches only an empty one', { ArnLike: { 'aws:PrincipalArn': 'arn:sluice:iam::*:*' } }, { 'aws:principalarn': 'arn:sluice:iam:local:1:user/alice' }, false],
    ['ArnEquals compares component by component too', { ArnEquals: { 'aws:PrincipalArn': 'arn:sluice:iam::*:user/*' } }, { 'aws:principalarn': 'arn:sluice:iam::1:user/a:b' }, true],
    ['ArnNotLike: a value that is not an ARN is not like the pattern', { ArnNotLike: { 'aws:PrincipalArn': '*' } }, { 'aws:principalarn': 'whatever' }, true],
    ['ArnLike is case-sensitive', { ArnLike: { 'aws:PrincipalArn': 'arn:sluice:iam::*:user/ALICE' } }, { 'aws:principalarn': 'arn:sluice:iam::1:user/alice' }, false],
    ['ArnNotEquals', { ArnNotEquals: { 'aws:PrincipalArn': 'arn:sluice:iam::1:user/bob' } }, { 'aws:principalarn': 'arn:sluice:iam::1:user/alice' }, true],
    ['ArnNotLike: matching value', { ArnNotLike: { 'aws:PrincipalArn': 'arn:sluice:iam::1:user/*' } }, { 'aws:principalarn': 'arn:sluice:iam::1:user/alice' }, false],
    ['ArnNotLike: missing key is true', { ArnNotLike: { 'aws:PrincipalArn': 'arn:sluice:iam::1:user/*' } }, {}, true],
    // Bool and Null
    ['Bool true', { Bool: { 'aws:SecureTransport': 'true' } }, { 'aws:securetransport': 'true' }, true],
    ['Bool compares case-insensitively', { Bool: { 'aws:SecureTransport': true } }, { 'aws:securetransport': 'TRUE' }, true],
    ['Bool mismatch', { Bool: { 'aws:SecureTransport': 'true' } }, { 'aws:securetransport': 'false' }, false],
    ['Bool: missing key is false', { Bool: { 'aws:SecureTransport': 'false' } }, {}, false],
    ['Null true: key absent', { Null: { 'aws:ResourceTag/env': 'true' } }, env(undefined), true],
    ['Null true: key present', { Null: { 'aws:ResourceTag/env': 'true' } }, env('prod'), false],
    ['Null false: key present', { Null: { 'aws:ResourceTag/env': 'false' } }, env('prod'), true],
    ['Null false: key absent', { Null: { 'aws:ResourceTag/env': 'false' } }, env(undefined), false],
    ['Null true: an empty multi-valued key is absent', { Null: { 'aws:TagKeys': 'true' } }, tags([]), true],
    // Numeric
    ['NumericEquals', { NumericEquals: { 'codepipeline:Count': 5 } }, count('5.0'), true],
    ['NumericNotEquals', { NumericNotEquals: { 'codepipeline:Count': 5 } }, count('6'), true],
    ['NumericLessThan true', { NumericLessThan: { 'codepipeline:Count': '10' } }, count('9'), true],
    ['NumericLessThan false at the bound', { NumericLessThan: { 'codepipeline:Count': '10' } }, count('10'), false],
    ['NumericLessThanEquals at the bound', { NumericLessThanEquals: { 'codepipeline:Count': 10 } }, count('10'), true],
    ['NumericGreaterThan', { NumericGreaterThan: { 'codepipeline:Count': 10 } }, count('10.5'), true],
    ['NumericGreaterThanEquals', { NumericGreaterThanEquals: { 'codepipeline:Count': 10 } }, count('9'), false],
    ['Numeric: a request value that is not a number', { NumericLessThan: { 'codepipeline:Count': 10 } }, count('few'), false],
    ['Numeric: missing key is false', { NumericLessThan: { 'codepipeline:Count': 10 } }, count(undefined), false],
    // Date
    ['DateLessThan with aws:CurrentTime, before', { DateLessThan: { 'aws:CurrentTime': '2030-01-01T00:00:00Z' } }, now('2029-12-31T23:59:59Z'), true],
    ['DateLessThan with aws:CurrentTime, after', { DateLessThan: { 'aws:CurrentTime': '2030-01-01T00:00:00Z' } }, now('2030-01-01T00:00:01Z'), false],
    ['DateLessThan compares instants across zones', { DateLessThan: { 'aws:CurrentTime': '2030-01-01T00:00:00Z' } }, now('2030-01-01T00:30:00+01:00'), true],
    ['DateLessThan with epoch seconds in the policy', { DateLessThan: { 'aws:CurrentTime': 1893456000 } }, now('2029-12-31T00:00:00Z'), true],
    ['DateLessThanEquals at the bound', { DateLessThanEquals: { 'aws:CurrentTime': '2030-01-01' } }, now('2030-01-01T00:00:00.000Z'), true],
    ['DateGreaterThan', { DateGreaterThan: { 'aws:CurrentTime': '2024-01-01T00:00:00Z' } }, now('2025-06-01T12:00:00Z'), true],
    ['DateGreaterThanEquals', { DateGreaterThanEquals: { 'aws:CurrentTime': '2024-01-01T00:00:00Z' } }, now('2023-12-31T23:59:59Z'), false],
    ['DateEquals', { DateEquals: { 'aws:CurrentTime': '2024-01-01T00:00:00Z' } }, now('2024-01-01T00:00:00.000Z'), true],
    ['DateNotEquals', { DateNotEquals: { 'aws:CurrentTime': '2024-01-01T00:00:00Z' } }, now('2024-01-02T00:00:00Z'), true],
    ['Date with aws:EpochTime in the request', { DateGreaterThan: { 'aws:EpochTime': '2024-01-01T00:00:00Z' } }, { 'aws:epochtime': '1735689600' }, true],
    ['Date: unreadable request value', { DateLessThan: { 'aws:CurrentTime': '2030-01-01' } }, now('soon'), false],
    // IP addresses
    ['IpAddress in an IPv4 CIDR', { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }, ip('10.20.30.40'), true],
    ['IpAddress outside an IPv4 CIDR', { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }, ip('11.0.0.1'), false],
    ['IpAddress: a single address', { IpAddress: { 'aws:SourceIp': '192.168.1.7' } }, ip('192.168.1.7'), true],
    ['IpAddress: one of several ranges', { IpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '203.0.113.0/24'] } }, ip('203.0.113.9'), true],
    ['IpAddress in an IPv6 CIDR', { IpAddress: { 'aws:SourceIp': '2001:db8::/32' } }, ip('2001:db8:1234::1'), true],
    ['IpAddress outside an IPv6 CIDR', { IpAddress: { 'aws:SourceIp': '2001:db8::/32' } }, ip('2001:db9::1'), false],
    ['IpAddress: IPv4-mapped IPv6 request address', { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }, ip('::ffff:10.1.2.3'), true],
    ['IpAddress: not an address', { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }, ip('localhost'), false],
    ['NotIpAddress outside', { NotIpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }, ip('192.0.2.1'), true],
    ['NotIpAddress inside', { NotIpAddress: { 'aws:SourceIp': ['192.0.2.0/24', '10.0.0.0/8'] } }, ip('10.0.0.1'), false],
    ['IpAddress: an IPv4 address is inside no IPv6 block', { IpAddress: { 'aws:SourceIp': '::/0' } }, ip('8.8.8.8'), false],
    ['IpAddress: nor inside the IPv4-mapped block', { IpAddress: { 'aws:SourceIp': '::ffff:0:0/96' } }, ip('8.8.8.8'), false],
    ['IpAddress: an IPv6 address is inside no IPv4 block', { IpAddress: { 'aws:SourceIp': '0.0.0.0/0' } }, ip('2001:db8::1'), false],
    ['IpAddress: an IPv6 address in ::/0', { IpAddress: { 'aws:SourceIp': '::/0' } }, ip('2001:db8::1'), true],
    ['IpAddress: IPv4-mapped request address is IPv4, not in ::/0', { IpAddress: { 'aws:SourceIp': '::/0' } }, ip('::ffff:8.8.8.8'), false],
    ['NotIpAddress: IPv4 outside both families holds', { NotIpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '::/0'] } }, ip('8.8.8.8'), true],
    ['NotIpAddress: IPv6 inside ::/0 does not hold', { NotIpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '::/0'] } }, ip('2001:db8::1'), false],
    // IfExists
    ['StringEqualsIfExists: missing key is true', { StringEqualsIfExists: { 'aws:ResourceTag/env': 'prod' } }, env(undefined), true],
    ['StringEqualsIfExists: present key is checked', { StringEqualsIfExists: { 'aws:ResourceTag/env': 'prod' } }, env('dev'), false],
    ['DateLessThanIfExists: missing key is true', { DateLessThanIfExists: { 'aws:CurrentTime': '2030-01-01' } }, {}, true],
    ['IpAddressIfExists: present key is checked', { IpAddressIfExists: { 'aws:SourceIp': '10.0.0.0/8' } }, ip('11.0.0.1'), false],
    ['BoolIfExists: missing key is true', { BoolIfExists: { 'aws:SecureTransport': 'true' } }, {}, true],
    // Set operators over a multi-valued key
    ['ForAllValues: every tag key allowed', { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['env', 'team'] } }, tags(['env']), true],
    ['ForAllValues: one tag key not allowed', { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['env', 'team'] } }, tags(['env', 'cost']), false],
    ['ForAllValues: empty set is true', { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['env'] } }, tags([]), true],
    ['ForAllValues: missing key is true', { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['env'] } }, tags(undefined), true],
    ['ForAnyValue: one tag key matches', { 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['env'] } }, tags(['cost', 'env']), true],
    ['ForAnyValue: none matches', { 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['env'] } }, tags(['cost']), false],
    ['ForAnyValue: empty set is false', { 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['env'] } }, tags([]), false],
    ['ForAnyValue: missing key is false', { 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['env'] } }, tags(undefined), false],
    ['ForAnyValue:StringLike', { 'ForAnyValue:StringLike': { 'aws:TagKeys': 'team-*' } }, tags(['env', 'team-a']), true],
    ['ForAllValues:StringNotEquals: no forbidden key', { 'ForAllValues:StringNotEquals': { 'aws:TagKeys': ['owner'] } }, tags(['env', 'team']), true],
    ['ForAllValues:StringNotEquals: a forbidden key', { 'ForAllValues:StringNotEquals': { 'aws:TagKeys': ['owner'] } }, tags(['env', 'owner']), false],
    ['ForAnyValue:StringNotEquals: some key not listed', { 'ForAnyValue:StringNotEquals': { 'aws:TagKeys': ['env'] } }, tags(['env', 'x']), true],
    ['unqualified StringEquals on a multi-valued key: any value', { StringEquals: { 'aws:TagKeys': 'env' } }, tags(['x', 'env']), true],
    ['unqualified StringNotEquals on a multi-valued key: no value may match', { StringNotEquals: { 'aws:TagKeys': 'env' } }, tags(['x', 'env']), false],
    ['ForAnyValue:StringEqualsIfExists: missing key is true', { 'ForAnyValue:StringEqualsIfExists': { 'aws:TagKeys': 'env' } }, tags(undefined), true],
    // Combining
    ['two keys in one operator: both must hold', { StringEquals: { 'aws:ResourceTag/env': 'prod', 'aws:username': 'alice' } }, { 'aws:resourcetag/env': 'prod', 'aws:username': 'bob' }, false],
    ['two keys in one operator: both hold', { StringEquals: { 'aws:ResourceTag/env': 'prod', 'aws:username': 'alice' } }, { 'aws:resourcetag/env': 'prod', 'aws:username': 'alice' }, true],
    ['two operators: both must hold', { StringEquals: { 'aws:ResourceTag/env': 'prod' }, IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }, { 'aws:resourcetag/env': 'prod', 'aws:sourceip': '8.8.8.8' }, false],
    ['two operators: both hold', { StringEquals: { 'aws:ResourceTag/env': 'prod' }, IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }, { 'aws:resourcetag/env': 'prod', 'aws:sourceip': '10.8.8.8' }, true],
    ['an unknown key is simply absent', { StringEquals: { 'vendor:Unknown': 'x' } }, {}, false],
    // Policy variables in condition values
    ['StringEquals with ${aws:username}', { StringEquals: { 'aws:ResourceTag/owner': '${aws:username}' } }, { 'aws:resourcetag/owner': 'alice', 'aws:username': 'alice' }, true],
    ['StringEquals with ${aws:username}, other owner', { StringEquals: { 'aws:ResourceTag/owner': '${aws:username}' } }, { 'aws:resourcetag/owner': 'bob', 'aws:username': 'alice' }, false],
    ['StringEquals with ${aws:username}, no user name', { StringEquals: { 'aws:ResourceTag/owner': '${aws:username}' } }, { 'aws:resourcetag/owner': '${aws:username}' }, false],
    ['StringLike with a variable and a wildcard', { StringLike: { 'aws:ResourceTag/owner': '${aws:username}@*' } }, { 'aws:resourcetag/owner': 'alice@example.com', 'aws:username': 'alice' }, true],
    ['ArnLike with ${aws:PrincipalAccount}', { ArnLike: { 'aws:PrincipalArn': 'arn:sluice:iam::${aws:PrincipalAccount}:*' } }, { 'aws:principalarn': 'arn:sluice:iam::123456789012:user/alice', 'aws:principalaccount': '123456789012' }, true],
  ];

  it.each(rows)('%s', async (_what, condition, context, holds) => {
    await expectCondition(condition, context, holds);
  });
});

describe('conditions on Deny statements', () => {
  it('deny only from outside the corporate network (NotIpAddress on a Deny)', async () => {
    const authz = await buildForAlice(
      allow('codepipeline:*'),
      deny('codepipeline:*', '*', {
        Condition: { NotIpAddress: { 'aws:SourceIp': ['10.0.0.0/8', 'fd00::/8'] } },
      }),
    );
    expectDecision(authz, 'user:alice', 'codepipeline:GetPipeline', PIPELINE, ip('10.1.1.1'), 'ALLOWED');
    expectDecision(authz, 'user:alice', 'codepipeline:GetPipeline', PIPELINE, ip('fd12::1'), 'ALLOWED');
    expectDecision(
      authz,
      'user:alice',
      'codepipeline:GetPipeline',
      PIPELINE,
      ip('198.51.100.1'),
      'EXPLICIT_DENY',
    );
    // IAM semantics: with the key missing, a negated operator holds, so the Deny applies.
    expectDecision(authz, 'user:alice', 'codepipeline:GetPipeline', PIPELINE, {}, 'EXPLICIT_DENY');
  });

  it('deny production pipelines by tag (StringEquals on aws:ResourceTag/env)', async () => {
    const authz = await buildForAlice(
      allow('codepipeline:*'),
      deny('codepipeline:DeletePipeline', '*', {
        Condition: { StringEquals: { 'aws:ResourceTag/env': 'prod' } },
      }),
    );
    expectDecision(
      authz,
      'user:alice',
      'codepipeline:DeletePipeline',
      PIPELINE,
      env('prod'),
      'EXPLICIT_DENY',
    );
    expectDecision(authz, 'user:alice', 'codepipeline:DeletePipeline', PIPELINE, env('dev'), 'ALLOWED');
    expectDecision(authz, 'user:alice', 'codepipeline:DeletePipeline', PIPELINE, env(undefined), 'ALLOWED');
  });
});
