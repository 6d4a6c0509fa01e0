import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../src/iam/identity/principal';
import { type GraphQLClient } from '../support/graphql-client';
import { newAccount, signIn, type TestAccount } from '../support/factories';
import { startTestServer, type TestServer } from '../support/test-server';

/**
 * The session resolver trusts "this principal still exists" for two seconds. That answer must
 * belong to the principal asked about: a token of another type that shares the account and the
 * ARN or user id (here signed by the server itself, as a token of an older or newer release, or
 * of another instance whose key is trusted, would be) must get its own check, in both orders.
 */

let server: TestServer;
const WHO = `{ callerIdentity { arn type } }`;
const root = (accountId: string): string => `arn:sluice:iam::${accountId}:root`;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

function tokenFor(principal: Omit<Principal, 'sessionId'>): GraphQLClient {
  return server.client.withToken(server.app.services.tokens.issue(principal).accessToken);
}

/** A user token naming the root's ARN, without a user id: no such user exists. */
function userNamedRoot(account: TestAccount): GraphQLClient {
  return tokenFor({
    type: 'USER',
    arn: root(account.accountId),
    accountId: account.accountId,
    userName: 'root',
  });
}

async function userAndRoleSession(name: string): Promise<{ user: GraphQLClient; role: GraphQLClient }> {
  const account = await newAccount(server, name);
  const created = await account.root.ok<{ createUser: { userId: string } }>(
    `mutation { createUser(userName: "alice", password: "alice-password-1") { userId } }`,
  );
  const user = await signIn(server.client, account.accountId, 'alice', 'alice-password-1');
  // Another principal type carrying the same user id (roles are not built yet: none exists).
  const role = tokenFor({
    type: 'ASSUMED_ROLE',
    arn: `arn:sluice:sts::${account.accountId}:assumed-role/Deploy/alice`,
    accountId: account.accountId,
    userId: created.createUser.userId,
  });
  return { user, role };
}

describe('the "principal still exists" cache keeps principals apart', () => {
  it('a rejected user token naming the root’s ARN does not end the root’s session', async () => {
    const account = await newAccount(server, 'root-after');
    const error = await userNamedRoot(account).fails(WHO, undefined, 'UNAUTHENTICATED');
    expect(error.message).toMatch(/its principal was deleted/);
    expect(await account.root.ok(WHO)).toEqual({
      callerIdentity: { arn: root(account.accountId), type: 'ROOT' },
    });
  });

  it('the root’s live session does not let a user token naming the root’s ARN through', async () => {
    const account = await newAccount(server, 'root-first');
    await account.root.ok(WHO);
    await userNamedRoot(account).fails(WHO, undefined, 'UNAUTHENTICATED');
    await account.root.ok(WHO);
  });

  it('a user’s live session does not let another principal type with its user id through', async () => {
    const { user, role } = await userAndRoleSession('user-first');
    await user.ok(WHO);
    await role.fails(WHO, undefined, 'UNAUTHENTICATED');
  });

  it('a rejected principal of another type with a user’s id does not end the user’s session', async () => {
    const { user, role } = await userAndRoleSession('role-first');
    await role.fails(WHO, undefined, 'UNAUTHENTICATED');
    expect((await user.ok<{ callerIdentity: { type: string } }>(WHO)).callerIdentity.type).toBe('USER');
  });

  it('deleting a key ends only its sessions; deleting the user ends the rest, not the root’s', async () => {
    const account = await newAccount(server, 'deletes');
    await account.root.ok(`mutation { createUser(userName: "bob", password: "bob-password-1") { arn } }`);
    const { createAccessKey: key } = await account.root.ok<{
      createAccessKey: { accessKeyId: string; secretAccessKey: string };
    }>(`mutation { createAccessKey(userName: "bob") { accessKeyId secretAccessKey } }`);
    const { getSessionToken } = await server.client.ok<{ getSessionToken: { accessToken: string } }>(
      `mutation($k: String!, $s: String!) { getSessionToken(accessKeyId: $k, secretAccessKey: $s) { accessToken } }`,
      { k: key.accessKeyId, s: key.secretAccessKey },
    );
    const keySession = server.client.withToken(getSessionToken.accessToken);
    const password = await signIn(server.client, account.accountId, 'bob', 'bob-password-1');
    await keySession.ok(WHO);
    await password.ok(WHO);

    await account.root.ok(`mutation($k: String!) { deleteAccessKey(userName: "bob", accessKeyId: $k) }`, {
      k: key.accessKeyId,
    });
    await keySession.fails(WHO, undefined, 'UNAUTHENTICATED');
    await password.ok(WHO);

    await account.root.ok(`mutation { deleteUser(userName: "bob") }`);
    await password.fails(WHO, undefined, 'UNAUTHENTICATED');
    await account.root.ok(WHO);
  });
});

describe('verified tokens', () => {
  it('a token verified once is still refused once it expires', async () => {
    const account = await newAccount(server, 'expiring');
    const issued = server.app.services.tokens.issue(
      { type: 'ROOT', arn: root(account.accountId), accountId: account.accountId, userName: 'root' },
      2,
    );
    const client = server.client.withToken(issued.accessToken);
    await client.ok(WHO); // verified, and remembered
    const deadline = issued.expiresAt.getTime() + 5_000;
    let code: string | undefined;
    while (code !== 'UNAUTHENTICATED') {
      expect(Date.now(), 'an expired token still worked').toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 100));
      code = (await client.request(WHO)).errors?.[0]?.extensions?.code;
    }
    expect(Date.now()).toBeGreaterThanOrEqual(issued.expiresAt.getTime());
  });
});
