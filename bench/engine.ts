import fs from 'node:fs';
import { Client } from 'pg';
import { GitRepo } from '../test/support/git-repo';
import {
  type BenchServer,
  graphql,
  median,
  prepareAccount,
  report,
  startBenchServer,
} from './support/harness';

/**
 * The engine's own cost (issue 4), in one run:
 * (a) orchestration overhead of a 3-stage pipeline (git source, two `true` shell actions):
 *     start → SUCCEEDED minus the actions' own run time (each job from its acknowledgement
 *     to its result, as the worker ran it), from the database's timestamps — p50/p99 over 200
 *     executions run one after another (target p50 ≤ 100 ms); every other execution runs with
 *     the outbox switched off (issue 8), and `engine_outbox_ratio` is the median overhead
 *     without it over the median with it (target ≥ 0.9);
 * (b) throughput: SUCCEEDED executions/s of a 2-stage no-op pipeline under 64 concurrent
 *     starts (target ≥ 30/s);
 * (c) the sandbox's cost per action (issue 7): one server per SLUICE_SANDBOX mode (none,
 *     bwrap, uid; the modes this machine cannot run are left out), a one-command Build/Shell
 *     action run on each in turn, round after round; `sandbox_extra_ms_<mode>` is the median
 *     of the action's own run time (job acknowledged → result) in that mode minus the median
 *     with `none` (BENCH_SANDBOX_ROUNDS rounds, default 40; BENCH_ENGINE_ONLY=sandbox runs
 *     this part alone).
 */
const SEQUENTIAL = Number(process.env.BENCH_ENGINE_RUNS ?? 200);
const CONCURRENT = 64;
const BURSTS = Number(process.env.BENCH_ENGINE_BURSTS ?? 3);
const SANDBOX_ROUNDS = Number(process.env.BENCH_SANDBOX_ROUNDS ?? 40);

const git = { category: 'Source', owner: 'Sluice', provider: 'Git', version: '1' };
const shell = (category: string): Record<string, string> => ({
  category,
  owner: 'Sluice',
  provider: 'Shell',
  version: '1',
});

function declaration(name: string, repo: string, stages: 2 | 3, mode: string): Record<string, unknown> {
  const build = (stage: string, category: string): Record<string, unknown> => ({
    name: stage,
    actions: [
      {
        name: stage,
        actionTypeId: shell(category),
        configuration: { Commands: 'true' },
        inputArtifacts: [{ name: 'Src' }],
      },
    ],
  });
  return {
    name,
    executionMode: mode,
    stages: [
      {
        name: 'Source',
        actions: [
          {
            name: 'Checkout',
            actionTypeId: git,
            configuration: { RepositoryUrl: repo, BranchName: 'main' },
            outputArtifacts: [{ name: 'Src' }],
          },
        ],
      },
      build('Build', 'Build'),
      ...(stages === 3 ? [build('Test', 'Test')] : []),
    ],
  };
}

async function waitAll(
  db: Client,
  accountId: string,
  pipeline: string,
  ids: string[],
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await db.query(
      `SELECT count(*) FILTER (WHERE status IN ('IN_PROGRESS', 'STOPPING')) AS active,
              count(*) FILTER (WHERE status <> 'SUCCEEDED' AND status NOT IN ('IN_PROGRESS', 'STOPPING')) AS bad
         FROM pipeline_executions WHERE account_id = $1 AND pipeline_name = $2 AND id = ANY($3)`,
      [accountId, pipeline, ids],
    );
    if (Number(rows[0].bad) > 0) throw new Error(`${rows[0].bad} executions of ${pipeline} did not succeed`);
    if (Number(rows[0].active) === 0) return;
    if (Date.now() > deadline)
      throw new Error(`executions of ${pipeline} still running after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function main(): Promise<void> {
  const repo = GitRepo.create({ README: 'bench\n' }).dir;
  const server = await startBenchServer({
    SLUICE_WORKER_CONCURRENCY: process.env.SLUICE_WORKER_CONCURRENCY ?? '8',
  });
  const db = new Client({ connectionString: server.databaseUrl });
  await db.connect();
  try {
    const account = await prepareAccount(server.url);
    const token = account.rootToken;
    const create = `mutation($p: PipelineDeclarationInput!) { createPipeline(pipeline: $p) { name } }`;
    const start = `mutation($n: String!) { startPipelineExecution(name: $n) { pipelineExecutionId } }`;

    // (a) one at a time through three stages.
    await graphql(server.url, create, { p: declaration('three', repo, 3, 'QUEUED') }, token);
    const first = await db.query(
      `SELECT id FROM pipeline_executions WHERE account_id = $1 AND pipeline_name = 'three'`,
      [account.accountId],
    );
    await waitAll(db, account.accountId, 'three', [first.rows[0].id]);
    const totals: number[] = [];
    const owns: number[] = [];
    const withoutOutbox: number[] = [];
    for (let i = 0; i < 2 * SEQUENTIAL; i++) {
      // Alternating, so both arms see the same machine: odd runs write no events.
      const outbox = i % 2 === 0 ? 'on' : 'off';
      await server.send({ outbox });
      const { startPipelineExecution } = await graphql<{
        startPipelineExecution: { pipelineExecutionId: string };
      }>(server.url, start, { n: 'three' }, token);
      const id = startPipelineExecution.pipelineExecutionId;
      await waitAll(db, account.accountId, 'three', [id]);
      // Start → SUCCEEDED, and the actions' own run time (acknowledged → result, as the
      // worker ran them); the stages run one after another, so their run times add up.
      const { rows } = await db.query(
        `SELECT extract(epoch FROM (p.updated_at - p.started_at)) * 1000 AS total,
                (SELECT sum(extract(epoch FROM (j.run_finished_at - j.run_started_at)) * 1000)
                   FROM jobs j JOIN action_executions a ON a.account_id = j.account_id AND a.id = j.action_execution_id
                  WHERE a.account_id = p.account_id AND a.pipeline_execution_id = p.id) AS own
           FROM pipeline_executions p WHERE p.account_id = $1 AND p.id = $2`,
        [account.accountId, id],
      );
      if (outbox === 'off') {
        withoutOutbox.push(Number(rows[0].total) - Number(rows[0].own));
        continue;
      }
      totals.push(Number(rows[0].total));
      owns.push(Number(rows[0].own));
    }
    await server.send({ outbox: 'on' });
    const overheads = totals.map((t, i) => t - owns[i]).sort((x, y) => x - y);
    report('engine_three_stage_total_p50', median(totals), 'ms');
    report('engine_actions_own_time_p50', median(owns), 'ms');
    report('engine_orchestration_overhead_p50', median(overheads), 'ms');
    report(
      'engine_orchestration_overhead_p99',
      overheads[Math.min(overheads.length - 1, Math.ceil(overheads.length * 0.99) - 1)],
      'ms',
    );
    report('engine_orchestration_overhead_p50_without_outbox', median(withoutOutbox), 'ms');
    report('engine_outbox_ratio', median(withoutOutbox) / median(overheads), '');

    // (b) bursts of 64 concurrent starts of a 2-stage no-op pipeline.
    await graphql(server.url, create, { p: declaration('burst', repo, 2, 'PARALLEL') }, token);
    const created = await db.query(
      `SELECT id FROM pipeline_executions WHERE account_id = $1 AND pipeline_name = 'burst'`,
      [account.accountId],
    );
    await waitAll(db, account.accountId, 'burst', [created.rows[0].id]);
    const rates: number[] = [];
    for (let b = 0; b < BURSTS; b++) {
      const started = performance.now();
      const ids = await Promise.all(
        Array.from(
          { length: CONCURRENT },
          async () =>
            (
              await graphql<{ startPipelineExecution: { pipelineExecutionId: string } }>(
                server.url,
                start,
                { n: 'burst' },
                token,
              )
            ).startPipelineExecution.pipelineExecutionId,
        ),
      );
      await waitAll(db, account.accountId, 'burst', ids);
      rates.push(CONCURRENT / ((performance.now() - started) / 1000));
    }
    report('engine_burst_throughput', median(rates), 'executions/s');
  } finally {
    await db.end();
    await server.stop();
    fs.rmSync(repo, { recursive: true, force: true });
  }
}

/** (c): a Build/Shell action's own run time per sandbox mode, rounds alternating between modes. */
async function sandboxCost(): Promise<void> {
  const repo = GitRepo.create({ README: 'bench\n' }).dir;
  const modes = ['none', 'bwrap', 'uid'] as const;
  const servers: Array<{ mode: string; server: BenchServer; db: Client; token: string; accountId: string }> =
    [];
  try {
    for (const mode of modes) {
      let server: BenchServer;
      try {
        server = await startBenchServer({ SLUICE_SANDBOX: mode, SLUICE_WORKER_CONCURRENCY: '2' });
      } catch (error) {
        process.stderr.write(`sandbox mode ${mode} is not available here: ${String(error)}\n`);
        continue;
      }
      const db = new Client({ connectionString: server.databaseUrl });
      await db.connect();
      const account = await prepareAccount(server.url);
      servers.push({ mode, server, db, token: account.rootToken, accountId: account.accountId });
      await graphql(
        server.url,
        `
          mutation ($p: PipelineDeclarationInput!) {
            createPipeline(pipeline: $p) {
              name
            }
          }
        `,
        { p: declaration('sandboxed', repo, 2, 'QUEUED') },
        account.rootToken,
      );
      const first = await db.query(
        `SELECT id FROM pipeline_executions WHERE account_id = $1 AND pipeline_name = 'sandboxed'`,
        [account.accountId],
      );
      await waitAll(db, account.accountId, 'sandboxed', [first.rows[0].id]);
    }
    const runTimes = new Map<string, number[]>(servers.map(({ mode }) => [mode, []]));
    for (let round = 0; round < SANDBOX_ROUNDS; round++) {
      for (const { mode, server, db, token, accountId } of servers) {
        const { startPipelineExecution } = await graphql<{
          startPipelineExecution: { pipelineExecutionId: string };
        }>(
          server.url,
          `
            mutation {
              startPipelineExecution(name: "sandboxed") {
                pipelineExecutionId
              }
            }
          `,
          {},
          token,
        );
        const id = startPipelineExecution.pipelineExecutionId;
        await waitAll(db, accountId, 'sandboxed', [id]);
        const { rows } = await db.query(
          `SELECT extract(epoch FROM (j.run_finished_at - j.run_started_at)) * 1000 AS own
             FROM jobs j JOIN action_executions a ON a.account_id = j.account_id AND a.id = j.action_execution_id
            WHERE a.account_id = $1 AND a.pipeline_execution_id = $2 AND a.stage_name = 'Build'`,
          [accountId, id],
        );
        runTimes.get(mode)?.push(Number(rows[0].own));
      }
    }
    const base = runTimes.get('none');
    if (!base?.length) throw new Error('the none mode did not run');
    report('sandbox_action_ms_none', median(base), 'ms');
    for (const mode of ['bwrap', 'uid']) {
      const times = runTimes.get(mode);
      if (times?.length) report(`sandbox_extra_ms_${mode}`, median(times) - median(base), 'ms');
    }
  } finally {
    for (const { server, db } of servers) {
      await db.end();
      await server.stop();
    }
    fs.rmSync(repo, { recursive: true, force: true });
  }
}

// BENCH_ENGINE_ONLY=sandbox runs (c) alone.
(process.env.BENCH_ENGINE_ONLY === 'sandbox' ? Promise.resolve() : main())
  .then(sandboxCost)
  .catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
