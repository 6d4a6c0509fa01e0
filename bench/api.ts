import { load, median, prepareAccount, report, startBenchServer, type LoadResult } from './support/harness';

/**
 * Authenticated `pipeline(name)` reads at 32 concurrent connections, permission checks on and
 * off on the same server, alternating rounds so machine noise hits both alike.
 * Targets (issue 2): ≥ 1,000 queries/s with checks on; on/off ratio ≥ 0.85.
 */
const ROUNDS = 3;
const SECONDS = 5;
const CONNECTIONS = 32;

async function main(): Promise<void> {
  const server = await startBenchServer();
  try {
    const { readerToken: token } = await prepareAccount(server.url);
    const body = JSON.stringify({ query: '{ pipeline(name: "bench") { name version declaration } }' });
    const run = (): Promise<LoadResult> =>
      load({ url: server.url, body, token, connections: CONNECTIONS, seconds: SECONDS });

    await run(); // warm-up: JIT, connection pools, caches
    const on: LoadResult[] = [];
    const off: LoadResult[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      await server.send({ authorization: 'on' });
      on.push(await run());
      await server.send({ authorization: 'off' });
      off.push(await run());
    }
    await server.send({ authorization: 'on' });
    const errors = [...on, ...off].reduce((n, r) => n + r.errors, 0);
    const qpsOn = median(on.map((r) => r.requestsPerSecond));
    const qpsOff = median(off.map((r) => r.requestsPerSecond));
    report('api_pipeline_query_checks_on_throughput', qpsOn, 'queries/s');
    report('api_pipeline_query_checks_on_p50', median(on.map((r) => r.p50)), 'ms');
    report('api_pipeline_query_checks_on_p99', median(on.map((r) => r.p99)), 'ms');
    report('api_pipeline_query_checks_off_throughput', qpsOff, 'queries/s');
    report('api_pipeline_query_checks_off_p50', median(off.map((r) => r.p50)), 'ms');
    report('api_pipeline_query_checks_off_p99', median(off.map((r) => r.p99)), 'ms');
    report('api_checks_on_off_ratio', qpsOn / qpsOff, 'ratio');
    report('api_errors', errors, 'responses');
  } finally {
    await server.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
