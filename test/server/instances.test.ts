import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyId } from '../../src/iam/identity/token.service';
import { allow, newAccount, signIn, type TestAccount } from '../support/factories';
import { startTestServer, type TestServer } from '../support/test-server';

/** Two `sluice serve` instances on one database, as behind a load balancer. */
let a: TestServer;
let b: TestServer;
let account: TestAccount;
/** Each instance's private key, and a folder of both public keys that both trust. */
let keys: string;

function newKeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

function writePublicKey(file: string, publicKey: KeyObject): void {
  fs.writeFileSync(file, publicKey.export({ type: 'spki', format: 'pem' }));
}

beforeAll(async () => {
  // Provisioned as an operator would: each instance its own key, each trusting the other's.
  keys = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-test-keys-'));
  fs.mkdirSync(path.join(keys, 'trusted'));
  for (const name of ['a', 'b']) {
    const pair = newKeyPair();
    fs.writeFileSync(
      path.join(keys, `${name}.pem`),
      pair.privateKey.export({ type: 'pkcs8', format: 'pem' }),
    );
    writePublicKey(path.join(keys, 'trusted', `${name}.pem`), pair.publicKey);
  }
  const env = (name: string): Record<string, string> => ({
    SLUICE_SIGNING_KEY_FILE: path.join(keys, `${name}.pem`),
    SLUICE_TRUSTED_KEYS: path.join(keys, 'trusted'),
  });
  a = await startTestServer(env('a'));
  b = await startTestServer(env('b'), { databaseUrl: a.databaseUrl });
  account = await newAccount(a, 'shared');
});
afterAll(async () => {
  await b.stop();
  await a.stop();
  fs.rmSync(keys, { recursive: true, force: true });
});

/** A well-formed session token for the account's root, signed with `privateKey`. */
function forgeRootToken(privateKey: KeyObject, publicKey: KeyObject): string {
  return jwt.sign(
    {
      sub: `arn:sluice:iam::${account.accountId}:root`,
      acct: account.accountId,
      ptype: 'ROOT',
      jti: randomUUID(),
    },
    privateKey.export({ type: 'pkcs8', format: 'pem' }),
    { algorithm: 'ES256', keyid: keyId(publicKey), expiresIn: 600, issuer: 'sluice', audience: 'sluice' },
  );
}

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

  it('an instance that was not given the other’s public key refuses its tokens, although the key is in signing_keys', async () => {
    const c = await startTestServer({}, { databaseUrl: a.databaseUrl });
    try {
      const db = new Client({ connectionString: a.databaseUrl });
      await db.connect();
      const { rows } = await db.query('SELECT count(*) AS n FROM signing_keys').finally(() => db.end());
      expect(Number(rows[0].n)).toBeGreaterThanOrEqual(3); // a's, b's and c's, all published
      const onC = c.client.withToken(account.root.token!);
      const error = await onC.fails('{ callerIdentity { accountId } }', undefined, 'UNAUTHENTICATED');
      expect(error.message).toMatch(/does not trust/);
    } finally {
      await c.stop();
    }
  });

  it('a key inserted only into signing_keys is not trusted; the same key in a trusted folder is', async () => {
    const pair = newKeyPair();
    const db = new Client({ connectionString: a.databaseUrl });
    await db.connect();
    try {
      // What anyone with the database password could do.
      await db.query(`INSERT INTO signing_keys (kid, algorithm, public_key_pem) VALUES ($1, 'ES256', $2)`, [
        keyId(pair.publicKey),
        pair.publicKey.export({ type: 'spki', format: 'pem' }),
      ]);
    } finally {
      await db.end();
    }
    const forged = forgeRootToken(pair.privateKey, pair.publicKey);
    for (const instance of [a, b]) {
      const error = await instance.client
        .withToken(forged)
        .fails('{ callerIdentity { accountId } }', undefined, 'UNAUTHENTICATED');
      expect(error.message).toMatch(/does not trust/);
    }
    // The token itself is well-formed: once an operator trusts the key (a new instance, say),
    // both instances accept it without a restart.
    writePublicKey(path.join(keys, 'trusted', 'new-instance.pem'), pair.publicKey);
    for (const instance of [a, b]) {
      await eventually(
        async () =>
          !(await instance.client.withToken(forged).request('{ callerIdentity { accountId } }')).errors,
        5,
      );
    }
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
