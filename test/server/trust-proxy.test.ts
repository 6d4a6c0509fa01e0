import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config';
import { newAccount, userWithPolicy, type TestAccount } from '../support/factories';
import type { GraphQLClient } from '../support/graphql-client';
import { startTestServer, type TestServer } from '../support/test-server';
import { wsRequest } from '../support/ws-client';

describe('SLUICE_TRUST_PROXY', () => {
  it('is a hop count: 0 (default) trusts no proxy; "true" (trust every hop) is refused, naming the variable', () => {
    expect(loadConfig({}).trustProxyHops).toBe(0);
    expect(loadConfig({ SLUICE_TRUST_PROXY: 'false' }).trustProxyHops).toBe(0);
    expect(loadConfig({ SLUICE_TRUST_PROXY: '2' }).trustProxyHops).toBe(2);
    for (const value of ['true', 'TRUE', 'yes', '-1', '1.5', '33']) {
      let error: unknown;
      try {
        loadConfig({ SLUICE_TRUST_PROXY: value });
      } catch (e) {
        error = e;
      }
      expect(error, value).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable).toBe('SLUICE_TRUST_PROXY');
    }
    expect(() => loadConfig({ SLUICE_TRUST_PROXY: 'true' })).toThrow(/number of proxies/);
  });
});

// Only callers inside 10.0.0.0/8 may read pipelines: a caller outside it gets ACCESS_DENIED,
// one inside gets past the check to NOT_FOUND (no such pipeline).
const INSIDE_ONLY = {
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Action: 'codepipeline:GetPipeline',
      Resource: '*',
      Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } },
    },
  ],
};
const QUERY = '{ pipeline(name: "behind-the-proxy") { name } }';

async function codeOver(
  transport: 'HTTP' | 'WebSocket',
  server: TestServer,
  client: GraphQLClient,
  forwardedFor: string,
): Promise<string | undefined> {
  const headers = { 'x-forwarded-for': forwardedFor };
  const errors =
    transport === 'HTTP'
      ? (await client.request(QUERY, undefined, headers)).errors
      : (await wsRequest(server.url, { query: QUERY }, client.token, headers)).errors;
  return errors?.[0]?.extensions?.code;
}

describe.each([
  ['one proxy in front (SLUICE_TRUST_PROXY=1)', { SLUICE_TRUST_PROXY: '1' }],
  ['no proxy trusted (default)', {}],
])('the caller address with %s', (_name, env: Record<string, string>) => {
  let server: TestServer;
  let account: TestAccount;
  let user: GraphQLClient;
  const hops = env.SLUICE_TRUST_PROXY ? 1 : 0;
  beforeAll(async () => {
    server = await startTestServer(env);
    account = await newAccount(server, 'proxied');
    user = await userWithPolicy(server, account, INSIDE_ONLY, 'proxied-user');
  });
  afterAll(() => server?.stop());

  it.each(['HTTP', 'WebSocket'] as const)(
    'over %s, is never a spoofed left-most X-Forwarded-For entry',
    async (transport) => {
      // The client claims 10.1.2.3; the proxy appended the address it really came from.
      expect(await codeOver(transport, server, user, '10.1.2.3, 203.0.113.7')).toBe('ACCESS_DENIED');
      // With one trusted hop, the right-most entry is the caller; with none, the socket's 127.0.0.1.
      expect(await codeOver(transport, server, user, '203.0.113.7, 10.1.2.3')).toBe(
        hops ? 'NOT_FOUND' : 'ACCESS_DENIED',
      );
    },
  );

  it('records in the audit trail the address the policy saw', async () => {
    await user.request(QUERY, undefined, { 'x-forwarded-for': '10.1.2.3, 203.0.113.7' });
    const { auditEvents } = await account.root.ok<{ auditEvents: { nodes: { sourceIpAddress: string }[] } }>(
      `{ auditEvents(filter: { eventName: "GetPipeline" }, first: 1) { nodes { sourceIpAddress } } }`,
    );
    expect(auditEvents.nodes[0].sourceIpAddress).toBe(hops ? '203.0.113.7' : '127.0.0.1');
  });
});
