import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOGIN, newAccount, platformAdmin, signIn, type TestAccount } from '../support/factories';
import { startTestServer, type TestServer } from '../support/test-server';

let server: TestServer;
let account: TestAccount;
beforeAll(async () => {
  server = await startTestServer();
  account = await newAccount(server, 'identity');
});
afterAll(() => server.stop());

const CREATE_USER = `mutation($u: String!, $p: String) { createUser(userName: $u, password: $p) { userName userId arn hasPassword } }`;
const WHO = `{ callerIdentity { arn accountId type userName } }`;

describe('accounts', () => {
  it('the platform admin creates an account with a 12-digit id whose root can sign in', async () => {
    expect(account.accountId).toMatch(/^\d{12}$/);
    expect(account.accountId).not.toBe('000000000000');
    expect(await account.root.ok(WHO)).toEqual({
      callerIdentity: {
        arn: `arn:sluice:iam::${account.accountId}:root`,
        accountId: account.accountId,
        type: 'ROOT',
        userName: 'root',
      },
    });
  });

  it('accepts a chosen root password and rejects a short one', async () => {
    const admin = await platformAdmin(server);
    const created = await admin.ok<{ createAccount: { accountId: string; rootPassword: string } }>(
      `mutation { createAccount(name: "chosen", rootPassword: "correct horse battery") { accountId rootPassword } }`,
    );
    expect(created.createAccount.rootPassword).toBe('correct horse battery');
    await signIn(server.client, created.createAccount.accountId, 'root', 'correct horse battery');
    const bad = await admin.fails(
      `mutation { createAccount(name: "x", rootPassword: "short") { accountId } }`,
      undefined,
      'BAD_USER_INPUT',
    );
    expect(bad.message).toMatch(/rootPassword/);
  });

  it('only the platform admin may create accounts', async () => {
    const denied = await account.root.fails(
      `mutation { createAccount(name: "nope") { accountId } }`,
      undefined,
      'ACCESS_DENIED',
    );
    expect(denied.message).toContain(
      `arn:sluice:iam::${account.accountId}:root is not authorized to perform organizations:CreateAccount`,
    );
  });
});

describe('users and signing in', () => {
  it('creates, lists, reads and deletes users', async () => {
    const { createUser } = await account.root.ok<{
      createUser: { userId: string; arn: string; hasPassword: boolean };
    }>(CREATE_USER, {
      u: 'alice',
      p: 'alice-password',
    });
    expect(createUser).toMatchObject({
      arn: `arn:sluice:iam::${account.accountId}:user/alice`,
      hasPassword: true,
    });
    expect(createUser.userId).toMatch(/^AIDA[A-Z2-7]{16}$/);
    await account.root.ok(CREATE_USER, { u: 'bob' });
    const list = await account.root.ok<{
      users: { nodes: { userName: string }[]; pageInfo: { hasNextPage: boolean } };
    }>(`{ users(first: 1) { nodes { userName } pageInfo { hasNextPage endCursor } } }`);
    expect(list.users.nodes.map((u) => u.userName)).toEqual(['alice']);
    expect(list.users.pageInfo.hasNextPage).toBe(true);
    const alice = await signIn(server.client, account.accountId, 'alice', 'alice-password');
    expect((await alice.ok<{ callerIdentity: { type: string } }>(WHO)).callerIdentity.type).toBe('USER');
    await account.root.ok(`mutation { deleteUser(userName: "bob") }`);
    await account.root.fails(`{ user(userName: "bob") { userName } }`, undefined, 'NOT_FOUND');
  });

  it('rejects bad user input with the field named, and duplicates as CONFLICT', async () => {
    const bad = await account.root.fails(CREATE_USER, { u: 'has space' }, 'BAD_USER_INPUT');
    expect(bad.message).toMatch(/userName/);
    expect(
      (await account.root.fails(CREATE_USER, { u: 'carol', p: 'short' }, 'BAD_USER_INPUT')).message,
    ).toMatch(/password/);
    expect((await account.root.fails(CREATE_USER, { u: 'root' }, 'BAD_USER_INPUT')).message).toMatch(
      /reserved/,
    );
    await account.root.ok(CREATE_USER, { u: 'dave' });
    await account.root.fails(CREATE_USER, { u: 'DAVE' }, 'CONFLICT');
  });

  it('gives one message for a wrong user, a wrong password and a wrong account', async () => {
    await account.root.ok(CREATE_USER, { u: 'erin', p: 'erin-password' });
    const messages = new Set<string>();
    for (const vars of [
      { accountId: account.accountId, userName: 'nobody', password: 'erin-password' },
      { accountId: account.accountId, userName: 'erin', password: 'wrong-password' },
      { accountId: '999999999999', userName: 'erin', password: 'erin-password' },
    ]) {
      messages.add((await server.client.fails(LOGIN, vars, 'UNAUTHENTICATED')).message);
    }
    expect(messages.size).toBe(1);
  });

  it('throttles repeated failures for one user, even with the right password afterwards', async () => {
    await account.root.ok(CREATE_USER, { u: 'frank', p: 'frank-password' });
    const wrong = { accountId: account.accountId, userName: 'frank', password: 'nope-nope' };
    for (let i = 0; i < 5; i++) await server.client.fails(LOGIN, wrong, 'UNAUTHENTICATED');
    const throttled = await server.client.fails(LOGIN, { ...wrong, password: 'frank-password' }, 'THROTTLED');
    expect(throttled.message).toMatch(/try again in \d+ seconds/);
    // Other users are not affected.
    await signIn(server.client, account.accountId, 'erin', 'erin-password');
  });

  it('stores only slow hashes of passwords and secret keys', async () => {
    const db = new Client({ connectionString: server.databaseUrl });
    await db.connect();
    try {
      const rows = await db.query(`SELECT password_hash FROM users WHERE name = 'alice'`);
      // At the configured cost (the harness lowers it; secrets.test.ts proves the default).
      const n = 2 ** server.app.services.config.scryptLogN;
      expect(rows.rows[0].password_hash).toMatch(new RegExp(`^scrypt\\$${n}\\$8\\$1\\$`));
      const dump = await db.query(`SELECT row_to_json(u)::text AS t FROM users u`);
      expect(dump.rows.map((r) => r.t).join()).not.toContain('alice-password');
    } finally {
      await db.end();
    }
  });
});

describe('access keys and session tokens', () => {
  const GET_SESSION = `mutation($k: String!, $s: String!) { getSessionToken(accessKeyId: $k, secretAccessKey: $s) { accessToken principal { arn type } } }`;

  it('exchanges an access key for a session; the secret is shown once', async () => {
    await account.root.ok(CREATE_USER, { u: 'ci-bot' });
    const { createAccessKey } = await account.root.ok<{
      createAccessKey: { accessKeyId: string; secretAccessKey: string };
    }>(`mutation { createAccessKey(userName: "ci-bot") { accessKeyId secretAccessKey } }`);
    expect(createAccessKey.accessKeyId).toMatch(/^AKIA/);
    const listed = await account.root.ok<{
      accessKeys: { accessKeyId: string; secretAccessKey: string | null }[];
    }>(`{ accessKeys(userName: "ci-bot") { accessKeyId secretAccessKey } }`);
    expect(listed.accessKeys).toEqual([{ accessKeyId: createAccessKey.accessKeyId, secretAccessKey: null }]);
    const session = await server.client.ok<{
      getSessionToken: { accessToken: string; principal: { arn: string } };
    }>(GET_SESSION, {
      k: createAccessKey.accessKeyId,
      s: createAccessKey.secretAccessKey,
    });
    expect(session.getSessionToken.principal.arn).toBe(`arn:sluice:iam::${account.accountId}:user/ci-bot`);
    const bot = server.client.withToken(session.getSessionToken.accessToken);
    await bot.ok(WHO);
    await server.client.fails(GET_SESSION, { k: createAccessKey.accessKeyId, s: 'wrong' }, 'UNAUTHENTICATED');

    // Deleting the key ends the sessions made with it.
    await account.root.ok(`mutation($k: String!) { deleteAccessKey(userName: "ci-bot", accessKeyId: $k) }`, {
      k: createAccessKey.accessKeyId,
    });
    await bot.fails(WHO, undefined, 'UNAUTHENTICATED');
  });

  it('allows at most two keys per user', async () => {
    await account.root.ok(CREATE_USER, { u: 'keys' });
    const create = `mutation { createAccessKey(userName: "keys") { accessKeyId } }`;
    await account.root.ok(create);
    await account.root.ok(create);
    const error = await account.root.fails(create, undefined, 'LIMIT_EXCEEDED');
    expect(error.extensions?.limit).toBe('accessKeysPerUser');
  });

  it('deleting a user ends its sessions', async () => {
    await account.root.ok(CREATE_USER, { u: 'leaver', p: 'leaver-password' });
    const leaver = await signIn(server.client, account.accountId, 'leaver', 'leaver-password');
    await leaver.ok(WHO);
    await account.root.ok(`mutation { deleteUser(userName: "leaver") }`);
    await leaver.fails(WHO, undefined, 'UNAUTHENTICATED');
    // A new user under the same name does not revive the old token.
    await account.root.ok(CREATE_USER, { u: 'leaver', p: 'leaver-password' });
    await leaver.fails(WHO, undefined, 'UNAUTHENTICATED');
  });
});

describe('groups', () => {
  it('creates groups, adds members, and refuses to delete a non-empty group', async () => {
    await account.root.ok(CREATE_USER, { u: 'gina' });
    await account.root.ok(`mutation { createGroup(groupName: "devs") { groupName arn } }`);
    await account.root.ok(`mutation { addUserToGroup(groupName: "devs", userName: "gina") }`);
    const { groups } = await account.root.ok<{
      groups: { nodes: { groupName: string; members: { userName: string }[] }[] };
    }>(`{ groups { nodes { groupName members { userName } } } }`);
    expect(groups.nodes).toEqual([{ groupName: 'devs', members: [{ userName: 'gina' }] }]);
    await account.root.fails(`mutation { deleteGroup(groupName: "devs") }`, undefined, 'CONFLICT');
    await account.root.ok(`mutation { removeUserFromGroup(groupName: "devs", userName: "gina") }`);
    await account.root.ok(`mutation { deleteGroup(groupName: "devs") }`);
  });
});
