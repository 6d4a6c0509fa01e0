import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignInThrottle, type ThrottleKey } from '../../src/iam/identity/sign-in-throttle';
import { LOGIN, newAccount, type TestAccount } from '../support/factories';
import { startTestServer, type TestServer } from '../support/test-server';

/**
 * Sign-in throttling counts an attempt before its password is checked, so a burst of
 * concurrent guesses cannot pass the limit (5 failures per user): at most 5 are ever checked,
 * the rest are THROTTLED, and so is the right password during the lockout.
 */

let server: TestServer;
let account: TestAccount;
const GET_SESSION = `mutation($k: String!, $s: String!) { getSessionToken(accessKeyId: $k, secretAccessKey: $s) { accessToken } }`;

beforeAll(async () => {
  server = await startTestServer();
  account = await newAccount(server, 'throttle');
});
afterAll(() => server.stop());

async function codesOf(
  requests: Promise<{ errors?: { extensions?: { code?: unknown } }[] }>[],
): Promise<string[]> {
  return (await Promise.all(requests)).map((r) => String(r.errors?.[0]?.extensions?.code ?? 'OK'));
}

const count = (codes: string[], code: string): number => codes.filter((c) => c === code).length;

describe('sign-in throttling under a burst of concurrent guesses', () => {
  it('checks at most 5 of 20 concurrent wrong passwords; the rest, and then the right one, are THROTTLED', async () => {
    await account.root.ok(`mutation { createUser(userName: "target", password: "target-password") { arn } }`);
    const guesses = Array.from({ length: 20 }, (_, i) =>
      server.client.request(LOGIN, {
        accountId: account.accountId,
        userName: 'target',
        password: `guess-${i}-xx`,
      }),
    );
    const codes = await codesOf(guesses);
    expect(count(codes, 'UNAUTHENTICATED')).toBeLessThanOrEqual(5);
    expect(count(codes, 'UNAUTHENTICATED')).toBeGreaterThanOrEqual(1);
    expect(count(codes, 'THROTTLED')).toBe(20 - count(codes, 'UNAUTHENTICATED'));
    // Any spelling of the name is the same user, and the right password is refused too.
    const right = await server.client.fails(
      LOGIN,
      { accountId: account.accountId, userName: 'TARGET', password: 'target-password' },
      'THROTTLED',
    );
    expect(right.extensions?.retryAfterSeconds).toBeGreaterThan(0);
  });

  it('does the same for access keys exchanged for session tokens', async () => {
    await account.root.ok(`mutation { createUser(userName: "robot") { arn } }`);
    const { createAccessKey } = await account.root.ok<{
      createAccessKey: { accessKeyId: string; secretAccessKey: string };
    }>(`mutation { createAccessKey(userName: "robot") { accessKeyId secretAccessKey } }`);
    const guesses = Array.from({ length: 20 }, (_, i) =>
      server.client.request(GET_SESSION, { k: createAccessKey.accessKeyId, s: `wrong-secret-${i}` }),
    );
    const codes = await codesOf(guesses);
    expect(count(codes, 'UNAUTHENTICATED')).toBeLessThanOrEqual(5);
    expect(count(codes, 'THROTTLED')).toBe(20 - count(codes, 'UNAUTHENTICATED'));
    await server.client.fails(
      GET_SESSION,
      { k: createAccessKey.accessKeyId, s: createAccessKey.secretAccessKey },
      'THROTTLED',
    );
  });

  it('a successful sign-in takes its attempt back: failures below the limit never add up across successes', async () => {
    await account.root.ok(`mutation { createUser(userName: "typo", password: "typo-password") { arn } }`);
    const attempt = (password: string) =>
      server.client.request(LOGIN, { accountId: account.accountId, userName: 'typo', password });
    for (let round = 0; round < 3; round++) {
      const wrong = await codesOf([
        attempt('typo-passwrod'),
        attempt('typo-passwrod'),
        attempt('typo-passwrod'),
      ]);
      expect(wrong).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED', 'UNAUTHENTICATED']);
      expect(await codesOf([attempt('typo-password')])).toEqual(['OK']);
    }
  });

  it('a success takes back only its own count from the address, and only the block it set', async () => {
    const throttle = new SignInThrottle(server.app.services.dataSource);
    const rule = { limit: 3, windowSeconds: 900, baseBlockSeconds: 60, maxBlockSeconds: 900 };
    const keys = (user: string): ThrottleKey[] => [
      { key: `user:test:${user}`, rule },
      { key: 'ip:192.0.2.7', rule },
    ];
    try {
      await throttle.begin(keys('a')); // two failures from the address
      await throttle.begin(keys('b'));
      // A third attempt reaches the limit, and blocks, before its check; it then succeeds.
      const success = await throttle.begin(keys('c'));
      await expect(throttle.begin(keys('d'))).rejects.toMatchObject({ code: 'THROTTLED' });
      await throttle.succeeded(success);
      // The address is back at two failures, unblocked: one more failure blocks it again.
      await throttle.begin(keys('e'));
      await expect(throttle.begin(keys('f'))).rejects.toMatchObject({ code: 'THROTTLED' });
    } finally {
      await throttle.close();
    }
  });
});
