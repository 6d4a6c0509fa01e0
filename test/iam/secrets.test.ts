import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { SecretHasher } from '../../src/iam/identity/secrets';
import { LOGIN, newAccount, signIn, type TestAccount } from '../support/factories';
import { startTestServer, type TestServer } from '../support/test-server';

/**
 * Password and secret-key hashes: scrypt at OWASP's N=2^17, r=8, p=1 by default. A hash
 * made at a lower cost (here: by a server at the test harness's 2^14) still verifies, and is
 * replaced at today's cost on the next successful sign-in or getSessionToken.
 */

let old: TestServer;
let current: TestServer;
let db: Client;
let account: TestAccount;
let key: { accessKeyId: string; secretAccessKey: string };
const GET_SESSION = `mutation($k: String!, $s: String!) { getSessionToken(accessKeyId: $k, secretAccessKey: $s) { accessToken } }`;

async function costOf(sql: string, params: unknown[]): Promise<string> {
  const { rows } = await db.query<{ hash: string }>(sql, params);
  const [scheme, n, r, p] = rows[0].hash.split('$');
  return `${scheme} N=${n} r=${r} p=${p}`;
}
const userCost = (name: string) =>
  costOf('SELECT password_hash AS hash FROM users WHERE account_id = $1 AND name = $2', [
    account.accountId,
    name,
  ]);
const rootCost = () =>
  costOf('SELECT root_password_hash AS hash FROM accounts WHERE id = $1', [account.accountId]);
const keyCost = () => costOf('SELECT secret_hash AS hash FROM access_keys WHERE id = $1', [key.accessKeyId]);

const LOW = 'scrypt N=16384 r=8 p=1';
const OWASP = 'scrypt N=131072 r=8 p=1';

beforeAll(async () => {
  // An older server (cost 2^14) creates the hashes; a current one, with the default cost,
  // shares its database.
  old = await startTestServer({ SLUICE_SCRYPT_LOG_N: '14' });
  current = await startTestServer({ SLUICE_SCRYPT_LOG_N: '' }, { databaseUrl: old.databaseUrl });
  db = new Client({ connectionString: old.databaseUrl });
  await db.connect();
  account = await newAccount(old, 'hashes');
  await account.root.ok(`mutation { createUser(userName: "alice", password: "alice-password") { arn } }`);
  ({ createAccessKey: key } = await account.root.ok<{
    createAccessKey: { accessKeyId: string; secretAccessKey: string };
  }>(`mutation { createAccessKey(userName: "alice") { accessKeyId secretAccessKey } }`));
}, 120_000);
afterAll(async () => {
  await db.end();
  await current.stop();
  await old.stop();
});

describe('scrypt cost', () => {
  it('defaults to OWASP’s N=2^17, r=8, p=1 and refuses a cost below 2^14', () => {
    expect(loadConfig({}).scryptLogN).toBe(17);
    expect(new SecretHasher().cost).toEqual({ N: 2 ** 17, r: 8, p: 1 });
    expect(() => loadConfig({ SLUICE_SCRYPT_LOG_N: '13' })).toThrow(
      /SLUICE_SCRYPT_LOG_N must be between 14 and 20/,
    );
  });

  it('the hashes made by the older server carry their parameters', async () => {
    expect([await userCost('alice'), await rootCost(), await keyCost()]).toEqual([LOW, LOW, LOW]);
  });

  it('a wrong password leaves an old hash alone; the right one signs in and upgrades it', async () => {
    await current.client.fails(
      LOGIN,
      { accountId: account.accountId, userName: 'alice', password: 'not-her-password' },
      'UNAUTHENTICATED',
    );
    expect(await userCost('alice')).toBe(LOW);
    await signIn(current.client, account.accountId, 'alice', 'alice-password');
    expect(await userCost('alice')).toBe(OWASP);
    // The new hash verifies, on either server (each reads the parameters from the hash).
    await signIn(current.client, account.accountId, 'alice', 'alice-password');
    await signIn(old.client, account.accountId, 'alice', 'alice-password');
    expect(await userCost('alice')).toBe(OWASP);
  });

  it('the account root’s password is upgraded the same way', async () => {
    await signIn(current.client, account.accountId, 'root', account.rootPassword);
    expect(await rootCost()).toBe(OWASP);
  });

  it('an access key’s secret is upgraded on getSessionToken', async () => {
    await current.client.ok(GET_SESSION, { k: key.accessKeyId, s: key.secretAccessKey });
    expect(await keyCost()).toBe(OWASP);
    await current.client.ok(GET_SESSION, { k: key.accessKeyId, s: key.secretAccessKey });
  });

  it('new users of the current server get the default cost', async () => {
    const root = await signIn(current.client, account.accountId, 'root', account.rootPassword);
    await root.ok(`mutation { createUser(userName: "bob", password: "bob-password") { arn } }`);
    expect(await userCost('bob')).toBe(OWASP);
  });
});
