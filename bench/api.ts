import {
  graphql,
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
 * machine noise hits all three alike. Then the cheapest audited mutation, `tagResource` by a
 * user with a managed policy, against the bare server running the same statements in one
 * transaction, alternating likewise.
 * Targets: ≥ 1,000 queries/s with checks on; on/off ratio ≥ 0.85 (issue 2); reads ≥ 0.8 of the
 * bare stack and p99 ≤ 2× its p99; the mutation ≥ 0.6 of the bare stack's (issue 10).
 */
const ROUNDS = 3;
const SECONDS = 5;
const CONNECTIONS = 32;
const TAGGED_PIPELINES = 16;

/** Creates pipeline `name` with the declaration of the account's "bench" pipeline. */
async function copyPipeline(url: string, token: string, name: string): Promise<void> {
  const { pipeline } = await graphql<{ pipeline: { declaration: Record<string, unknown> } }>(
    url,
    '{ pipeline(name: "bench") { declaration } }',
    {},
    token,
  );
  await graphql(
    url,
    'mutation($p: PipelineDeclarationInput!) { createPipeline(pipeline: $p) { name } }',
    { p: { ...pipeline.declaration, name, version: undefined } },
    token,
  );
}

async function main(): Promise<void> {
  const server = await startBenchServer();
  let bare: BenchServer | undefined;
  try {
    const {
      readerToken: token,
      writerToken,
      rootToken,
      accountId,
      pipelineArn,
    } = await prepareAccount(server.url);
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

    // Tags spread over pipelines, as many callers tagging many resources: the writes of one
    // resource take turns (TagService), and one hot resource would measure only that lock.
    const tagged = Array.from({ length: TAGGED_PIPELINES }, (_, i) => `tagged-${i}`);
    for (const name of tagged) await copyPipeline(server.url, rootToken, name);
    const arnOf = (name: string): string => pipelineArn.replace(/:bench$/, `:${name}`);
    const tagBody = (n: number): string =>
      JSON.stringify({
        query:
          'mutation($a: String!) { tagResource(resourceArn: $a, tags: [{ key: "team", value: "bench" }]) }',
        variables: { a: arnOf(tagged[n % tagged.length]) },
      });
    const write = (url = server.url): Promise<LoadResult> =>
      load({
        url,
        body: tagBody,
        token: writerToken,
        connections: CONNECTIONS,
        seconds: SECONDS,
        expectBody: '{"data":{"tagResource":true}}\n',
      });
    await write();
    await write(bare.url);
    const writes: LoadResult[] = [];
    const bareWrites: LoadResult[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      writes.push(await write());
      bareWrites.push(await write(bare.url));
    }
    const mutationsPerSecond = median(writes.map((r) => r.requestsPerSecond));
    const bareMutationsPerSecond = median(bareWrites.map((r) => r.requestsPerSecond));
    report('api_tag_resource_throughput', mutationsPerSecond, 'mutations/s');
    report('api_tag_resource_p99', median(writes.map((r) => r.p99)), 'ms');
    report('api_bare_stack_tag_resource_throughput', bareMutationsPerSecond, 'mutations/s');
    report('api_bare_stack_tag_resource_p99', median(bareWrites.map((r) => r.p99)), 'ms');
    report(
      'api_mutation_ratio_to_bare_stack',
      mutationsPerSecond / bareMutationsPerSecond,
      'ratio (target ≥ 0.6)',
    );
    const writeErrors = [...writes, ...bareWrites].reduce((n, r) => n + r.errors, 0);
    report('api_errors', errors + writeErrors, 'responses');
  } finally {
    await bare?.stop();
    await server.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
