import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GraphQLClient } from '../support/graphql-client';
import { allow, newAccount, userWithPolicy, type TestAccount } from '../support/factories';
import { startTestServer, type TestServer } from '../support/test-server';

/**
 * Inline policy names are unique per user or group without regard to case, as IAM names are:
 * a put naming a case variant replaces the policy (which keeps the spelling it was stored
 * with), and a delete by any spelling reaches it. test/iam/canonical-names.test.ts covers the
 * authorization of these fields on the holder's canonical ARN.
 */

let server: TestServer;
let account: TestAccount;
const iam = (resource: string): string => `arn:sluice:iam::${account.accountId}:${resource}`;
const PUT_USER = `mutation($u: String!, $p: String!, $d: JSON!) { putUserPolicy(userName: $u, policyName: $p, policyDocument: $d) }`;
const PUT_GROUP = `mutation($g: String!, $p: String!, $d: JSON!) { putGroupPolicy(groupName: $g, policyName: $p, policyDocument: $d) }`;
const GET_USER = `{ user(userName: "alice") { arn } }`;

beforeAll(async () => {
  server = await startTestServer();
  account = await newAccount(server, 'inline-names');
  await account.root.ok(`mutation { createUser(userName: "alice") { arn } }`);
});
afterAll(() => server.stop());

async function userPolicies(userName: string): Promise<{ policyName: string; document: unknown }[]> {
  const data = await account.root.ok<{ userPolicies: { policyName: string; document: unknown }[] }>(
    `query($u: String!) { userPolicies(userName: $u) { policyName document } }`,
    { u: userName },
  );
  return data.userPolicies;
}

describe('user inline policies', () => {
  let member: GraphQLClient;
  beforeAll(async () => {
    member = await userWithPolicy(server, account, undefined, 'ursula');
  });

  it('a put with a case variant replaces the policy, which keeps its stored spelling', async () => {
    await account.root.ok(PUT_USER, { u: 'ursula', p: 'Own', d: allow('iam:GetUser') });
    await member.ok(GET_USER);

    await account.root.ok(PUT_USER, { u: 'URSULA', p: 'OWN', d: allow('codepipeline:ListPipelines') });
    expect(await userPolicies('ursula')).toEqual([
      { policyName: 'Own', document: allow('codepipeline:ListPipelines') },
    ]);
    // The old document no longer applies: there is one policy, not two.
    await member.fails(GET_USER, undefined, 'ACCESS_DENIED');

    await account.root.ok(PUT_USER, { u: 'ursula', p: 'own', d: allow('iam:GetUser') });
    expect(await userPolicies('ursula')).toEqual([{ policyName: 'Own', document: allow('iam:GetUser') }]);
    await member.ok(GET_USER);
  });

  it('a delete by any spelling removes it; a second delete is NOT_FOUND', async () => {
    await account.root.ok(`mutation { deleteUserPolicy(userName: "ursula", policyName: "oWN") }`);
    expect(await userPolicies('ursula')).toEqual([]);
    await member.fails(GET_USER, undefined, 'ACCESS_DENIED');
    const error = await account.root.fails(
      `mutation { deleteUserPolicy(userName: "ursula", policyName: "Own") }`,
      undefined,
      'NOT_FOUND',
    );
    expect(error.message).toBe('user ursula has no inline policy Own');
  });

  it('names differing in more than case stay separate policies, and other holders keep theirs', async () => {
    await account.root.ok(PUT_USER, { u: 'ursula', p: 'own', d: allow('iam:GetUser') });
    await account.root.ok(PUT_USER, { u: 'ursula', p: 'own2', d: allow('iam:ListUsers') });
    await account.root.ok(PUT_USER, { u: 'alice', p: 'OWN', d: allow('iam:ListGroups') });
    expect((await userPolicies('ursula')).map((p) => p.policyName)).toEqual(['own', 'own2']);
    expect(await userPolicies('alice')).toEqual([{ policyName: 'OWN', document: allow('iam:ListGroups') }]);
    await account.root.ok(`mutation { deleteUserPolicy(userName: "alice", policyName: "own") }`);
    expect((await userPolicies('ursula')).map((p) => p.policyName)).toEqual(['own', 'own2']);
  });
});

describe('group inline policies', () => {
  let member: GraphQLClient;
  beforeAll(async () => {
    member = await userWithPolicy(server, account, undefined, 'gina');
    await account.root.ok(`mutation { createGroup(groupName: "Devs") { arn } }`);
    await account.root.ok(`mutation { addUserToGroup(groupName: "Devs", userName: "gina") }`);
  });

  it('a put with a case variant replaces the policy; a delete by any spelling removes it', async () => {
    await account.root.ok(PUT_GROUP, { g: 'Devs', p: 'Team', d: allow('iam:GetUser') });
    await member.ok(GET_USER);
    await account.root.ok(PUT_GROUP, { g: 'devs', p: 'TEAM', d: allow('codepipeline:ListPipelines') });
    await member.fails(GET_USER, undefined, 'ACCESS_DENIED');
    await account.root.ok(PUT_GROUP, { g: 'DEVS', p: 'team', d: allow('iam:GetUser') });
    await member.ok(GET_USER);

    await account.root.ok(`mutation { deleteGroupPolicy(groupName: "devs", policyName: "tEAM") }`);
    await member.fails(GET_USER, undefined, 'ACCESS_DENIED');
    const error = await account.root.fails(
      `mutation { deleteGroupPolicy(groupName: "Devs", policyName: "Team") }`,
      undefined,
      'NOT_FOUND',
    );
    expect(error.message).toBe('group Devs has no inline policy Team');
  });
});

describe('the audit trail', () => {
  it('names the canonical holder of a put made through case variants', async () => {
    await account.root.ok(PUT_USER, { u: 'ALICE', p: 'Audited', d: allow('iam:GetUser') });
    await account.root.ok(PUT_USER, { u: 'Alice', p: 'AUDITED', d: allow('iam:ListUsers') });
    const data = await account.root.ok<{
      auditEvents: {
        nodes: {
          errorCode: string | null;
          requestParameters: { policyName: string };
          resources: { arn: string }[];
        }[];
      };
    }>(`{ auditEvents(filter: { eventName: "PutUserPolicy", resourceArn: "${iam('user/alice')}" }, first: 2) {
      nodes { errorCode requestParameters resources { arn } } } }`);
    expect(
      data.auditEvents.nodes.map((e) => [e.errorCode, e.requestParameters.policyName, e.resources]),
    ).toEqual([
      [null, 'AUDITED', [{ arn: iam('user/alice') }]],
      [null, 'Audited', [{ arn: iam('user/alice') }]],
    ]);
    expect(await userPolicies('alice')).toEqual([
      { policyName: 'Audited', document: allow('iam:ListUsers') },
    ]);
  });
});
