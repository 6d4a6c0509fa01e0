import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actionTypeKey } from '../../src/engine/engine-signals';
import { Metrics } from '../../src/platform/metrics/metrics';
import { approvalPipeline, CREATE_PIPELINE } from '../support/executions';
import { newAccount, platformAdmin, userWithPolicy, type TestAccount } from '../support/factories';
import type { GraphQLClient } from '../support/graphql-client';
import { startTestServer, type TestServer } from '../support/test-server';
import { wsRequest } from '../support/ws-client';
import { TestSocket } from '../support/ws-subscription';

/**
 * /metrics (issue 10, points 4 and 5): every metric docs/operations.md names is served, and
 * nothing of Sluice's that it does not; the request histogram counts outcomes; the endpoint is
 * for platform principals allowed sluice:GetMetrics, or on a listener of its own; no tenant
 * data ever appears in it.
 */
let server: TestServer;
let admin: GraphQLClient;
let tenant: TestAccount;
let deniedUser: GraphQLClient;
const marker = randomBytes(4).toString('hex');
const accountName = `acct${marker}`;
const pipelineName = `pipe${marker}`;
const userName = `user${marker}`;
const sockets: TestSocket[] = [];

const GET_PIPELINE = `query($n: String!) { pipeline(name: $n) { name } }`;
const PIPELINE_EVENTS = `subscription($p: String!) { pipelineEvents(pipelineName: $p) { sequence } }`;
const ARCHIVE = { category: 'Source', owner: 'Sluice', provider: 'Archive', version: '1' };

interface Scrape {
  status: number;
  contentType: string | null;
  text: string;
}

async function scrape(base: string, token?: string): Promise<Scrape> {
  const response = await fetch(`${base}/metrics`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    text: await response.text(),
  };
}

const mainBase = (s: TestServer): string => s.url.replace(/\/graphql$/, '');
const adminScrape = async (): Promise<string> => {
  const result = await scrape(mainBase(server), admin.token);
  expect(result.status, result.text).toBe(200);
  return result.text;
};

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function samples(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) throw new Error(`not a sample line: ${line}`);
      const labels: Record<string, string> = {};
      for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
      return { name: match[1], labels, value: Number(match[3]) };
    });
}

/** The sum of `name`'s samples having at least `labels`; undefined when there is none. */
function value(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples(text).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return found.length ? found.reduce((sum, s) => sum + s.value, 0) : undefined;
}

/** Scrapes until `check` holds on the text (the engine and the feed are asynchronous). */
async function scrapeUntil(check: (text: string) => boolean, what: string): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = await adminScrape();
    if (check(text)) return text;
    if (Date.now() > deadline) throw new Error(`${what} not seen on /metrics within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** docs/operations.md's metric table: name and type of each row. */
function documentedMetrics(): { name: string; type: string }[] {
  const doc = fs.readFileSync(path.join(__dirname, '../../docs/operations.md'), 'utf8');
  return [...doc.matchAll(/^\| `(sluice_\w+)` \| (counter|gauge|histogram|summary) \|/gm)].map((m) => ({
    name: m[1],
    type: m[2],
  }));
}

async function openSubscription(client: GraphQLClient): Promise<void> {
  const { socket, ack } = await TestSocket.connect(server.url, client.token);
  sockets.push(socket);
  expect(ack).toBe('ack');
  socket.subscribe(PIPELINE_EVENTS, { p: pipelineName });
}

beforeAll(async () => {
  server = await startTestServer();
  admin = await platformAdmin(server);
  tenant = await newAccount(server, accountName);
  deniedUser = await userWithPolicy(server, tenant, undefined, userName);
  // Traffic of every kind: a mutation (whose execution the engine reconciles and whose source
  // job waits for a worker), a query, a denied call, an open subscription.
  await tenant.root.ok(CREATE_PIPELINE, { p: approvalPipeline(pipelineName) });
  await tenant.root.ok(GET_PIPELINE, { n: pipelineName });
  await deniedUser.fails(GET_PIPELINE, { n: pipelineName }, 'ACCESS_DENIED');
  await openSubscription(tenant.root);
  // No built-in worker runs Source/Archive: claim its job as an external worker would.
  await scrapeUntil((text) => (value(text, 'sluice_jobs_queued') ?? 0) >= 1, 'a queued job');
  const claimed = await server.app.services.jobs.claim([actionTypeKey(ARCHIVE)], 1, 'metrics-test');
  expect(claimed).toHaveLength(1);
}, 120_000);

afterAll(async () => {
  for (const socket of sockets) socket.close();
  await server?.stop();
});

describe('what /metrics serves', () => {
  it('serves every metric docs/operations.md lists, with its type, and none of Sluice’s it leaves out', async () => {
    const documented = documentedMetrics();
    expect(documented.length).toBeGreaterThan(20);
    const text = await scrapeUntil(
      (t) =>
        (value(t, 'sluice_engine_reconcile_duration_seconds_count') ?? 0) >= 1 &&
        (value(t, 'sluice_subscriptions_open', { kind: 'events' }) ?? 0) >= 1 &&
        (value(t, 'sluice_audit_flush_duration_seconds_count') ?? 0) >= 1,
      'reconciles, an open subscription and an audit batch',
    );
    const served = samples(text);
    for (const { name, type } of documented) {
      expect(text, name).toContain(`# TYPE ${name} ${type}\n`);
      const names = type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
      expect(
        served.some((s) => names.includes(s.name)),
        `${name} has no sample`,
      ).toBe(true);
    }
    // The other way round: anything Sluice adds besides prom-client's process metrics is documented.
    const withProcess = new Metrics({ processMetrics: true }).registry.getMetricsAsArray().map((m) => m.name);
    const ours = new Set(
      new Metrics({ processMetrics: false }).registry.getMetricsAsArray().map((m) => m.name),
    );
    const processMetrics = new Set(withProcess.filter((name) => !ours.has(name)));
    const servedNames = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
    const documentedNames = new Set(documented.map((m) => m.name));
    const undocumented = servedNames.filter(
      (name) => !processMetrics.has(name) && !documentedNames.has(name),
    );
    expect(undocumented).toEqual([]);
  });

  it('shows the traffic: a reconcile, a dispatched job, an open subscription, the pool', async () => {
    const text = await adminScrape();
    expect(value(text, 'sluice_job_dispatch_latency_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(
      value(text, 'sluice_engine_reconcile_duration_seconds_count', { outcome: 'ok' }),
    ).toBeGreaterThanOrEqual(1);
    expect(value(text, 'sluice_authorizer_cache_misses_total')).toBeGreaterThanOrEqual(1);
    expect(value(text, 'sluice_authorizer_cache_hits_total')).toBeGreaterThanOrEqual(1);
    expect(value(text, 'sluice_authorizer_load_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(value(text, 'sluice_audit_events_written_total')).toBeGreaterThanOrEqual(1);
    expect(value(text, 'sluice_db_pool_connections', { state: 'total' })).toBeGreaterThanOrEqual(1);
    expect(
      value(text, 'sluice_graphql_request_duration_seconds_count', {
        operation: 'pipelineEvents',
        type: 'subscription',
        outcome: 'ok',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      value(text, 'sluice_graphql_request_duration_seconds_count', {
        operation: 'createPipeline',
        type: 'mutation',
        outcome: 'ok',
      }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('counts a query under ok and a denied one under ACCESS_DENIED', async () => {
    const labels = { operation: 'pipeline', type: 'query' };
    const count = (text: string, outcome: string): number =>
      value(text, 'sluice_graphql_request_duration_seconds_count', { ...labels, outcome }) ?? 0;
    const before = await adminScrape();
    await tenant.root.ok(GET_PIPELINE, { n: pipelineName });
    await deniedUser.fails(GET_PIPELINE, { n: pipelineName }, 'ACCESS_DENIED');
    await deniedUser.fails(GET_PIPELINE, { n: pipelineName }, 'ACCESS_DENIED');
    const after = await adminScrape();
    expect(count(after, 'ok') - count(before, 'ok')).toBe(1);
    expect(count(after, 'ACCESS_DENIED') - count(before, 'ACCESS_DENIED')).toBe(2);
  });

  it('counts operations sent over WebSocket the same way', async () => {
    const count = (text: string, outcome: string): number =>
      value(text, 'sluice_graphql_request_duration_seconds_count', {
        operation: 'pipeline',
        type: 'query',
        outcome,
      }) ?? 0;
    const before = await adminScrape();
    const allowed = await wsRequest(
      server.url,
      { query: GET_PIPELINE, variables: { n: pipelineName } },
      tenant.root.token,
    );
    expect(allowed.errors).toBeUndefined();
    const refused = await wsRequest(
      server.url,
      { query: GET_PIPELINE, variables: { n: pipelineName } },
      deniedUser.token,
    );
    expect(refused.errors?.[0].extensions?.code).toBe('ACCESS_DENIED');
    const invalid = await wsRequest(server.url, { query: '{ pipeline }' }, tenant.root.token);
    expect(invalid.errors?.[0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const after = await adminScrape();
    expect(count(after, 'ok') - count(before, 'ok')).toBe(1);
    expect(count(after, 'ACCESS_DENIED') - count(before, 'ACCESS_DENIED')).toBe(1);
    const invalidCount = (text: string): number =>
      value(text, 'sluice_graphql_request_duration_seconds_count', {
        operation: 'unknown',
        outcome: 'GRAPHQL_VALIDATION_FAILED',
      }) ?? 0;
    expect(invalidCount(after) - invalidCount(before)).toBe(1);
  });

  it('labels operations by root field only, never by text the client chose', async () => {
    const before = await adminScrape();
    // An operation name and an alias of the client's choosing, several root fields, and a
    // document that does not validate.
    await tenant.root.ok(`query Chosen${marker} { x${marker}: pipeline(name: "${pipelineName}") { name } }`);
    await tenant.root.ok(`{ callerIdentity { arn } pipelines { nodes { name } } }`);
    await tenant.root.request(`{ noSuchField${marker} }`);
    const after = await adminScrape();
    expect(after).not.toContain(marker);
    const grew = (labels: Record<string, string>): number =>
      (value(after, 'sluice_graphql_request_duration_seconds_count', labels) ?? 0) -
      (value(before, 'sluice_graphql_request_duration_seconds_count', labels) ?? 0);
    expect(grew({ operation: 'pipeline', outcome: 'ok' })).toBe(1);
    expect(grew({ operation: 'multiple', type: 'query', outcome: 'ok' })).toBe(1);
    expect(grew({ operation: 'unknown', type: 'unknown', outcome: 'GRAPHQL_VALIDATION_FAILED' })).toBe(1);
  });

  it('carries no tenant data: no account id, account, pipeline or user name', async () => {
    const text = await adminScrape();
    for (const secret of [tenant.accountId, accountName, pipelineName, userName, marker])
      expect(text, secret).not.toContain(secret);
  });
});

describe('who may read /metrics on the main port', () => {
  it('asks for a token: 401 UNAUTHENTICATED without one or with one that does not verify', async () => {
    for (const token of [undefined, 'not-a-token']) {
      const result = await scrape(mainBase(server), token);
      expect(result.status).toBe(401);
      expect(result.contentType).toMatch(/^application\/json/);
      const body = JSON.parse(result.text) as { errors: { extensions: { code: string } }[] };
      expect(body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    }
  });

  it('refuses a tenant account, its root included, with 403 ACCESS_DENIED and a decisionId', async () => {
    for (const client of [tenant.root, deniedUser]) {
      const result = await scrape(mainBase(server), client.token);
      expect(result.status).toBe(403);
      const body = JSON.parse(result.text) as {
        errors: { extensions: { code: string; decisionId?: string; action?: string } }[];
      };
      expect(body.errors[0].extensions.code).toBe('ACCESS_DENIED');
      expect(body.errors[0].extensions.action).toBe('sluice:GetMetrics');
      expect(body.errors[0].extensions.decisionId).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('refuses a platform principal without sluice:GetMetrics, and lets one with it read', async () => {
    const platform: TestAccount = { accountId: '000000000000', rootPassword: '', root: admin };
    const without = await userWithPolicy(server, platform, {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'codepipeline:*', Resource: '*' }],
    });
    expect((await scrape(mainBase(server), without.token)).status).toBe(403);
    const scraper = await userWithPolicy(server, platform, {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'sluice:GetMetrics', Resource: '*' }],
    });
    const result = await scrape(mainBase(server), scraper.token);
    expect(result.status).toBe(200);
    expect(result.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('serves the platform admin (AdministratorAccess) in the Prometheus text format', async () => {
    const result = await scrape(mainBase(server), admin.token);
    expect(result.status).toBe(200);
    expect(result.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(result.text).toContain('# TYPE sluice_graphql_request_duration_seconds histogram');
  });
});

describe('SLUICE_METRICS_LISTEN', () => {
  let own: TestServer;
  beforeAll(async () => {
    own = await startTestServer({ SLUICE_METRICS_LISTEN: '127.0.0.1:0' });
  }, 60_000);
  afterAll(async () => {
    await own?.stop();
  });

  it('serves /metrics without a token on its own listener, and nothing else there', async () => {
    expect(own.app.metricsPort).toBeGreaterThan(0);
    const base = `http://127.0.0.1:${own.app.metricsPort}`;
    const result = await scrape(base);
    expect(result.status).toBe(200);
    expect(result.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(result.text).toContain('# TYPE sluice_db_pool_connections gauge');
    expect((await fetch(`${base}/graphql`)).status).toBe(404);
  });

  it('then answers 404 on the main port, even to the platform admin', async () => {
    const ownAdmin = await platformAdmin(own);
    const result = await scrape(mainBase(own), ownAdmin.token);
    expect(result.status).toBe(404);
    expect(JSON.parse(result.text)).toEqual({
      errors: [{ message: 'Not found', extensions: { code: 'NOT_FOUND' } }],
    });
  });
});
