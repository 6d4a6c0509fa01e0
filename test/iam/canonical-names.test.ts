import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GraphQLClient } from '../support/graphql-client';
import { newAccount, userWithPolicy, type TestAccount } from '../support/factories';
import { startTestServer, type TestServer } from '../support/test-server';

/**
 * IAM names are unique without regard to case, so a request naming `ADMIN` reaches the user
 * stored as `admin` and must be decided on `…:user/admin`: a Deny there holds for every
 * spelling. Every IAM field that names a user, group or policy is tried with a case variant.
 */

let server: TestServer;
let account: TestAccount;
let mallory: GraphQLClient;
let adminKeyId: string;
const iam = (resource: string): string => `arn:sluice:iam::${account.accountId}:${resource}`;
const MANAGED = 'arn:sluice:iam::sluice:policy/CodePipeline_ReadOnlyAccess';
const DOC = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: 'codepipeline:Get*', Resource: '*' }],
};

beforeAll(async () => {
  server = await startTestServer();
  account = await newAccount(server, 'canonical');
  const root = account.root;
  await root.ok(`mutation { createUser(userName: "admin", password: "admin-password") { arn } }`);
  await root.ok(`mutation { createUser(userName: "bob") { arn } }`);
  await root.ok(`mutation { createGroup(groupName: "Admins") { arn } }`);
  await root.ok(`mutation { addUserToGroup(groupName: "Admins", userName: "admin") }`);
  await root.ok(`mutation($d: JSON!) { createPolicy(policyName: "Secret", policyDocument: $d) { arn } }`, {
    d: DOC,
  });
  await root.ok(`mutation { attachUserPolicy(userName: "admin", policyArn: "${MANAGED}") }`);
  await root.ok(`mutation { attachGroupPolicy(groupName: "Admins", policyArn: "${MANAGED}") }`);
  await root.ok(
    `mutation($d: JSON!) { putUserPolicy(userName: "admin", policyName: "own", policyDocument: $d) }`,
    {
      d: DOC,
    },
  );
  await root.ok(
    `mutation($d: JSON!) { putGroupPolicy(groupName: "Admins", policyName: "own", policyDocument: $d) }`,
    { d: DOC },
  );
  const key = await root.ok<{ createAccessKey: { accessKeyId: string } }>(
    `mutation { createAccessKey(userName: "admin") { accessKeyId } }`,
  );
  adminKeyId = key.createAccessKey.accessKeyId;
  // Everything in IAM, except the admin user, the Admins group and the Secret policy.
  mallory = await userWithPolicy(
    server,
    account,
    {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 'iam:*', Resource: iam('*') },
        {
          Effect: 'Deny',
          Action: 'iam:*',
          Resource: [iam('user/admin'), iam('group/Admins'), iam('policy/Secret')],
        },
      ],
    },
    'mallory',
  );
});
afterAll(() => server.stop());

interface Case {
  field: string;
  /** The IAM action, when it is not the field's name (queries). */
  action?: string;
  query: string;
  /** The canonical ARN the request must be decided on. */
  resource: () => string;
  variables?: () => Record<string, unknown>;
}

const user = () => iam('user/admin');
const group = () => iam('group/Admins');
const CASES: Case[] = [
  { field: 'createUser', query: `mutation { createUser(userName: "ADMIN") { arn } }`, resource: user },
  { field: 'deleteUser', query: `mutation { deleteUser(userName: "Admin") }`, resource: user },
  { field: 'user', action: 'GetUser', query: `{ user(userName: "aDmIn") { arn } }`, resource: user },
  {
    field: 'createAccessKey',
    query: `mutation { createAccessKey(userName: "ADMIN") { accessKeyId } }`,
    resource: user,
  },
  {
    field: 'deleteAccessKey',
    query: `mutation($k: String!) { deleteAccessKey(userName: "ADMIN", accessKeyId: $k) }`,
    variables: () => ({ k: adminKeyId }),
    resource: user,
  },
  {
    field: 'accessKeys',
    action: 'ListAccessKeys',
    query: `{ accessKeys(userName: "ADMIN") { accessKeyId } }`,
    resource: user,
  },
  { field: 'createGroup', query: `mutation { createGroup(groupName: "ADMINS") { arn } }`, resource: group },
  { field: 'deleteGroup', query: `mutation { deleteGroup(groupName: "admins") }`, resource: group },
  {
    field: 'addUserToGroup',
    query: `mutation { addUserToGroup(groupName: "admins", userName: "bob") }`,
    resource: group,
  },
  {
    field: 'removeUserFromGroup',
    query: `mutation { removeUserFromGroup(groupName: "ADMINS", userName: "admin") }`,
    resource: group,
  },
  {
    field: 'attachUserPolicy',
    query: `mutation { attachUserPolicy(userName: "ADMIN", policyArn: "arn:sluice:iam::sluice:policy/AdministratorAccess") }`,
    resource: user,
  },
  {
    field: 'detachUserPolicy',
    query: `mutation { detachUserPolicy(userName: "ADMIN", policyArn: "${MANAGED}") }`,
    resource: user,
  },
  {
    field: 'attachGroupPolicy',
    query: `mutation { attachGroupPolicy(groupName: "ADMINS", policyArn: "arn:sluice:iam::sluice:policy/AdministratorAccess") }`,
    resource: group,
  },
  {
    field: 'detachGroupPolicy',
    query: `mutation { detachGroupPolicy(groupName: "admins", policyArn: "${MANAGED}") }`,
    resource: group,
  },
  {
    field: 'putUserPolicy',
    query: `mutation($d: JSON!) { putUserPolicy(userName: "ADMIN", policyName: "own", policyDocument: $d) }`,
    variables: () => ({
      d: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] },
    }),
    resource: user,
  },
  {
    field: 'deleteUserPolicy',
    query: `mutation { deleteUserPolicy(userName: "ADMIN", policyName: "own") }`,
    resource: user,
  },
  {
    field: 'putGroupPolicy',
    query: `mutation($d: JSON!) { putGroupPolicy(groupName: "ADMINS", policyName: "own", policyDocument: $d) }`,
    variables: () => ({
      d: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] },
    }),
    resource: group,
  },
  {
    field: 'deleteGroupPolicy',
    query: `mutation { deleteGroupPolicy(groupName: "admins", policyName: "own") }`,
    resource: group,
  },
  {
    field: 'attachedUserPolicies',
    action: 'ListAttachedUserPolicies',
    query: `{ attachedUserPolicies(userName: "ADMIN") { arn } }`,
    resource: user,
  },
  {
    field: 'attachedGroupPolicies',
    action: 'ListAttachedGroupPolicies',
    query: `{ attachedGroupPolicies(groupName: "ADMINS") { arn } }`,
    resource: group,
  },
  {
    field: 'userPolicies',
    action: 'ListUserPolicies',
    query: `{ userPolicies(userName: "ADMIN") { policyName } }`,
    resource: user,
  },
  {
    field: 'simulatePrincipalPolicy',
    query: `query($s: String!) { simulatePrincipalPolicy(policySourceArn: $s, actionNames: ["iam:GetUser"]) { decision } }`,
    variables: () => ({ s: iam('user/ADMIN') }),
    resource: user,
  },
  {
    field: 'createPolicy',
    query: `mutation($d: JSON!) { createPolicy(policyName: "SECRET", policyDocument: $d) { arn } }`,
    variables: () => ({ d: DOC }),
    resource: () => iam('policy/Secret'),
  },
  {
    field: 'deletePolicy',
    query: `mutation($a: String!) { deletePolicy(policyArn: $a) }`,
    variables: () => ({ a: iam('policy/secret') }),
    resource: () => iam('policy/Secret'),
  },
  {
    field: 'policy',
    action: 'GetPolicy',
    query: `query($a: String!) { policy(policyArn: $a) { arn } }`,
    variables: () => ({ a: iam('policy/SECRET') }),
    resource: () => iam('policy/Secret'),
  },
];

describe('a Deny on an IAM entity holds for every spelling of its name', () => {
  it.each(CASES)('$field with a case variant is decided on the canonical ARN', async (c) => {
    const error = await mallory.fails(c.query, c.variables?.(), 'ACCESS_DENIED');
    expect(error.message).toBe(
      `${iam('user/mallory')} is not authorized to perform iam:${c.action ?? c.field[0].toUpperCase() + c.field.slice(1)}` +
        ` on ${c.resource()} with an explicit deny in a policy`,
    );
  });

  it('the denied requests changed nothing', async () => {
    const root = account.root;
    const state = await root.ok<{
      accessKeys: { accessKeyId: string }[];
      attachedUserPolicies: { arn: string }[];
      attachedGroupPolicies: { arn: string }[];
      userPolicies: { policyName: string }[];
      groups: { nodes: { groupName: string; members: { userName: string }[] }[] };
      policies: { nodes: { name: string }[] };
    }>(`{
      accessKeys(userName: "admin") { accessKeyId }
      attachedUserPolicies(userName: "admin") { arn }
      attachedGroupPolicies(groupName: "Admins") { arn }
      userPolicies(userName: "admin") { policyName }
      groups { nodes { groupName members { userName } } }
      policies(scope: LOCAL) { nodes { name } }
    }`);
    expect(state).toEqual({
      accessKeys: [{ accessKeyId: adminKeyId }],
      attachedUserPolicies: [{ arn: MANAGED }],
      attachedGroupPolicies: [{ arn: MANAGED }],
      userPolicies: [{ policyName: 'own' }],
      groups: { nodes: [{ groupName: 'Admins', members: [{ userName: 'admin' }] }] },
      policies: { nodes: [{ name: 'Secret' }] },
    });
  });
});

describe('case variants reach the stored entity', () => {
  it('creating a name that exists in another case is a CONFLICT; a fresh name keeps its spelling', async () => {
    const conflict = await account.root.fails(
      `mutation { createUser(userName: "BOB") { arn } }`,
      undefined,
      'CONFLICT',
    );
    expect(conflict.message).toMatch(/User BOB already exists/);
    await mallory.fails(`mutation { createUser(userName: "Bob") { arn } }`, undefined, 'CONFLICT');
    const created = await mallory.ok<{ createUser: { arn: string } }>(
      `mutation { createUser(userName: "Carol") { arn } }`,
    );
    expect(created.createUser.arn).toBe(iam('user/Carol'));
    await mallory.fails(`mutation { createGroup(groupName: "ADMINS") { arn } }`, undefined, 'ACCESS_DENIED');
    await account.root.fails(`mutation { createGroup(groupName: "ADMINS") { arn } }`, undefined, 'CONFLICT');
  });

  it('a user allowed only on the canonical ARN may act through any spelling', async () => {
    const helper = await userWithPolicy(server, account, {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: ['iam:CreateAccessKey', 'iam:DeleteAccessKey'],
          Resource: iam('user/bob'),
        },
      ],
    });
    const key = await helper.ok<{ createAccessKey: { accessKeyId: string; userName: string } }>(
      `mutation { createAccessKey(userName: "BOB") { accessKeyId userName } }`,
    );
    expect(key.createAccessKey.userName).toBe('bob');
    await helper.ok(`mutation($k: String!) { deleteAccessKey(userName: "Bob", accessKeyId: $k) }`, {
      k: key.createAccessKey.accessKeyId,
    });
  });

  it('a policy attached through a case variant of its ARN applies, and blocks deletePolicy by any spelling', async () => {
    const root = account.root;
    await root.ok(
      `mutation($d: JSON!) { createPolicy(policyName: "ReadUsers", policyDocument: $d) { arn } }`,
      {
        d: {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'iam:GetUser', Resource: '*' }],
        },
      },
    );
    const reader = await userWithPolicy(server, account, undefined, 'reader');
    await reader.fails(`{ user(userName: "bob") { arn } }`, undefined, 'ACCESS_DENIED');
    await root.ok(`mutation($a: String!) { attachUserPolicy(userName: "READER", policyArn: $a) }`, {
      a: iam('policy/readusers'),
    });
    await reader.ok(`{ user(userName: "bob") { arn } }`);
    const attached = await root.ok<{ attachedUserPolicies: { arn: string }[] }>(
      `{ attachedUserPolicies(userName: "reader") { arn } }`,
    );
    expect(attached.attachedUserPolicies).toEqual([{ arn: iam('policy/ReadUsers') }]);

    for (const spelling of ['ReadUsers', 'READUSERS', 'readusers']) {
      const error = await root.fails(
        `mutation($a: String!) { deletePolicy(policyArn: $a) }`,
        { a: iam(`policy/${spelling}`) },
        'CONFLICT',
      );
      expect(error.message).toMatch(/attached to 1 user/);
    }
    // Only the name is matched without regard to case: the rest of the ARN is exact.
    await root.fails(
      `mutation($a: String!) { deletePolicy(policyArn: $a) }`,
      { a: `arn:sluice:IAM::${account.accountId}:policy/ReadUsers` },
      'NOT_FOUND',
    );
    await root.ok(`mutation($a: String!) { detachUserPolicy(userName: "reader", policyArn: $a) }`, {
      a: iam('policy/READUSERS'),
    });
    await reader.fails(`{ user(userName: "bob") { arn } }`, undefined, 'ACCESS_DENIED');
    await root.ok(`mutation($a: String!) { deletePolicy(policyArn: $a) }`, {
      a: iam('policy/readUsers'),
    });
  });

  it('a denial for another account’s entity does not tell whether it exists', async () => {
    const other = await newAccount(server, 'other');
    await other.root.ok(`mutation { createUser(userName: "admin") { arn } }`);
    const theirs = `arn:sluice:iam::${other.accountId}:user/ADMIN`;
    const error = await mallory.fails(
      `query($s: String!) { simulatePrincipalPolicy(policySourceArn: $s, actionNames: ["iam:GetUser"]) { decision } }`,
      { s: theirs },
      'ACCESS_DENIED',
    );
    expect(error.message).toBe(
      `${iam('user/mallory')} is not authorized to perform iam:SimulatePrincipalPolicy on ${theirs}`,
    );
  });
});
