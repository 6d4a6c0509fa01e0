import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allow, newAccount, userWithPolicy, type TestAccount } from '../support/factories';
import { startTestServer, type TestServer } from '../support/test-server';

/** Roles as IAM has them (issue 9, point 1): CRUD, trust policies validated, permissions attached. */
let server: TestServer;
let account: TestAccount;
let other: TestAccount;
let db: Client;

const trust = (principal: unknown): object => ({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { AWS: principal }, Action: 'sts:AssumeRole' }],
});

const CREATE = `mutation($n: String!, $d: JSON!, $m: Int) {
  createRole(roleName: $n, assumeRolePolicyDocument: $d, maxSessionDuration: $m) {
    roleName roleId arn assumeRolePolicyDocument maxSessionDuration createDate } }`;
const ROLE = `query($n: String!) { role(roleName: $n) { roleName arn maxSessionDuration assumeRolePolicyDocument } }`;

async function roleRows(accountId: string): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    'SELECT name FROM roles WHERE account_id = $1 ORDER BY name',
    [accountId],
  );
  return rows.map((r) => r.name);
}

beforeAll(async () => {
  server = await startTestServer();
  account = await newAccount(server, 'roles');
  other = await newAccount(server, 'partner');
  db = new Client({ connectionString: server.databaseUrl });
  await db.connect();
});
afterAll(async () => {
  await db.end();
  await server.stop();
});

describe('roles', () => {
  it('creates a role trusting another account, with a one-hour session unless said', async () => {
    const { createRole } = await account.root.ok<{
      createRole: { roleName: string; roleId: string; arn: string; maxSessionDuration: number };
    }>(CREATE, { n: 'Deployer', d: trust(other.accountId) });
    expect(createRole).toMatchObject({
      roleName: 'Deployer',
      arn: `arn:sluice:iam::${account.accountId}:role/Deployer`,
      maxSessionDuration: 3600,
    });
    expect(createRole.roleId).toMatch(/^AROA/);
    const { role } = await account.root.ok<{ role: { assumeRolePolicyDocument: unknown } }>(ROLE, {
      n: 'deployer',
    });
    expect(role.assumeRolePolicyDocument).toEqual(trust(other.accountId));
    const twelve = await account.root.ok<{ createRole: { maxSessionDuration: number } }>(CREATE, {
      n: 'LongRunner',
      d: trust(`arn:sluice:iam::${other.accountId}:user/alice`),
      m: 43_200,
    });
    expect(twelve.createRole.maxSessionDuration).toBe(43_200);
  });

  it('refuses a bad trust policy or session length, naming what is wrong, and writes nothing', async () => {
    const before = await roleRows(account.accountId);
    const cases: [object, string][] = [
      [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole' }] }, 'Statement[0]'],
      [trust('bob'), 'Statement[0].Principal.AWS'],
      [trust(`arn:sluice:s3:::${other.accountId}`), 'Statement[0].Principal.AWS'],
      [
        {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { AWS: other.accountId }, Action: 'codepipeline:*' }],
        },
        'Statement[0].Action',
      ],
    ];
    for (const [document, path] of cases) {
      const result = await account.root.request(CREATE, { n: 'Broken', d: document });
      expect(result.errors?.[0].extensions?.code, JSON.stringify(result.errors)).toBe('BAD_USER_INPUT');
      expect(result.errors?.[0].message).toContain(path);
    }
    for (const m of [60, 3599, 43_201]) {
      const result = await account.root.request(CREATE, { n: 'Broken', d: trust(other.accountId), m });
      expect(result.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
      expect(result.errors?.[0].message).toContain('maxSessionDuration');
    }
    const taken = await account.root.request(CREATE, { n: 'DEPLOYER', d: trust(other.accountId) });
    expect(taken.errors?.[0].extensions?.code).toBe('CONFLICT');
    expect(await roleRows(account.accountId)).toEqual(before);
  });

  it('replaces the trust policy, validated the same way', async () => {
    const update = `mutation($n: String!, $d: JSON!) { updateAssumeRolePolicy(roleName: $n, policyDocument: $d) }`;
    await account.root.ok(update, { n: 'Deployer', d: trust([other.accountId, account.accountId]) });
    const { role } = await account.root.ok<{ role: { assumeRolePolicyDocument: unknown } }>(ROLE, {
      n: 'Deployer',
    });
    expect(role.assumeRolePolicyDocument).toEqual(trust([other.accountId, account.accountId]));
    const bad = await account.root.request(update, { n: 'Deployer', d: trust('everyone') });
    expect(bad.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('attaches managed and inline policies; deleting the role removes them', async () => {
    const attach = `mutation($n: String!, $p: String!) { attachRolePolicy(roleName: $n, policyArn: $p) }`;
    await account.root.ok(attach, {
      n: 'Deployer',
      p: 'arn:sluice:iam::sluice:policy/CodePipeline_ReadOnlyAccess',
    });
    await account.root.ok(
      `mutation($n: String!, $d: JSON!) { putRolePolicy(roleName: $n, policyName: "deploy", policyDocument: $d) }`,
      { n: 'Deployer', d: allow('codepipeline:StartPipelineExecution') },
    );
    const listed = await account.root.ok<{
      attachedRolePolicies: { arn: string }[];
      rolePolicies: { policyName: string }[];
    }>(
      `query { attachedRolePolicies(roleName: "Deployer") { arn } rolePolicies(roleName: "Deployer") { policyName } }`,
    );
    expect(listed.attachedRolePolicies.map((p) => p.arn)).toEqual([
      'arn:sluice:iam::sluice:policy/CodePipeline_ReadOnlyAccess',
    ]);
    expect(listed.rolePolicies.map((p) => p.policyName)).toEqual(['deploy']);
    await account.root.ok(`mutation { deleteRolePolicy(roleName: "Deployer", policyName: "deploy") }`);
    await account.root.ok(`mutation { deleteRole(roleName: "Deployer") }`);
    const { rows } = await db.query(
      `SELECT 1 FROM policy_attachments WHERE account_id = $1 AND principal_type = 'role'
        UNION ALL SELECT 1 FROM inline_policies WHERE account_id = $1 AND principal_type = 'role'`,
      [account.accountId],
    );
    expect(rows).toEqual([]);
    const gone = await account.root.request(ROLE, { n: 'Deployer' });
    expect(gone.errors?.[0].extensions?.code).toBe('NOT_FOUND');
  });

  it('another account can neither see nor change the role; the partner names only its own roles', async () => {
    await account.root.ok(CREATE, { n: 'Shared', d: trust(other.accountId) });
    const seen = await other.root.request(ROLE, { n: 'Shared' });
    expect(seen.errors?.[0].extensions?.code).toBe('NOT_FOUND');
    const deleted = await other.root.request(`mutation { deleteRole(roleName: "Shared") }`);
    expect(deleted.errors?.[0].extensions?.code).toBe('NOT_FOUND');
    const listed = await other.root.ok<{ roles: { nodes: unknown[] } }>(
      `query { roles { nodes { roleName } } }`,
    );
    expect(listed.roles.nodes).toEqual([]);
    expect(await roleRows(account.accountId)).toContain('Shared');
  });

  it('authorizes on the canonical ARN, and lists only the roles the caller may list', async () => {
    const guarded = await userWithPolicy(server, account, {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: ['iam:DeleteRole', 'iam:GetRole'], Resource: '*' },
        {
          Effect: 'Deny',
          Action: 'iam:DeleteRole',
          Resource: `arn:sluice:iam::${account.accountId}:role/Shared`,
        },
        {
          Effect: 'Allow',
          Action: 'iam:ListRoles',
          Resource: `arn:sluice:iam::${account.accountId}:role/Long*`,
        },
      ],
    });
    const denied = await guarded.request(`mutation { deleteRole(roleName: "SHARED") }`);
    expect(denied.errors?.[0].extensions?.code).toBe('ACCESS_DENIED');
    expect(await roleRows(account.accountId)).toContain('Shared');
    const listed = await guarded.ok<{ roles: { nodes: { roleName: string }[] } }>(
      `query { roles { nodes { roleName } } }`,
    );
    expect(listed.roles.nodes.map((r) => r.roleName)).toEqual(['LongRunner']);
  });
});
