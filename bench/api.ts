import {
  load,
  median,
  prepareAccount,
  report,
  startBareApiServer,
  startBenchServer,
  type BenchServer,
  type LoadResult,
} from './support/harness';

/**
 * Authenticated `pipeline(name)` reads at 32 concurrent connections, permission checks on and
 * off on the same server, and the same read through a bare server of the same libraries on
 * the same database (bench/support/bare-api-server.ts: the ceiling), alternating rounds so
 * machine noise hits all three alike.
 * Targets: ≥ 1,000 queries/s with checks on; on/off ratio ≥ 0.85 (issue 2); reads ≥ 0.8 of the
 * bare stack and p99 ≤ 2× its p99 (issue 10).
 */
const ROUNDS = 3;
const SECONDS = 5;
const CONNECTIONS = 32;

async function main(): Promise<void> {
  const server = await startBenchServer();
  let bare: BenchServer | undefined;
  try {
    const { readerToken: token, accountId } = await prepareAccount(server.url);
    bare = await startBareApiServer(server.databaseUrl, accountId);
    const body = JSON.stringify({ query: '{ pipeline(name: "bench") { name version declaration } }' });
    const run = (url = server.url): Promise<LoadResult> =>
      load({ url, body, token, connections: CONNECTIONS, seconds: SECONDS });

    await run(); // warm-up: JIT, connection pools, caches
    await run(bare.url);
    const on: LoadResult[] = [];
    const off: LoadResult[] = [];
    const ceiling: LoadResult[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      await server.send({ authorization: 'on' });
      on.push(await run());
      await server.send({ authorization: 'off' });
      off.push(await run());
      ceiling.push(await run(bare.url));
    }
    await server.send({ authorization: 'on' });
    const errors = [...on, ...off, ...ceiling].reduce((n, r) => n + r.errors, 0);
    const qpsBare = median(ceiling.map((r) => r.requestsPerSecond));
    const qpsOn = median(on.map((r) => r.requestsPerSecond));
    const qpsOff = median(off.map((r) => r.requestsPerSecond));
    report('api_pipeline_query_checks_on_throughput', qpsOn, 'queries/s');
    report('api_pipeline_query_checks_on_p50', median(on.map((r) => r.p50)), 'ms');
    report('api_pipeline_query_checks_on_p99', median(on.map((r) => r.p99)), 'ms');
    report('api_pipeline_query_checks_off_throughput', qpsOff, 'queries/s');
    report('api_pipeline_query_checks_off_p50', median(off.map((r) => r.p50)), 'ms');
    report('api_pipeline_query_checks_off_p99', median(off.map((r) => r.p99)), 'ms');
    report('api_checks_on_off_ratio', qpsOn / qpsOff, 'ratio');
    report('api_bare_stack_throughput', qpsBare, 'queries/s');
    report('api_bare_stack_p50', median(ceiling.map((r) => r.p50)), 'ms');
    report('api_bare_stack_p99', median(ceiling.map((r) => r.p99)), 'ms');
    report('api_ratio_to_bare_stack', qpsOn / qpsBare, 'ratio (target ≥ 0.8)');
    report(
      'api_p99_ratio_to_bare_stack',
      median(on.map((r) => r.p99)) / median(ceiling.map((r) => r.p99)),
      'ratio (target ≤ 2)',
    );
    report('api_errors', errors, 'responses');
  } finally {
    await bare?.stop();
    await server.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
