import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allow, newAccount, signIn, type TestAccount } from '../support/factories';
import { startTestServer, type TestServer } from '../support/test-server';

/** Two `sluice serve` instances on one database, as behind a load balancer. */
let a: TestServer;
let b: TestServer;
let account: TestAccount;

beforeAll(async () => {
  a = await startTestServer();
  // Its own data folder, so its own signing key: tokens must still verify across instances.
  b = await startTestServer({}, { databaseUrl: a.databaseUrl });
  account = await newAccount(a, 'shared');
});
afterAll(async () => {
  await b.stop();
  await a.stop();
});

async function eventually(check: () => Promise<boolean>, seconds: number): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > seconds * 1000) throw new Error(`not within ${seconds} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - started;
}

describe('several instances on one database', () => {
  it('a token signed by one instance works on the other', async () => {
    const onB = b.client.withToken(account.root.token!);
    expect(await onB.ok('{ callerIdentity { accountId } }')).toEqual({
      callerIdentity: { accountId: account.accountId },
    });
  });

  it('a policy change made through one instance applies on the other within moments', async () => {
    await account.root.ok(
      `mutation { createUser(userName: "multi", password: "multi-password") { userName } }`,
    );
    const viaA = await signIn(a.client, account.accountId, 'multi', 'multi-password');
    const viaB = b.client.withToken(viaA.token!);
    const canListUsers = async (): Promise<boolean> =>
      !(await viaB.request('{ users { nodes { userName } } }')).errors;
    // Build B's cached authorizer for the account before the change.
    await viaB.fails('{ user(userName: "multi") { userName } }', undefined, 'ACCESS_DENIED');
    await account.root.ok(
      `mutation($d: JSON!) { putUserPolicy(userName: "multi", policyName: "p", policyDocument: $d) }`,
      {
        d: allow('iam:GetUser'),
      },
    );
    await eventually(async () => !(await viaB.request('{ user(userName: "multi") { userName } }')).errors, 5);
    expect(await canListUsers()).toBe(true); // lists are filtered, not denied
  });

  it('deleting a user through one instance ends its sessions on the other within 5 seconds', async () => {
    await account.root.ok(
      `mutation { createUser(userName: "gone", password: "gone-password") { userName } }`,
    );
    const viaA = await signIn(a.client, account.accountId, 'gone', 'gone-password');
    const viaB = b.client.withToken(viaA.token!);
    await viaB.ok('{ callerIdentity { arn } }');
    await account.root.ok(`mutation { deleteUser(userName: "gone") }`);
    const took = await eventually(
      async () =>
        (await viaB.request('{ callerIdentity { arn } }')).errors?.[0].extensions?.code === 'UNAUTHENTICATED',
      5,
    );
    expect(took).toBeLessThan(5000);
  });
});
