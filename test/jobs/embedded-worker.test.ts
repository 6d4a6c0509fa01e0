import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactStore } from '../../src/artifacts/artifact-store';
import { actionTypeKey, JOBS_CHANNEL } from '../../src/engine/engine-signals';
import {
  ActionFailure,
  type ActionJobContext,
  type ActionProvider,
  type ActionResult,
  type ActionTypeKey,
} from '../../src/engine/providers/provider';
import { ShellProvider } from '../../src/engine/providers/shell';
import { SandboxHost } from '../../src/engine/sandbox/sandbox-host';
import { EmbeddedWorker, type EmbeddedWorkerOptions } from '../../src/jobs/embedded-worker';
import { JobQueue } from '../../src/jobs/job-queue';
import { createDataSource } from '../../src/platform/db/database';
import { Notifications } from '../../src/platform/db/notifications';
import { createLogger } from '../../src/platform/logger';
import { freshDatabase } from '../support/database';
import {
  actionRecord,
  eventually,
  expireLeases,
  insertJob,
  jobRecord,
  seedExecution,
  shellType,
  type ActionRecord,
  type JobSpec,
  type SeededExecution,
  type SeededJob,
} from './job-fixtures';

let ds: DataSource;
let queue: JobQueue;
let notifications: Notifications;
let store: ArtifactStore;
let root: string;
let sandbox: SandboxHost;
let exec: SeededExecution;
const logger = createLogger('silent');
const workers: EmbeddedWorker[] = [];

beforeAll(async () => {
  const url = await freshDatabase();
  ds = createDataSource(url, 10);
  await ds.initialize();
  queue = new JobQueue(ds);
  notifications = new Notifications(url, logger);
  await notifications.start();
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'sluice-worker-test-'));
  store = new ArtifactStore(path.join(root, 'artifacts'));
  // The strongest sandbox this machine has, as `sluice serve` would pick it.
  sandbox = await SandboxHost.create({
    setting: 'auto',
    uidBase: 1_900_000_000,
    slots: 8,
    workRoot: path.join(root, 'work'),
  });
  exec = await seedExecution(ds);
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((worker) => worker.stop()));
});

afterAll(async () => {
  await notifications?.close();
  await ds?.destroy();
  if (root) await fsp.rm(root, { recursive: true, force: true });
});

function startWorker(options: Partial<EmbeddedWorkerOptions> = {}): EmbeddedWorker {
  const worker = new EmbeddedWorker({
    queue,
    providers: [new ShellProvider('Build')],
    artifacts: store,
    notifications,
    sandbox,
    concurrency: 2,
    logger,
    ...options,
  });
  workers.push(worker);
  worker.start();
  return worker;
}

/** Inserts a job and sends the NOTIFY the engine sends when it queues one. */
async function enqueue(spec: JobSpec = {}): Promise<SeededJob> {
  const job = await insertJob(ds, exec, spec);
  await ds.query('SELECT pg_notify($1, $2)', [JOBS_CHANNEL, actionTypeKey(spec.type ?? shellType)]);
  return job;
}

function ended(job: SeededJob, timeoutMs = 15_000): Promise<ActionRecord> {
  return eventually(
    async () => {
      const action = await actionRecord(ds, exec.accountId, job.actionExecutionId);
      return action.status === 'IN_PROGRESS' ? undefined : action;
    },
    timeoutMs,
    'the action to end',
  );
}

async function logOf(job: SeededJob): Promise<string> {
  return (await queue.readLog(exec.accountId, job.actionExecutionId, 0, 1024 * 1024)).text;
}

/** Live processes whose command line is exactly `argv`. */
function processesRunning(argv: string[]): number {
  const wanted = argv.join('\0');
  let count = 0;
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0$/, '') === wanted) count += 1;
    } catch {
      // gone meanwhile
    }
  }
  return count;
}

/** A provider for tests: runs `body`, counting how many of its runs overlap. */
class ProbeProvider implements ActionProvider {
  readonly type: ActionTypeKey;
  active = 0;
  maxActive = 0;
  runs = 0;

  constructor(
    name: string,
    private readonly body: (ctx: ActionJobContext) => Promise<ActionResult>,
  ) {
    this.type = { category: 'Test', owner: 'Custom', provider: name, version: '1' };
  }

  async run(ctx: ActionJobContext): Promise<ActionResult> {
    this.runs += 1;
    this.active += 1;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      return await this.body(ctx);
    } finally {
      this.active -= 1;
    }
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new Error('aborted'));
    });
  });

describe('EmbeddedWorker', () => {
  it('runs a Build/Sluice/Shell/1 job end to end: output stored and recorded, logs stored', async () => {
    startWorker();
    const job = await enqueue({
      configuration: { Commands: 'echo hi && mkdir -p out && echo x > out/f' },
      outputs: ['BuildOutput'],
    });
    const action = await ended(job);
    expect(action).toMatchObject({ status: 'SUCCEEDED', failure_type: null });
    expect((await jobRecord(ds, exec.accountId, job.jobId)).status).toBe('SUCCEEDED');

    const [artifact] = await ds.query(
      `SELECT sha256, size_bytes, produced_by FROM execution_artifacts
        WHERE account_id = $1 AND pipeline_execution_id = $2 AND name = 'BuildOutput'`,
      [exec.accountId, exec.pipelineExecutionId],
    );
    expect(artifact.produced_by).toBe('Compile');
    expect(Number(artifact.size_bytes)).toBe(await store.sizeOf(artifact.sha256));
    const unpacked = path.join(root, 'check-output');
    await store.extractTo(artifact.sha256, unpacked);
    expect(await fsp.readFile(path.join(unpacked, 'out/f'), 'utf8')).toBe('x\n');

    const log = await logOf(job);
    expect(log).toMatch(/^hi$/m);
    expect(log).toContain('Phase complete: BUILD State: SUCCEEDED');
    const page = await queue.readLog(exec.accountId, job.actionExecutionId, 0, 1024 * 1024);
    expect(page.complete).toBe(true);
    // The attempt's folder goes once the job has ended (the work root keeps the sandbox's own files).
    await eventually(
      async () =>
        (await fsp.readdir(path.join(root, 'work'))).some((name) => name.startsWith(job.jobId))
          ? undefined
          : true,
      5_000,
      "the attempt's folder to be removed",
    );
  });

  it('unpacks verified inputs for the provider, and fails the job when an input does not verify', async () => {
    startWorker();
    const source = path.join(root, 'source');
    await fsp.mkdir(source, { recursive: true });
    await fsp.writeFile(path.join(source, 'input.txt'), 'from the input\n');
    const stored = await store.putDirectory(source, { maxBytes: 1024 * 1024 });
    const good = await enqueue({
      configuration: { Commands: 'cat input.txt' },
      inputs: [{ name: 'Src', sha256: stored.sha256, sizeBytes: stored.sizeBytes }],
    });
    expect((await ended(good)).status).toBe('SUCCEEDED');
    expect(await logOf(good)).toContain('from the input');

    const missing = await enqueue({
      configuration: { Commands: 'cat input.txt' },
      inputs: [{ name: 'Src', sha256: 'f'.repeat(64), sizeBytes: 1 }],
    });
    expect(await ended(missing)).toMatchObject({
      status: 'FAILED',
      failure_type: 'JOB_FAILED',
      failure_message: `Artifact sha256:${'f'.repeat(64)} is not in the artifact store`,
    });
  });

  it('fails the action with the command failure message', async () => {
    startWorker();
    const job = await enqueue({ configuration: { Commands: 'echo before\nexit 3' } });
    const action = await ended(job);
    expect(action.status).toBe('FAILED');
    expect(action.failure_type).toBe('JOB_FAILED');
    expect(action.failure_message).toBe('Command "exit 3" exited with code 3 in phase BUILD');
    expect(await logOf(job)).toContain('before');
    expect((await jobRecord(ds, exec.accountId, job.jobId)).status).toBe('FAILED');
  });

  it("reports a provider's own failure type, and any other error as JOB_FAILED with its message only", async () => {
    const probe = new ProbeProvider('Errors', async (ctx) => {
      if (ctx.configuration.Mode === 'typed')
        throw new ActionFailure('CONFIGURATION_ERROR', 'Url is missing');
      throw new TypeError('Cannot read properties of undefined');
    });
    startWorker({ providers: [probe] });
    const typed = await enqueue({ type: probe.type, configuration: { Mode: 'typed' } });
    const plain = await enqueue({ type: probe.type });
    expect(await ended(typed)).toMatchObject({
      failure_type: 'CONFIGURATION_ERROR',
      failure_message: 'Url is missing',
    });
    expect(await ended(plain)).toMatchObject({
      failure_type: 'JOB_FAILED',
      failure_message: 'Cannot read properties of undefined',
    });
  });

  it('fails the action when the provider leaves a declared output unproduced', async () => {
    const probe = new ProbeProvider('NoOutput', async () => ({ outputVariables: {} }));
    startWorker({ providers: [probe] });
    const job = await enqueue({ type: probe.type, outputs: ['Out'] });
    expect(await ended(job)).toMatchObject({
      status: 'FAILED',
      failure_message: 'The action did not produce its output artifact "Out"',
    });
  });

  it('kills a running `sleep` promptly when its action is abandoned', async () => {
    startWorker();
    const argv = ['sleep', '30.4242'];
    const job = await enqueue({ configuration: { Commands: argv.join(' ') } });
    await eventually(async () => (processesRunning(argv) > 0 ? true : undefined), 10_000, 'sleep to start');
    const started = Date.now();
    // What the engine does on stop-and-abandon.
    await ds.transaction(async (tx) => {
      await tx.query(`UPDATE action_executions SET status = 'ABANDONED' WHERE id = $1`, [
        job.actionExecutionId,
      ]);
      await queue.requestCancel(tx, exec.accountId, job.actionExecutionId);
    });
    await eventually(
      async () => ((await jobRecord(ds, exec.accountId, job.jobId)).status === 'FAILED' ? true : undefined),
      8_000,
      'the job to end',
    );
    // Well under the 10 s heartbeat: the cancellation NOTIFY woke the worker.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(processesRunning(argv)).toBe(0);
    expect((await actionRecord(ds, exec.accountId, job.actionExecutionId)).status).toBe('ABANDONED');
  });

  it('never runs more jobs at once than its concurrency, and runs them all', async () => {
    const probe = new ProbeProvider('Concurrency', async () => {
      await sleep(60);
      return { outputVariables: {} };
    });
    const worker = startWorker({ providers: [probe], concurrency: 3 });
    let maxHeld = 0;
    const sampler = setInterval(() => (maxHeld = Math.max(maxHeld, worker.activeJobs)), 5);
    try {
      const jobs = [];
      for (let i = 0; i < 15; i++) jobs.push(await enqueue({ type: probe.type }));
      for (const job of jobs) expect((await ended(job)).status).toBe('SUCCEEDED');
    } finally {
      clearInterval(sampler);
    }
    expect(probe.runs).toBe(15);
    expect(probe.maxActive).toBe(3);
    expect(maxHeld).toBeLessThanOrEqual(3);
  });

  it('is woken by NOTIFY, not by its poll', async () => {
    const probe = new ProbeProvider('Wake', async () => ({ outputVariables: { At: String(Date.now()) } }));
    startWorker({ providers: [probe], pollMs: 60_000 });
    await sleep(200);
    const queued = Date.now();
    const job = await enqueue({ type: probe.type });
    const action = await ended(job, 5_000);
    expect(Number(action.output_variables.At) - queued).toBeLessThan(500);
  });

  it('stops claiming on stop(), and aborts what still runs after the grace period without reporting', async () => {
    let aborted = false;
    const probe = new ProbeProvider('Stop', async (ctx) => {
      await sleep(30_000, ctx.signal).catch(() => (aborted = true));
      throw new Error('stopped');
    });
    const worker = startWorker({ providers: [probe], stopGraceMs: 200 });
    const job = await enqueue({ type: probe.type });
    await eventually(async () => (probe.active > 0 ? true : undefined), 5_000, 'the job to start');
    const started = Date.now();
    await worker.stop();
    // Well short of the provider's 30 s sleep: stop() waited only its grace period.
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(aborted).toBe(true);
    // Not reported: the job stays held until its lease expires, then runs again elsewhere.
    expect((await jobRecord(ds, exec.accountId, job.jobId)).status).toBe('IN_PROGRESS');
    expect((await actionRecord(ds, exec.accountId, job.actionExecutionId)).status).toBe('IN_PROGRESS');
    const other = await enqueue({ type: probe.type });
    await sleep(300);
    expect((await jobRecord(ds, exec.accountId, other.jobId)).status).toBe('QUEUED');
  });

  it('gives up a job whose lease was lost and reports nothing for it', async () => {
    let sawAbort = false;
    const probe: ProbeProvider = new ProbeProvider('Lease', async (ctx): Promise<ActionResult> => {
      if (probe.runs === 1) {
        await sleep(30_000, ctx.signal).catch(() => (sawAbort = true));
        return { outputVariables: { Attempt: '1' } };
      }
      return { outputVariables: { Attempt: String(probe.runs) } };
    });
    startWorker({ providers: [probe], heartbeatSeconds: 0.1 });
    const job = await enqueue({ type: probe.type });
    await eventually(async () => (probe.active > 0 ? true : undefined), 5_000, 'the job to start');
    // The worker looked dead: the sweeper queues the job again, fencing out the first attempt.
    await expireLeases(ds, exec.accountId, [job.jobId]);
    expect(await queue.recoverExpiredLeases()).toBe(1);
    const action = await ended(job);
    await eventually(async () => (sawAbort ? true : undefined), 5_000, 'the first attempt to be aborted');
    expect(action).toMatchObject({ status: 'SUCCEEDED', output_variables: { Attempt: '2' } });
    expect((await jobRecord(ds, exec.accountId, job.jobId)).attempt).toBe(2);
  });

  it('caps the log at maxLogBytes with a notice', async () => {
    const probe = new ProbeProvider('Log', async (ctx) => {
      for (let i = 0; i < 100; i++) ctx.log(`line ${i} ${'x'.repeat(40)}\n`);
      return { outputVariables: {} };
    });
    startWorker({ providers: [probe], limits: { maxLogBytes: 1024 } });
    const job = await enqueue({ type: probe.type });
    expect((await ended(job)).status).toBe('SUCCEEDED');
    const log = await logOf(job);
    expect(Buffer.byteLength(log)).toBeLessThanOrEqual(1024);
    expect(log).toMatch(/^line 0 /);
    expect(log).toContain('[Sluice] Log truncated');
  });
});
