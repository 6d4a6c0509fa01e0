import { auditServer } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

const JSON_TYPE = 'application/json';
const GRAPHQL_RESPONSE = 'application/graphql-response+json';

interface Answer {
  status: number;
  type: string | null;
  body: { data?: unknown; errors?: { extensions?: { code?: string } }[] };
}

async function post(accept: string | undefined, body: unknown): Promise<Answer> {
  const res = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': JSON_TYPE, ...(accept ? { accept } : {}) },
    body: JSON.stringify(body),
  });
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    body: (await res.json()) as Answer['body'],
  };
}

describe('GraphQL over HTTP, to the letter', () => {
  it("passes every MUST and SHOULD of graphql-http's audit", async () => {
    const results = await auditServer({ url: server.url });
    const required = results.filter((r) => /^(MUST|SHOULD) /.test(r.name));
    const failed = await Promise.all(
      required
        .filter((r) => r.status !== 'ok')
        .map(async (r) => {
          const response = 'response' in r ? r.response : undefined;
          const body = response ? await response.text().catch(() => '') : '';
          return `${r.name}: ${'reason' in r ? r.reason : ''} (HTTP ${response?.status}) ${body.slice(0, 300)}`;
        }),
    );
    expect(failed, failed.join('\n')).toEqual([]);
    // The audit of graphql-http 1.x: 13 MUSTs and 23 SHOULDs; none may quietly disappear.
    expect(required.length).toBeGreaterThanOrEqual(36);
  });

  describe.each([
    ['a document that does not parse', { query: '{ callerIdentity {' }, 'GRAPHQL_PARSE_FAILED'],
    ['a document that does not validate', { query: '{ noSuchField }' }, 'GRAPHQL_VALIDATION_FAILED'],
    [
      'a variable that does not coerce',
      { query: 'query($n: Int!) { pipelines(first: $n) { nodes { name } } }', variables: { n: 'many' } },
      'BAD_USER_INPUT',
    ],
    [
      'an operation name not in the document',
      { query: 'query A { __typename }', operationName: 'B' },
      'OPERATION_RESOLUTION_FAILURE',
    ],
  ])('%s', (_name, body, code) => {
    it.each([
      [JSON_TYPE, 200],
      [undefined, 200],
      [GRAPHQL_RESPONSE, 400],
      [`${GRAPHQL_RESPONSE}, ${JSON_TYPE};q=0.9`, 400],
      [`${GRAPHQL_RESPONSE};q=0.5, ${JSON_TYPE}`, 200],
    ])(`is ${code}, with Accept %s answered with HTTP %i and no data`, async (accept, status) => {
      const res = await post(accept, body);
      expect(res.status).toBe(status);
      expect(res.type).toContain(status === 200 ? JSON_TYPE : GRAPHQL_RESPONSE);
      expect(res.body.errors?.[0].extensions?.code).toBe(code);
      expect(res.body).not.toHaveProperty('data');
    });
  });

  it.each([JSON_TYPE, GRAPHQL_RESPONSE])(
    'answers a field error with 200 and data, with Accept %s',
    async (accept) => {
      const res = await post(accept, { query: '{ callerIdentity { arn } }' });
      expect(res.status).toBe(200);
      expect(res.body.data).toBeNull();
      expect(res.body.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    },
  );

  it('refuses a media type it cannot answer in (406) and a body that is not JSON (415)', async () => {
    expect((await post('text/html', { query: '{ __typename }' })).status).toBe(406);
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/graphql',
      undefined,
    ]) {
      const res = await fetch(server.url, {
        method: 'POST',
        headers: type ? { 'content-type': type } : {},
        body: type === 'application/graphql' ? '{ __typename }' : 'query=%7B__typename%7D',
      });
      expect(res.status, String(type)).toBe(415);
      const body = (await res.json()) as { errors: { extensions: { code: string } }[] };
      expect(body.errors[0].extensions.code).toBe('BAD_REQUEST');
    }
  });

  it('serves queries over GET with a CSRF-safe header, never mutations (405), and blocks a bare GET (CSRF)', async () => {
    const get = (query: string, headers: Record<string, string> = { 'apollo-require-preflight': 'true' }) =>
      fetch(`${server.url}?query=${encodeURIComponent(query)}`, { headers });
    const query = await get('{ __typename }');
    expect(query.status).toBe(200);
    expect(await query.json()).toEqual({ data: { __typename: 'Query' } });
    const mutation = await get('mutation { deletePipeline(name: "x") }');
    expect(mutation.status).toBe(405);
    expect(mutation.headers.get('allow')).toBe('POST');
    const bare = await get('{ __typename }', {});
    expect(bare.status).toBe(400);
    expect(await bare.text()).toMatch(/CSRF/);
  });
});
