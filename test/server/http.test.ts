import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformAdmin } from '../support/factories';
import { startTestServer, type TestServer } from '../support/test-server';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

const base = (): string => server.url.replace('/graphql', '');

describe('HTTP surface', () => {
  it('answers /healthz and /readyz', async () => {
    expect(await (await fetch(`${base()}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${base()}/readyz`);
    expect(ready.status).toBe(200);
    // Other fields (the sandbox mode) are described by the tests of what they report.
    expect(await ready.json()).toMatchObject({ status: 'ready' });
  });

  it('answers a bare { __typename } and introspection without a token (outside production)', async () => {
    expect(await server.client.ok('{ __typename }')).toEqual({ __typename: 'Query' });
    const schema = await server.client.ok<{ __schema: { queryType: { name: string } } }>(
      '{ __schema { queryType { name } } }',
    );
    expect(schema.__schema.queryType.name).toBe('Query');
  });

  it('needs a token for everything else, and rejects a forged one', async () => {
    const missing = await server.client.fails('{ callerIdentity { arn } }', undefined, 'UNAUTHENTICATED');
    expect(missing.message).toMatch(/bearer token/);
    await server.client
      .withToken('not-a-jwt')
      .fails('{ callerIdentity { arn } }', undefined, 'UNAUTHENTICATED');
    const admin = await platformAdmin(server);
    const [header, payload] = admin.token!.split('.');
    const forged = `${header}.${payload}.${Buffer.from('signature').toString('base64url')}`;
    await server.client.withToken(forged).fails('{ callerIdentity { arn } }', undefined, 'UNAUTHENTICATED');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
    await server.client.withToken(none).fails('{ callerIdentity { arn } }', undefined, 'UNAUTHENTICATED');
  });

  it('issues ES256 tokens with a kid that expire within an hour', async () => {
    const admin = await platformAdmin(server);
    const [header, payload] = admin
      .token!.split('.')
      .slice(0, 2)
      .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()));
    expect(header).toMatchObject({ alg: 'ES256', typ: 'JWT' });
    expect(header.kid).toEqual(expect.any(String));
    expect(payload.exp - payload.iat).toBeLessThanOrEqual(3600);
    expect(payload.jti).toEqual(expect.any(String));
  });

  it('echoes a request id and answers malformed JSON with a GraphQL-shaped 400', async () => {
    const res = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query": ',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    const body = (await res.json()) as { errors: { extensions: { code: string } }[] };
    expect(body.errors[0].extensions.code).toBe('BAD_REQUEST');
  });

  it('refuses bodies over the size limit', async () => {
    const res = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ __typename }`, variables: { x: 'y'.repeat(1_100_000) } }),
    });
    expect(res.status).toBe(413);
    const body = (await res.json()) as { errors: { extensions: { code: string } }[] };
    expect(body.errors[0].extensions.code).toBe('LIMIT_EXCEEDED');
  });

  it('does not batch, and blocks CSRF-able GET requests', async () => {
    const batch = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]),
    });
    expect(batch.status).toBe(400);
    const csrf = await fetch(`${server.url}?query=${encodeURIComponent('{ __typename }')}`);
    expect(csrf.status).toBe(400);
    expect(await csrf.text()).toMatch(/CSRF/i);
  });

  it('rejects queries with too many aliases or tokens', async () => {
    const aliases = `{ ${Array.from({ length: 30 }, (_, i) => `a${i}: callerIdentity { arn }`).join(' ')} }`;
    expect((await server.client.request(aliases)).errors?.[0].message).toMatch(/alias/i);
    const tokens = `{ ${'callerIdentity { arn } '.repeat(600)}}`;
    expect((await server.client.request(tokens)).errors?.[0].message).toMatch(/token/i);
  });

  it('serves GraphQL over WebSocket on the same port, authenticated by connectionParams', async () => {
    const admin = await platformAdmin(server);
    const ws = createClient({
      url: server.url.replace('http', 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${admin.token}` },
    });
    try {
      const result = await new Promise<unknown>((resolve, reject) => {
        let value: unknown;
        ws.subscribe(
          { query: '{ callerIdentity { arn type } }' },
          { next: (v) => (value = v), error: reject, complete: () => resolve(value) },
        );
      });
      expect(result).toEqual({
        data: { callerIdentity: { arn: 'arn:sluice:iam::000000000000:user/admin', type: 'USER' } },
      });
    } finally {
      await ws.dispose();
    }
  });
});

describe('production mode', () => {
  let prod: TestServer;
  beforeAll(async () => {
    prod = await startTestServer({ NODE_ENV: 'production' });
  });
  afterAll(() => prod.stop());

  it('turns introspection off but still answers { __typename }', async () => {
    expect(await prod.client.ok('{ __typename }')).toEqual({ __typename: 'Query' });
    const res = await prod.client.request('{ __schema { queryType { name } } }');
    expect(res.errors?.[0].message).toMatch(/introspection/i);
  });
});
