import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAccount, userWithPolicy, type TestAccount } from '../support/factories';
import { startTestServer, type TestServer } from '../support/test-server';

/** Policy evaluation findings of issue 7, each through the API. The test client comes from 127.0.0.1. */

let server: TestServer;
let account: TestAccount;
let other: TestAccount;
const iam = (resource: string, acct = account.accountId): string => `arn:sluice:iam::${acct}:${resource}`;
const GET_USER = `query($u: String!) { user(userName: $u) { userName } }`;
const SIMULATE = `query($s: String!, $a: [String!]!, $r: [String!]) {
  simulatePrincipalPolicy(policySourceArn: $s, actionNames: $a, resourceArns: $r) {
    resourceArn decision matchedStatements { sid } reason
  }
}`;

beforeAll(async () => {
  server = await startTestServer();
  account = await newAccount(server, 'findings');
  other = await newAccount(server, 'elsewhere');
  await other.root.ok(`mutation { createUser(userName: "victim") { arn } }`);
});
afterAll(() => server.stop());

describe('source address conditions', () => {
  const guarded = (blocks: string[]) => ({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: 'iam:GetUser', Resource: '*' },
      {
        Sid: 'OnlyFromTheOffice',
        Effect: 'Deny',
        Action: '*',
        Resource: '*',
        Condition: { NotIpAddress: { 'aws:SourceIp': blocks } },
      },
    ],
  });

  it('an IPv4 caller is inside no IPv6 block: ::/0 does not exempt it from a NotIpAddress Deny', async () => {
    const user = await userWithPolicy(server, account, guarded(['10.0.0.0/8', '::/0']), 'v4-outside');
    const error = await user.fails(GET_USER, { u: 'v4-outside' }, 'ACCESS_DENIED');
    expect(error.message).toMatch(/with an explicit deny/);
  });

  it('an IPv4 caller inside an IPv4 block of the list is exempt', async () => {
    const user = await userWithPolicy(server, account, guarded(['127.0.0.0/8', '::/0']), 'v4-inside');
    expect(await user.ok(GET_USER, { u: 'v4-inside' })).toEqual({ user: { userName: 'v4-inside' } });
  });
});

describe('simulatePrincipalPolicy across the account boundary', () => {
  it('answers IMPLICIT_DENY with a reason for another account’s resource, as the real request is refused', async () => {
    const admin = await userWithPolicy(
      server,
      account,
      { Version: '2012-10-17', Statement: [{ Sid: 'All', Effect: 'Allow', Action: '*', Resource: '*' }] },
      'everything',
    );
    const theirs = iam('user/victim', other.accountId);
    const { simulatePrincipalPolicy } = await account.root.ok<{
      simulatePrincipalPolicy: {
        resourceArn: string;
        decision: string;
        matchedStatements: unknown[];
        reason: string | null;
      }[];
    }>(SIMULATE, {
      s: iam('user/everything'),
      a: ['iam:DeleteUser'],
      r: [theirs, iam('user/everything'), '*'],
    });
    expect(simulatePrincipalPolicy).toEqual([
      {
        resourceArn: theirs,
        decision: 'IMPLICIT_DENY',
        matchedStatements: [],
        reason: `The resource is in account ${other.accountId}; a principal acts only inside its own account (${account.accountId})`,
      },
      {
        resourceArn: iam('user/everything'),
        decision: 'ALLOWED',
        matchedStatements: [{ sid: 'All' }],
        reason: null,
      },
      { resourceArn: '*', decision: 'ALLOWED', matchedStatements: [{ sid: 'All' }], reason: null },
    ]);
    // What the simulation predicts is what the request gets.
    await admin.fails(
      `query($s: String!) { simulatePrincipalPolicy(policySourceArn: $s, actionNames: ["iam:GetUser"]) { decision } }`,
      { s: theirs },
      'ACCESS_DENIED',
    );
  });

  it('decides a case variant of an IAM resource on the stored entity, as a request is decided', async () => {
    await account.root.ok(`mutation { createUser(userName: "Admin") { arn } }`);
    await userWithPolicy(
      server,
      account,
      {
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: 'iam:*', Resource: '*' },
          { Sid: 'NotTheAdmin', Effect: 'Deny', Action: 'iam:*', Resource: iam('user/Admin') },
        ],
      },
      'helper',
    );
    const { simulatePrincipalPolicy } = await account.root.ok<{
      simulatePrincipalPolicy: { decision: string }[];
    }>(SIMULATE, { s: iam('user/helper'), a: ['iam:CreateAccessKey'], r: [iam('user/ADMIN')] });
    expect(simulatePrincipalPolicy.map((r) => r.decision)).toEqual(['EXPLICIT_DENY']);
  });
});

describe('policy Version', () => {
  const ownUser = (version: string | undefined) => ({
    ...(version ? { Version: version } : {}),
    Statement: [{ Effect: 'Allow', Action: 'iam:GetUser', Resource: iam('user/${aws:username}') }],
  });

  it('without Version a policy follows 2008-10-17: ${aws:username} is literal text', async () => {
    const user = await userWithPolicy(server, account, ownUser(undefined), 'unversioned');
    await user.fails(GET_USER, { u: 'unversioned' }, 'ACCESS_DENIED');
  });

  it('with Version 2012-10-17 the variable is the caller’s user name', async () => {
    const user = await userWithPolicy(server, account, ownUser('2012-10-17'), 'versioned');
    expect(await user.ok(GET_USER, { u: 'versioned' })).toEqual({ user: { userName: 'versioned' } });
    await user.fails(GET_USER, { u: 'unversioned' }, 'ACCESS_DENIED');
  });
});
