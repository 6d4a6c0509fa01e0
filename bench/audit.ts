import { Client } from 'pg';
import {
  graphql,
  load,
  median,
  prepareAccount,
  report,
  startBenchServer,
  type LoadResult,
} from './support/harness';

/**
 * What the audit trail costs, in one run (issue 3):
 * - authenticated reads/s with auditing on vs off (target ratio ≥ 0.9);
 * - mutations/s with the in-transaction audit row vs off (target ratio ≥ 0.9);
 * - auditEvents look-ups by principal and by resource with 1,000,000 events stored
 *   (target p99 ≤ 50 ms).
 * On and off alternate on the same server so machine noise hits both alike.
 */
const ROUNDS = 4;
const SECONDS = 5;
const CONNECTIONS = 32;
const EVENTS = Number(process.env.BENCH_AUDIT_EVENTS ?? 1_000_000);
const LOOKUPS = 300;

/** Rounds in A-B-B-A order after a warm-up of both, so drift (caches, table growth) hits both alike. */
async function alternate(
  send: (m: object) => Promise<void>,
  run: () => Promise<LoadResult>,
): Promise<{ on: LoadResult[]; off: LoadResult[] }> {
  await send({ audit: 'off' });
  await run();
  await send({ audit: 'on' });
  await run();
  const results = { on: [] as LoadResult[], off: [] as LoadResult[] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const mode of i % 2 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
      await send({ audit: mode });
      results[mode].push(await run());
    }
  }
  await send({ audit: 'on' });
  return results;
}

function ratios(name: string, unit: string, r: { on: LoadResult[]; off: LoadResult[] }): void {
  const on = median(r.on.map((x) => x.requestsPerSecond));
  const off = median(r.off.map((x) => x.requestsPerSecond));
  report(`${name}_on_throughput`, on, unit);
  report(`${name}_off_throughput`, off, unit);
  report(`${name}_on_off_ratio`, on / off, 'ratio');
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Fills the account's trail with synthetic events: 200 principals, 2,000 resources. */
async function fill(databaseUrl: string, accountId: string, count: number): Promise<void> {
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    // Hold the account's chain head: requests still in flight keep appending meanwhile.
    await db.query('BEGIN');
    // Synthetic rows go in behind the triggers (the chain head may only move one event at a
    // time, through audit_append); the bench connects as the embedded superuser.
    await db.query('SET LOCAL session_replication_role = replica');
    const [{ last }] = (
      await db.query('SELECT last_seq AS last FROM audit_chain_heads WHERE account_id = $1 FOR UPDATE', [
        accountId,
      ])
    ).rows as { last: string }[];
    const start = Number(last) + 1;
    const chunk = 100_000;
    for (let from = start; from < start + count; from += chunk) {
      const to = Math.min(from + chunk, start + count) - 1;
      await db.query(
        `INSERT INTO audit_events (account_id, seq, event_id, event_time, event_name, read_only, principal_arn, error_code, event, prev_hash, hash)
         SELECT $1::text, s, gen_random_uuid(), now() - make_interval(secs => ($3::bigint - s)::float8),
                (ARRAY['GetPipeline','UpdatePipeline','ListPipelines','StartPipelineExecution'])[1 + s % 4], s % 4 <> 1,
                'arn:sluice:iam::' || $1::text || ':user/u' || (s % 200), NULL,
                jsonb_build_object('eventVersion', '1.08', 'eventID', gen_random_uuid(), 'eventTime', now(),
                  'eventSource', 'codepipeline.sluice', 'eventName', 'GetPipeline', 'readOnly', true,
                  'userIdentity', jsonb_build_object('type', 'IAMUser', 'arn', 'arn:sluice:iam::' || $1::text || ':user/u' || (s % 200)),
                  'sourceIPAddress', '127.0.0.1', 'userAgent', 'bench', 'requestParameters', jsonb_build_object('name', 'p' || (s % 2000)),
                  'responseElements', NULL, 'errorCode', NULL, 'errorMessage', NULL, 'requestID', gen_random_uuid(),
                  'recipientAccountId', $1::text,
                  'resources', jsonb_build_array(jsonb_build_object('ARN', 'arn:sluice:codepipeline:local:' || $1::text || ':p' || (s % 2000),
                    'accountId', $1::text, 'type', 'Sluice::CodePipeline::Pipeline')))::json,
                md5(s::text) || md5(s::text), md5(s::text) || md5((s + 1)::text)
           FROM generate_series($2::bigint, $4::bigint) s`,
        [accountId, from, start + count, to],
      );
      await db.query(
        `INSERT INTO audit_event_resources (account_id, resource_arn, seq)
         SELECT $1::text, 'arn:sluice:codepipeline:local:' || $1::text || ':p' || (s % 2000), s FROM generate_series($2::bigint, $3::bigint) s`,
        [accountId, from, to],
      );
    }
    // New events continue after the synthetic ones.
    await db.query('UPDATE audit_chain_heads SET last_seq = $2, last_hash = $3 WHERE account_id = $1', [
      accountId,
      start + count - 1,
      'f'.repeat(64),
    ]);
    await db.query('COMMIT');
    await db.query('ANALYZE audit_events');
    await db.query('ANALYZE audit_event_resources');
  } finally {
    await db.end();
  }
}

async function timeLookups(url: string, token: string, filter: (i: number) => object): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < LOOKUPS; i++) {
    const started = performance.now();
    const data = await graphql<{ auditEvents: { nodes: unknown[] } }>(
      url,
      `
        query ($f: AuditEventFilter) {
          auditEvents(filter: $f, first: 50) {
            nodes {
              eventId
              eventName
              eventTime
            }
            pageInfo {
              hasNextPage
              endCursor
            }
          }
        }
      `,
      { f: filter(i) },
      token,
    );
    times.push(performance.now() - started);
    if (!data.auditEvents.nodes.length) throw new Error('a look-up found nothing: the bench data is wrong');
  }
  return times;
}

async function main(): Promise<void> {
  const server = await startBenchServer();
  try {
    const account = await prepareAccount(server.url);
    const send = async (m: object): Promise<void> => {
      await server.send(m);
    };

    // Reads: the same query as bench/api.ts, by a user reading through a managed policy.
    const read = JSON.stringify({ query: '{ pipeline(name: "bench") { name version declaration } }' });
    const reads = await alternate(send, () =>
      load({
        url: server.url,
        body: read,
        token: account.readerToken,
        connections: CONNECTIONS,
        seconds: SECONDS,
      }),
    );
    ratios('audit_reads', 'queries/s', reads);

    // The cheapest write there is — a new IAM group, one small row — so the audit row weighs
    // the most against it: the worst case.
    let round = 0;
    const groups = await alternate(send, () => {
      round++;
      return load({
        url: server.url,
        body: (n) =>
          JSON.stringify({
            query: 'mutation($g: String!) { createGroup(groupName: $g) { groupName } }',
            variables: { g: `g-${round}-${n}` },
          }),
        token: account.rootToken,
        connections: CONNECTIONS,
        seconds: SECONDS,
      });
    });
    ratios('audit_mutations_create_group', 'mutations/s', groups);

    // A typical write: a pipeline update (validation, a new version row), spread over 64
    // pipelines so that row locks do not serialise the load.
    const { declaration } = (
      await graphql<{ pipeline: { declaration: Record<string, unknown> } }>(
        server.url,
        '{ pipeline(name: "bench") { declaration } }',
        {},
        account.rootToken,
      )
    ).pipeline;
    const copies = Array.from({ length: 64 }, (_, i) => `bench-${i}`);
    for (const name of copies) {
      await graphql(
        server.url,
        'mutation($p: PipelineDeclarationInput!) { createPipeline(pipeline: $p) { name } }',
        { p: { ...declaration, name, version: null } },
        account.rootToken,
      );
    }
    const updates = await alternate(send, () =>
      load({
        url: server.url,
        body: (n) =>
          JSON.stringify({
            query: 'mutation($p: PipelineDeclarationInput!) { updatePipeline(pipeline: $p) { version } }',
            variables: { p: { ...declaration, name: copies[n % copies.length], version: null } },
          }),
        token: account.rootToken,
        connections: CONNECTIONS,
        seconds: SECONDS,
      }),
    );
    ratios('audit_mutations_update_pipeline', 'mutations/s', updates);
    report(
      'audit_load_errors',
      [reads, groups, updates].flatMap((r) => [...r.on, ...r.off]).reduce((n, r) => n + r.errors, 0),
      'responses',
    );

    // Look-ups among a million events.
    const filled = Date.now();
    await fill(server.databaseUrl, account.accountId, EVENTS);
    report('audit_fill_events', EVENTS, 'events');
    report('audit_fill_time', (Date.now() - filled) / 1000, 's');
    const byPrincipal = await timeLookups(server.url, account.rootToken, (i) => ({
      principalArn: `arn:sluice:iam::${account.accountId}:user/u${(i * 7) % 200}`,
    }));
    report('audit_lookup_by_principal_p50', percentile(byPrincipal, 50), 'ms');
    report('audit_lookup_by_principal_p99', percentile(byPrincipal, 99), 'ms');
    const byResource = await timeLookups(server.url, account.rootToken, (i) => ({
      resourceArn: `arn:sluice:codepipeline:local:${account.accountId}:p${(i * 13) % 2000}`,
    }));
    report('audit_lookup_by_resource_p50', percentile(byResource, 50), 'ms');
    report('audit_lookup_by_resource_p99', percentile(byResource, 99), 'ms');
  } finally {
    await server.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
