import fs from 'node:fs';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { GitRepo } from '../test/support/git-repo';
import {
  graphql,
  prepareAccount,
  report,
  startBareWsServer,
  startBenchServer,
  type BenchServer,
} from './support/harness';

/**
 * Live events and logs (issue 8), in one run, against one server process:
 * (a) fan-out: SUBSCRIBERS graphql-ws clients (default 2,000) subscribed to one pipeline's
 *     events; the server commits an event to the outbox every EVENT_INTERVAL_MS and notes the
 *     moment its transaction committed; each client notes when the event reached it. Latency
 *     commit → client, p50 and p99 over every (client, event) pair (targets p50 ≤ 20 ms,
 *     p99 ≤ 150 ms). The events go through the real path: outbox row → sequencer → each
 *     instance's feed → per-subscriber permission re-check → graphql-ws.
 * (b) idle: IDLE_SUBSCRIPTIONS subscriptions (default 10,000) held open, server memory after a
 *     full collection minus memory before, per subscription (target ≤ 20 KB): one subscription
 *     per connection, the costliest way to hold them.
 * (c) logs: a Build/Shell action writes LOG_BYTES_PER_SECOND (default 1 MB/s) of lines for
 *     LOG_SECONDS, each line stamped with the time it was written; a subscriber of
 *     actionExecutionLogs notes when each line arrived: p50 and p99 line latency (target p99
 *     ≤ 250 ms).
 * (a') the same fan-out through bench/support/bare-ws-server.ts first (the `ws` library alone,
 *     no database, GraphQL or permission check): the floor of this machine's loopback with the
 *     load generator beside it, `events_bare_ws_*`, and `events_delivery_p50_ratio_to_bare_ws`.
 * The outbox's cost on the engine is measured by bench/engine.ts (engine_outbox_ratio).
 */
const SUBSCRIBERS = Number(process.env.BENCH_EVENTS_SUBSCRIBERS ?? 2000);
const EVENTS = Number(process.env.BENCH_EVENTS_COUNT ?? 60);
const EVENT_INTERVAL_MS = Number(process.env.BENCH_EVENTS_INTERVAL_MS ?? 250);
const IDLE_SUBSCRIPTIONS = Number(process.env.BENCH_EVENTS_IDLE ?? 10_000);
const LOG_BYTES_PER_SECOND = Number(process.env.BENCH_LOG_BYTES_PER_SECOND ?? 1_000_000);
const LOG_SECONDS = Number(process.env.BENCH_LOG_SECONDS ?? 10);

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))];
}

function wsClient(server: BenchServer, token: string): Client {
  return createClient({
    url: server.url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: true,
    retryAttempts: 0,
    keepAlive: 0,
  });
}

async function until(condition: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

interface Subscriber {
  socket: WebSocket;
  /** benchId → arrival time. */
  arrivals: Map<number, number>;
  errors: string[];
  /** The server acknowledged the connection and the subscribe went out. */
  subscribed: boolean;
  close(): Promise<void>;
}

const BENCH_ID = /"benchId":(-?\d+)/;

/**
 * One subscriber on a raw graphql-transport-ws socket: the load generator shares the two cores
 * with the server, so each arrival costs it a string match, not a full client's parsing and
 * validation (graphql-ws's client did about as much work per message as the server).
 */
function rawSubscriber(server: BenchServer, token: string, query: string): Subscriber {
  const socket = new WebSocket(server.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
  const subscriber: Subscriber = {
    socket,
    arrivals: new Map(),
    errors: [],
    subscribed: false,
    close: () =>
      new Promise<void>((resolve) => {
        if (socket.readyState === WebSocket.CLOSED) return resolve();
        socket.once('close', () => resolve());
        socket.close();
      }),
  };
  socket.on('open', () =>
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })),
  );
  socket.on('message', (raw: Buffer) => {
    const at = now();
    const text = raw.toString();
    const id = BENCH_ID.exec(text);
    if (id) {
      subscriber.arrivals.set(Number(id[1]), at);
      return;
    }
    if (text.includes('"connection_ack"')) {
      socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
      subscriber.subscribed = true;
    } else if (text.includes('"errors"') || text.includes('"error"'))
      subscriber.errors.push(text.slice(0, 300));
  });
  socket.on('close', (code, reason) => {
    if (code !== 1000 && code !== 1005) subscriber.errors.push(`closed ${code} ${reason.toString()}`);
  });
  socket.on('error', (err) => subscriber.errors.push(err.message));
  return subscriber;
}

/** Subscribes `count` clients (each its own connection) to the pipeline's events, in waves. */
async function subscribe(server: BenchServer, token: string, count: number): Promise<Subscriber[]> {
  const query = 'subscription { pipelineEvents(pipelineName: "bench") { sequence state detail } }';
  const subscribers: Subscriber[] = [];
  for (let i = 0; i < count; i++) {
    subscribers.push(rawSubscriber(server, token, query));
    // In waves, each acknowledged before the next: a burst of thousands of connects overflows
    // the listen backlog, and the kernel resets what it cannot queue.
    if (i % 200 === 199 || i === count - 1) {
      const wave = subscribers.slice(-200);
      await until(() => wave.every((s) => s.subscribed || s.errors.length > 0), 'a wave of connections');
    }
  }
  return subscribers;
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  const close = err as { code?: number; reason?: string };
  if (typeof close?.code === 'number') return `closed ${close.code} ${close.reason ?? ''}`;
  return JSON.stringify(err);
}

async function emit(server: BenchServer, accountId: string, benchId: number): Promise<number> {
  const answer = (await server.send({ emit: { accountId, pipelineName: 'bench', benchId } })) as {
    committedAt?: number;
    error?: string;
  };
  if (answer.committedAt === undefined) throw new Error(`emit failed: ${answer.error}`);
  return answer.committedAt;
}

/** Emits warm-up events until every subscriber has one: then every subscription is live. */
async function allLive(server: BenchServer, accountId: string, subscribers: Subscriber[]): Promise<void> {
  const deadline = Date.now() + 180_000;
  for (let warm = -1; ; warm--) {
    await emit(server, accountId, warm);
    const start = Date.now();
    while (Date.now() - start < 2000) {
      if (subscribers.every((s) => s.arrivals.size > 0)) return;
      await sleep(50);
    }
    const failed = subscribers.find((s) => s.errors.length);
    if (failed) throw new Error(`a subscriber failed: ${failed.errors[0]}`);
    if (Date.now() > deadline) {
      const live = subscribers.filter((s) => s.arrivals.size > 0).length;
      throw new Error(`only ${live} of ${subscribers.length} subscriptions became live`);
    }
  }
}

async function fanOut(
  server: BenchServer,
  accountId: string,
  token: string,
  prefix = 'events',
): Promise<number> {
  const subscribers = await subscribe(server, token, SUBSCRIBERS);
  try {
    await allLive(server, accountId, subscribers);
    const committed = new Map<number, number>();
    for (let id = 1; id <= EVENTS; id++) {
      committed.set(id, await emit(server, accountId, id));
      await sleep(EVENT_INTERVAL_MS);
    }
    await until(
      () => subscribers.every((s) => s.arrivals.has(EVENTS) || s.errors.length > 0),
      'the last event at every subscriber',
    );
    const latencies: number[] = [];
    let missing = 0;
    for (const s of subscribers) {
      for (const [id, at] of committed) {
        const arrival = s.arrivals.get(id);
        if (arrival === undefined) missing += 1;
        else latencies.push(arrival - at);
      }
    }
    latencies.sort((a, b) => a - b);
    report(`${prefix}_fanout_subscribers`, SUBSCRIBERS, 'subscribers');
    report(`${prefix}_fanout_events`, EVENTS, 'events');
    report(`${prefix}_delivery_latency_p50`, percentile(latencies, 0.5), 'ms');
    report(`${prefix}_delivery_latency_p99`, percentile(latencies, 0.99), 'ms');
    report(`${prefix}_delivery_latency_max`, latencies[latencies.length - 1], 'ms');
    report(`${prefix}_missed_deliveries`, missing, 'deliveries');
    report(`${prefix}_subscriber_errors`, subscribers.filter((s) => s.errors.length).length, 'subscribers');
    return percentile(latencies, 0.5);
  } finally {
    await Promise.all(subscribers.map((s) => s.close()));
  }
}

async function idle(server: BenchServer, accountId: string, token: string): Promise<void> {
  await sleep(1000); // the fan-out's connections are gone
  const memory = async (): Promise<NodeJS.MemoryUsage> =>
    ((await server.send({ memory: true })) as { memory: NodeJS.MemoryUsage }).memory;
  const before = await memory();
  const subscribers = await subscribe(server, token, IDLE_SUBSCRIPTIONS);
  try {
    await allLive(server, accountId, subscribers);
    const after = await memory();
    const perSubscription = (bytes: number): number => bytes / IDLE_SUBSCRIPTIONS / 1024;
    report('events_idle_subscriptions', IDLE_SUBSCRIPTIONS, 'subscriptions');
    report('events_idle_rss_per_subscription', perSubscription(after.rss - before.rss), 'KB');
    report(
      'events_idle_heap_per_subscription',
      perSubscription(after.heapUsed + after.external - before.heapUsed - before.external),
      'KB',
    );
  } finally {
    await Promise.all(subscribers.map((s) => s.close()));
  }
}

/** A node one-liner the Build action runs: lines of `<epoch ms> <padding>` at the given rate. */
function logWriter(): string {
  const line = 100;
  const perTick = Math.max(1, Math.round(LOG_BYTES_PER_SECOND / line / 100)); // every 10 ms
  return [
    'node -e "',
    `const pad='x'.repeat(${line - 16});let n=0;const end=Date.now()+${LOG_SECONDS * 1000};`,
    "const t=setInterval(()=>{let s='';",
    `for(let i=0;i<${perTick};i++)s+=String(Date.now()).padEnd(14)+pad+'\\n';`,
    'process.stdout.write(s);if(Date.now()>end)clearInterval(t);},10);"',
  ].join('');
}

async function logs(server: BenchServer, token: string, rootToken: string): Promise<void> {
  const repo = GitRepo.create({ README: 'bench\n' }).dir;
  try {
    const declaration = {
      name: 'logs',
      stages: [
        {
          name: 'Source',
          actions: [
            {
              name: 'Checkout',
              actionTypeId: { category: 'Source', owner: 'Sluice', provider: 'Git', version: '1' },
              configuration: { RepositoryUrl: repo, BranchName: 'main' },
              outputArtifacts: [{ name: 'Src' }],
            },
          ],
        },
        {
          name: 'Build',
          actions: [
            {
              name: 'Build',
              actionTypeId: { category: 'Build', owner: 'Sluice', provider: 'Shell', version: '1' },
              configuration: { Commands: logWriter() },
              inputArtifacts: [{ name: 'Src' }],
            },
          ],
        },
      ],
    };
    await graphql(
      server.url,
      'mutation($p: PipelineDeclarationInput!) { createPipeline(pipeline: $p) { name } }',
      { p: declaration },
      rootToken,
    );
    // The Build action's execution id, once it runs.
    const actionQuery = `{ actionExecutions(pipelineName: "logs") { nodes { actionExecutionId stageName status } } }`;
    let actionId: string | undefined;
    const deadline = Date.now() + 120_000;
    while (!actionId) {
      const data = await graphql<{
        actionExecutions: { nodes: { actionExecutionId: string; stageName: string; status: string }[] };
      }>(server.url, actionQuery, {}, token);
      actionId = data.actionExecutions.nodes.find((n) => n.stageName === 'Build')?.actionExecutionId;
      if (Date.now() > deadline) throw new Error('the Build action did not start');
      if (!actionId) await sleep(20);
    }
    const latencies: number[] = [];
    let bytes = 0;
    let partial = '';
    const client = wsClient(server, token);
    try {
      await new Promise<void>((resolve, reject) => {
        client.subscribe<{ actionExecutionLogs: { offset: number; text: string } }>(
          {
            query: `subscription($a: ID!) { actionExecutionLogs(pipelineName: "logs", actionExecutionId: $a) { offset text } }`,
            variables: { a: actionId },
          },
          {
            next: (result) => {
              const chunk = result.data?.actionExecutionLogs;
              if (!chunk) return reject(new Error(JSON.stringify(result.errors)));
              const at = now();
              bytes += Buffer.byteLength(chunk.text);
              const lines = (partial + chunk.text).split('\n');
              partial = lines.pop() ?? '';
              for (const l of lines) {
                const stamp = Number(l.slice(0, 14).trim());
                if (Number.isFinite(stamp) && stamp > 1e12) latencies.push(at - stamp);
              }
            },
            error: (err: unknown) => reject(new Error(describe(err))),
            complete: () => resolve(),
          },
        );
      });
    } finally {
      await client.dispose();
    }
    latencies.sort((a, b) => a - b);
    report('events_log_bytes_streamed', bytes, 'bytes');
    report('events_log_rate', bytes / LOG_SECONDS / 1e6, 'MB/s');
    report('events_log_line_latency_p50', percentile(latencies, 0.5), 'ms');
    report('events_log_line_latency_p99', percentile(latencies, 0.99), 'ms');
  } finally {
    fs.rmSync(repo, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const server = await startBenchServer({ SLUICE_WORKER_CONCURRENCY: '2' }, ['--expose-gc']);
  try {
    const account = await prepareAccount(server.url);
    const only = process.env.BENCH_EVENTS_ONLY;
    if (!only || only === 'fanout') {
      // The floor first: the same sockets and messages through a bare `ws` server.
      const bare = await startBareWsServer();
      let bareP50: number;
      try {
        bareP50 = await fanOut(bare, account.accountId, '', 'events_bare_ws');
      } finally {
        await bare.stop();
      }
      const p50 = await fanOut(server, account.accountId, account.readerToken);
      report('events_delivery_p50_ratio_to_bare_ws', p50 / bareP50, '');
    }
    if (!only || only === 'idle') await idle(server, account.accountId, account.readerToken);
    if (!only || only === 'logs') await logs(server, account.readerToken, account.rootToken);
  } finally {
    await server.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
