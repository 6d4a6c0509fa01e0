import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { newAccount, platformAdmin, userWithPolicy, type TestAccount } from '../support/factories';
import type { GraphQLClient, GraphQLErrorShape } from '../support/graphql-client';
import { startTestServer, type TestServer } from '../support/test-server';
import { wsRequest } from '../support/ws-client';

// Every abuse is sent over HTTP and over WebSocket: both must refuse it with the same code.
// A WebSocket needs a token at connection_init (without one it is closed with 4401, see
// test/events/ws-security.test.ts), so both transports send the same signed-in user's token.

let dev: TestServer;
let prod: TestServer;
let account: TestAccount;
let nobody: GraphQLClient;
let prodAdmin: GraphQLClient;
beforeAll(async () => {
  [dev, prod] = await Promise.all([startTestServer(), startTestServer({ NODE_ENV: 'production' })]);
  account = await newAccount(dev, 'transports');
  nobody = await userWithPolicy(dev, account, undefined, 'nobody');
  prodAdmin = await platformAdmin(prod);
});
afterAll(() => Promise.all([dev?.stop(), prod?.stop()]));

interface Abuse {
  name: string;
  query: string;
  variables?: Record<string, unknown>;
  production?: boolean;
  code: string;
  message: RegExp;
}

const deep = `{ __type(name: "Query") { fields { type ${'{ ofType '.repeat(12)}{ name }${' }'.repeat(12)} } } }`;

const abuses: Abuse[] = [
  {
    name: 'a document that does not parse',
    query: '{ callerIdentity {',
    code: 'GRAPHQL_PARSE_FAILED',
    message: /Syntax Error/,
  },
  { name: 'a query too deep', query: deep, code: 'GRAPHQL_VALIDATION_FAILED', message: /depth limit of 12/i },
  {
    name: 'too many aliases',
    query: `{ ${Array.from({ length: 16 }, (_, i) => `a${i}: callerIdentity { arn }`).join(' ')} }`,
    code: 'GRAPHQL_VALIDATION_FAILED',
    message: /aliases limit of 15/i,
  },
  {
    name: 'too many tokens',
    query: `{ ${'__typename '.repeat(2100)}}`,
    code: 'GRAPHQL_PARSE_FAILED',
    message: /more tha[nt] 2000 tokens/,
  },
  {
    name: 'a query too costly',
    query: '{ pipelines(first: 10000) { nodes { name arn version declaration } } }',
    code: 'GRAPHQL_VALIDATION_FAILED',
    message: /cost limit of 50000/i,
  },
  {
    name: 'too many directives',
    query: `{ __typename ${'@skip(if: false) '.repeat(51)}}`,
    code: 'GRAPHQL_VALIDATION_FAILED',
    message: /directives limit of 50/i,
  },
  {
    name: 'introspection in production',
    query: '{ __schema { queryType { name } } }',
    production: true,
    code: 'GRAPHQL_VALIDATION_FAILED',
    message: /introspection has been disabled/,
  },
  {
    name: 'probing for field names in production (no suggestions)',
    query: '{ callerIdentit { arn } }',
    production: true,
    code: 'GRAPHQL_VALIDATION_FAILED',
    message: /^Cannot query field "callerIdentit" on type "Query"\.$/,
  },
  {
    name: 'a variable of the wrong type',
    query: 'query($n: Int!) { pipelines(first: $n) { nodes { name } } }',
    variables: { n: 'many' },
    code: 'BAD_USER_INPUT',
    message: /Int cannot represent/,
  },
  {
    name: 'a field the caller may not use',
    query: '{ pipeline(name: "secret-pipeline") { name } }',
    code: 'ACCESS_DENIED',
    message: /not authorized to perform codepipeline:GetPipeline/,
  },
];

async function overBoth(abuse: Abuse): Promise<{ http: GraphQLErrorShape[]; ws: GraphQLErrorShape[] }> {
  const server = abuse.production ? prod : dev;
  // Outside production: a user of an account who holds no policy.
  const client = abuse.production ? prodAdmin : nobody;
  const http = await client.request(abuse.query, abuse.variables);
  const ws = await wsRequest(server.url, { query: abuse.query, variables: abuse.variables }, client.token);
  expect(ws.closeCode, 'the WebSocket answered instead of hanging up').toBeUndefined();
  return { http: http.errors ?? [], ws: ws.errors ?? [] };
}

describe('one set of protections on every transport', () => {
  it.each(abuses)('$name: refused with $code over HTTP and over WebSocket', async (abuse) => {
    const { http, ws } = await overBoth(abuse);
    for (const [transport, errors] of [
      ['HTTP', http],
      ['WebSocket', ws],
    ] as const) {
      expect(errors.length, `${transport}: ${JSON.stringify(errors)}`).toBeGreaterThan(0);
      expect(errors[0].extensions?.code, `${transport}: ${errors[0].message}`).toBe(abuse.code);
      expect(errors[0].message, transport).toMatch(abuse.message);
    }
    expect(ws.map((e) => [e.extensions?.code, e.message])).toEqual(
      http.map((e) => [e.extensions?.code, e.message]),
    );
  });

  it('outside production both transports suggest field names', async () => {
    const { http, ws } = await overBoth({ ...abuses[7], production: false });
    expect(http[0].message).toMatch(/Did you mean "callerIdentity"\?/);
    expect(ws[0].message).toBe(http[0].message);
  });

  it('a call without a token: UNAUTHENTICATED over HTTP; over WebSocket the connection is closed with 4401', async () => {
    const query = '{ callerIdentity { arn } }';
    const http = await dev.client.request(query);
    expect(http.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    expect(http.errors?.[0].message).toMatch(/bearer token/);
    const ws = await wsRequest(dev.url, { query });
    expect(ws).toEqual({ closeCode: 4401 });
  });

  it('refuses a payload over SLUICE_MAX_BODY_BYTES on both: HTTP 413, WebSocket close 1009 (message too big)', async () => {
    const query = '{ __typename }';
    const variables = { padding: 'x'.repeat(1_100_000) };
    const http = await dev.client.request(query, variables);
    expect(http.status).toBe(413);
    expect(http.errors?.[0].extensions?.code).toBe('LIMIT_EXCEEDED');
    const ws = await wsRequest(dev.url, { query, variables }, nobody.token);
    expect(ws.closeCode).toBe(1009);
    // Just under the limit is still served on both.
    const fits = { padding: 'x'.repeat(1_000_000) };
    expect((await dev.client.request(query, fits)).data).toEqual({ __typename: 'Query' });
    expect((await wsRequest(dev.url, { query, variables: fits }, nobody.token)).data).toEqual({
      __typename: 'Query',
    });
  });

  it('masks an unexpected error as INTERNAL with a request id on both, never its message', async () => {
    const sessions = dev.app.services.sessions;
    const resolve = sessions.resolve.bind(sessions);
    let calls = 0;
    // Call 2 is the WebSocket's connection_init, which must pass for its operation (call 3)
    // to meet the fault as the HTTP request (call 1) does.
    const fault = vi
      .spyOn(sessions, 'resolve')
      .mockImplementation((token) =>
        ++calls === 2
          ? resolve(token)
          : Promise.reject(new TypeError('secret detail at /srv/sluice/src/x.ts:12')),
      );
    try {
      const { http, ws } = await overBoth({
        name: 'fault',
        query: '{ callerIdentity { arn } }',
        code: 'INTERNAL',
        message: /./,
      });
      expect(calls).toBe(3);
      for (const errors of [http, ws]) {
        expect(errors[0].extensions?.code).toBe('INTERNAL');
        expect(errors[0].extensions?.requestId).toEqual(expect.any(String));
        expect(errors[0].message).toContain(String(errors[0].extensions?.requestId));
        expect(JSON.stringify(errors)).not.toMatch(/secret detail|x\.ts/);
      }
      expect(ws[0].extensions?.requestId).not.toBe(http[0].extensions?.requestId);
    } finally {
      fault.mockRestore();
    }
  });

  it('authorizes and audits a call over WebSocket as over HTTP', async () => {
    const userArn = `arn:sluice:iam::${account.accountId}:user/nobody`;
    const denials = async () => {
      const { auditEvents } = await account.root.ok<{
        auditEvents: { nodes: { requestParameters: { name?: string }; sourceIpAddress: string }[] };
      }>(
        `query($arn: String!) { auditEvents(filter: { eventName: "GetPipeline", errorCode: "ACCESS_DENIED", principalArn: $arn }, first: 50) {
          nodes { requestParameters sourceIpAddress } } }`,
        { arn: userArn },
      );
      return auditEvents.nodes.filter((e) => e.requestParameters.name === 'audited-pipeline');
    };
    const query = '{ pipeline(name: "audited-pipeline") { name } }';
    expect(await denials()).toEqual([]);
    await nobody.request(query);
    expect(await denials()).toHaveLength(1);
    const ws = await wsRequest(dev.url, { query }, nobody.token);
    expect(ws.errors?.[0].extensions?.code).toBe('ACCESS_DENIED');
    const events = await denials();
    expect(events).toHaveLength(2);
    for (const event of events) expect(event.sourceIpAddress).toBe('127.0.0.1');
  });

  it('runs a mutation over WebSocket as one audited unit of work, as over HTTP', async () => {
    const create = 'mutation($u: String!) { createUser(userName: $u) { userName } }';
    const denied = await wsRequest(
      dev.url,
      { query: create, variables: { u: 'made-by-nobody' } },
      nobody.token,
    );
    expect(denied.errors?.[0].extensions?.code).toBe('ACCESS_DENIED');
    const made = await wsRequest(
      dev.url,
      { query: create, variables: { u: 'made-over-ws' } },
      account.root.token,
    );
    expect(made.data).toEqual({ createUser: { userName: 'made-over-ws' } });
    const { auditEvents } = await account.root.ok<{
      auditEvents: {
        nodes: { readOnly: boolean; errorCode: string | null; requestParameters: { userName: string } }[];
      };
    }>(
      `{ auditEvents(filter: { eventName: "CreateUser" }, first: 10) { nodes { readOnly errorCode requestParameters } } }`,
    );
    const byUser = new Map(auditEvents.nodes.map((e) => [e.requestParameters.userName, e]));
    expect(byUser.get('made-by-nobody')).toMatchObject({ readOnly: false, errorCode: 'ACCESS_DENIED' });
    expect(byUser.get('made-over-ws')).toMatchObject({ readOnly: false, errorCode: null });
    await account.root.fails('{ user(userName: "made-by-nobody") { userName } }', undefined, 'NOT_FOUND');
    expect(await account.root.ok('{ user(userName: "made-over-ws") { userName } }')).toEqual({
      user: { userName: 'made-over-ws' },
    });
  });
});
