import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allow, newAccount, signIn, userWithPolicy, type TestAccount } from '../support/factories';
import { startTestServer, type TestServer } from '../support/test-server';

/** Permissions boundaries and safe delegation of user creation (issue 9, point 3). */
let server: TestServer;
let account: TestAccount;

const CREATE_USER = `mutation($u: String!, $p: String, $b: String) {
  createUser(userName: $u, password: $p, permissionsBoundary: $b) { userName permissionsBoundary } }`;
const PUT = `mutation($u: String!, $d: JSON!) { putUserPolicy(userName: $u, policyName: "p", policyDocument: $d) }`;
const ATTACH = `mutation($u: String!, $a: String!) { attachUserPolicy(userName: $u, policyArn: $a) }`;
const LIST = `{ pipelines { nodes { name } } }`;
const ADMIN = 'arn:sluice:iam::sluice:policy/AdministratorAccess';

let boundaryArn: string;

beforeAll(async () => {
  server = await startTestServer();
  account = await newAccount(server, 'bounded');
  const { createPolicy } = await account.root.ok<{ createPolicy: { arn: string } }>(
    `mutation($d: JSON!) { createPolicy(policyName: "DevBoundary", policyDocument: $d) { arn } }`,
    { d: allow(['codepipeline:Get*', 'codepipeline:List*']) },
  );
  boundaryArn = createPolicy.arn;
});
afterAll(() => server.stop());

describe('permissions boundaries', () => {
  it('caps a user: identity policies ∩ boundary, and the simulator says the boundary denied', async () => {
    const user = await userWithPolicy(server, account, allow('codepipeline:*'), 'capped');
    await account.root.ok(
      `mutation($b: String!) { putUserPermissionsBoundary(userName: "capped", permissionsBoundary: $b) }`,
      { b: boundaryArn.replace('DevBoundary', 'devboundary') },
    );
    const { user: shown } = await account.root.ok<{ user: { permissionsBoundary: string } }>(
      `{ user(userName: "capped") { permissionsBoundary } }`,
    );
    expect(shown.permissionsBoundary).toBe(boundaryArn); // stored canonical
    await user.ok(LIST);
    const denied = await user.fails(
      `mutation { createPipeline(pipeline: { name: "x", stages: [] }) { name } }`,
      undefined,
      'ACCESS_DENIED',
    );
    const { authorizationDecision } = await account.root.ok<{ authorizationDecision: { deniedBy: string } }>(
      `query($id: String!) { authorizationDecision(decisionId: $id) { deniedBy } }`,
      { id: denied.extensions?.decisionId },
    );
    expect(authorizationDecision.deniedBy).toBe('BOUNDARY');
    await account.root.ok(`mutation { deleteUserPermissionsBoundary(userName: "capped") }`);
    const again = await user.request(
      `mutation { createPipeline(pipeline: { name: "x", stages: [] }) { name } }`,
    );
    expect(again.errors?.[0]?.extensions?.code).not.toBe('ACCESS_DENIED');
  });

  it('refuses an unknown boundary policy, and deleting a policy in use as a boundary', async () => {
    await account.root.fails(
      CREATE_USER,
      { u: 'nobound', b: `arn:sluice:iam::${account.accountId}:policy/Missing` },
      'NOT_FOUND',
    );
    const { users } = await account.root.ok<{ users: { nodes: { userName: string }[] } }>(
      `{ users { nodes { userName } } }`,
    );
    expect(users.nodes.map((u) => u.userName)).not.toContain('nobound'); // nothing half-written
    await account.root.ok(CREATE_USER, { u: 'holder', b: boundaryArn });
    const error = await account.root.fails(
      `mutation($a: String!) { deletePolicy(policyArn: $a) }`,
      { a: boundaryArn },
      'CONFLICT',
    );
    expect(error.message).toContain('permissions boundary');
  });

  it('lets an administrator delegate user creation safely with the iam:PermissionsBoundary condition', async () => {
    const onlyWithBoundary = { StringEquals: { 'iam:PermissionsBoundary': boundaryArn } };
    const delegate = await userWithPolicy(
      server,
      account,
      {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'CreateBoundedUsers',
            Effect: 'Allow',
            Action: ['iam:CreateUser', 'iam:PutUserPolicy', 'iam:AttachUserPolicy'],
            Resource: `arn:sluice:iam::${account.accountId}:user/*`,
            Condition: onlyWithBoundary,
          },
          {
            Sid: 'KeepBoundaries',
            Effect: 'Deny',
            Action: ['iam:DeleteUserPermissionsBoundary', 'iam:PutUserPermissionsBoundary'],
            Resource: '*',
          },
        ],
      },
      'delegate',
    );
    // Without the boundary, or with another one: refused, nothing created.
    await delegate.fails(CREATE_USER, { u: 'free', p: 'a-long-password-1' }, 'ACCESS_DENIED');
    await delegate.fails(CREATE_USER, { u: 'free', p: 'a-long-password-1', b: ADMIN }, 'ACCESS_DENIED');
    // With it: created, and even AdministratorAccess gives only boundary ∩ identity.
    await delegate.ok(CREATE_USER, { u: 'junior', p: 'a-long-password-1', b: boundaryArn });
    await delegate.ok(ATTACH, { u: 'junior', a: ADMIN });
    const junior = await signIn(server.client, account.accountId, 'junior', 'a-long-password-1');
    await junior.ok(LIST);
    await junior.fails(`mutation { deleteUser(userName: "delegate") }`, undefined, 'ACCESS_DENIED');
    // The delegate cannot lift the boundary, nor grant itself (it has no boundary) anything.
    await delegate.fails(
      `mutation { deleteUserPermissionsBoundary(userName: "junior") }`,
      undefined,
      'ACCESS_DENIED',
    );
    await delegate.fails(ATTACH, { u: 'delegate', a: ADMIN }, 'ACCESS_DENIED');
    await delegate.fails(PUT, { u: 'delegate', d: allow('*') }, 'ACCESS_DENIED');
  });

  it('decides iam:PermissionsBoundary on the canonical ARN, so a Deny naming it holds for any spelling', async () => {
    const creator = await userWithPolicy(server, account, {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 'iam:CreateUser', Resource: '*' },
        {
          Effect: 'Deny',
          Action: 'iam:CreateUser',
          Resource: '*',
          Condition: { StringEquals: { 'iam:PermissionsBoundary': boundaryArn } },
        },
      ],
    });
    await creator.fails(
      CREATE_USER,
      { u: 'sneaky', b: boundaryArn.replace('DevBoundary', 'DEVBOUNDARY') },
      'ACCESS_DENIED',
    );
    await creator.ok(CREATE_USER, { u: 'plain' });
  });

  it('caps a role and its sessions too', async () => {
    await account.root.ok(
      `mutation($d: JSON!, $b: String) { createRole(roleName: "BoundedRole", assumeRolePolicyDocument: $d,
         permissionsBoundary: $b) { permissionsBoundary } }`,
      {
        d: {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: `arn:sluice:iam::${account.accountId}:user/assumer` },
              Action: 'sts:AssumeRole',
            },
          ],
        },
        b: boundaryArn,
      },
    );
    await account.root.ok(ATTACH.replace(/User/g, 'Role').replace(/userName: \$u/, 'roleName: $u'), {
      u: 'BoundedRole',
      a: ADMIN,
    });
    const assumer = await userWithPolicy(server, account, undefined, 'assumer');
    const { assumeRole } = await assumer.ok<{ assumeRole: { accessToken: string } }>(
      `mutation($r: String!) { assumeRole(roleArn: $r, roleSessionName: "bounded") { accessToken } }`,
      { r: `arn:sluice:iam::${account.accountId}:role/BoundedRole` },
    );
    const session = assumer.withToken(assumeRole.accessToken);
    await session.ok(LIST);
    await session.fails(`mutation { deleteUser(userName: "assumer") }`, undefined, 'ACCESS_DENIED');
  });
});
