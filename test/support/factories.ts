import { randomBytes } from 'node:crypto';
import { type GraphQLClient } from './graphql-client';
import { ADMIN_PASSWORD, type TestServer } from './test-server';

export const LOGIN = `mutation($accountId: String!, $userName: String!, $password: String!) {
  login(accountId: $accountId, userName: $userName, password: $password) {
    accessToken expiresAt principal { arn accountId type userName }
  }
}`;

export async function signIn(
  client: GraphQLClient,
  accountId: string,
  userName: string,
  password: string,
): Promise<GraphQLClient> {
  const data = await client.ok<{ login: { accessToken: string } }>(LOGIN, { accountId, userName, password });
  return client.withToken(data.login.accessToken);
}

export function platformAdmin(server: TestServer): Promise<GraphQLClient> {
  return signIn(server.client, '000000000000', 'admin', ADMIN_PASSWORD);
}

export interface TestAccount {
  accountId: string;
  rootPassword: string;
  root: GraphQLClient;
}

export async function newAccount(server: TestServer, name = 'team'): Promise<TestAccount> {
  const admin = await platformAdmin(server);
  const { createAccount } = await admin.ok<{ createAccount: { accountId: string; rootPassword: string } }>(
    `mutation($name: String!) { createAccount(name: $name) { accountId name rootPassword } }`,
    { name },
  );
  const root = await signIn(server.client, createAccount.accountId, 'root', createAccount.rootPassword);
  return { accountId: createAccount.accountId, rootPassword: createAccount.rootPassword, root };
}

/** A user of `account` holding one inline policy, signed in. */
export async function userWithPolicy(
  server: TestServer,
  account: TestAccount,
  policy: object | undefined,
  userName = `u${randomBytes(4).toString('hex')}`,
): Promise<GraphQLClient> {
  const password = `pw-${randomBytes(8).toString('hex')}`;
  await account.root.ok(
    `mutation($u: String!, $p: String!) { createUser(userName: $u, password: $p) { userName } }`,
    {
      u: userName,
      p: password,
    },
  );
  if (policy) {
    await account.root.ok(
      `mutation($u: String!, $d: JSON!) { putUserPolicy(userName: $u, policyName: "test", policyDocument: $d) }`,
      { u: userName, d: policy },
    );
  }
  return signIn(server.client, account.accountId, userName, password);
}

export function allow(action: string | string[], resource: string | string[] = '*'): object {
  return { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: action, Resource: resource }] };
}
