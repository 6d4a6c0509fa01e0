import { randomBytes } from 'node:crypto';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ArtifactStore } from '../artifacts/artifact-store';
import { actionTypeKey, JOBS_CHANNEL } from '../engine/engine-signals';
import { formatDuration } from '../engine/providers/process-group';
import {
  ActionFailure,
  type ActionJobContext,
  type ActionProvider,
  type ActionResult,
} from '../engine/providers/provider';
import { findProvider } from '../engine/providers/registry';
import type { JobSandbox } from '../engine/sandbox/job-sandbox';
import type { SandboxHost } from '../engine/sandbox/sandbox-host';
import type { Notifications } from '../platform/db/notifications';
import { DomainError } from '../platform/errors';
import type { Logger } from '../platform/logger';
import type { ClaimedJob, JobBroker, JobFailure, JobSuccessResult } from './job-data';
import { StaleJobError } from './job-errors';
import { JobLogWriter } from './job-log-writer';
import { JOB_CANCEL_CHANNEL } from './job-queue';

export interface WorkerLimits {
  /** Largest log of one action execution (DESIGN §10). */
  maxLogBytes: number;
  /** Largest artifact zip (DESIGN §10 `artifactSize`). */
  maxArtifactBytes: number;
}

export const defaultWorkerLimits: WorkerLimits = {
  maxLogBytes: 10 * 1024 * 1024,
  maxArtifactBytes: 5 * 1024 * 1024 * 1024,
};

export interface EmbeddedWorkerOptions {
  queue: JobBroker;
  providers: readonly ActionProvider[];
  artifacts: ArtifactStore;
  /** Wakes the worker when a job is queued or cancelled; without it, it only polls. */
  notifications?: Notifications;
  /**
   * Runs every job's processes isolated (SLUICE_SANDBOX); each attempt works in
   * `<sandbox.workRoot>/<jobId>-<attempt>/`, removed afterwards.
   */
  sandbox: SandboxHost;
  /** Jobs run at once, at most (SLUICE_WORKER_CONCURRENCY). */
  concurrency: number;
  logger: Logger;
  limits?: Partial<WorkerLimits>;
  /** Must be well under the queue's lease (60 s by default). */
  heartbeatSeconds?: number;
  /** How long `stop()` lets running jobs finish before it aborts them. */
  stopGraceMs?: number;
  /** Safety-net poll, for notifications missed or never sent. */
  pollMs?: number;
  /** How long a provider may take to return once aborted, before its slot is freed anyway. */
  abortGraceMs?: number;
  workerId?: string;
}

/** Why a running job was aborted; the first reason wins. */
type StopReason = 'cancelled' | 'lease-lost' | 'timeout' | 'shutdown';

interface RunningJob {
  job: ClaimedJob;
  /** The job slot it holds: its uid, with slot uids. */
  slot: number;
  controller: AbortController;
  stopReason?: StopReason;
  /** Heartbeats now (no-op if one is in flight). */
  beat(): void;
  done: Promise<void>;
}

type Outcome = { kind: 'succeeded'; result: JobSuccessResult } | { kind: 'failed'; failure: JobFailure };

/**
 * Between the log flushes of a running job (and once more at its end): a line printed by a
 * build reaches a log subscriber within about this long (the bench target is p99 ≤ 250 ms).
 */
const logFlushMs = 100;
/** The worker's own deadline comes this long after the action's timeout, as a backstop. */
const timeoutBackstopMs = 5_000;
const artifactNamePattern = /^[A-Za-z0-9_-]{1,100}$/;

/**
 * The server's own worker (DESIGN §7): claims the jobs of the action types its providers
 * implement, up to `concurrency` at once, and runs them in this process through the same
 * broker interface a remote `sluice worker` uses.
 *
 * Waking: a NOTIFY on JOBS_CHANNEL naming one of its types, a slot freeing up, and a poll
 * every second as a safety net; never a fixed delay on the way to a queued job. Only one
 * claim is in flight at a time and it asks for the free slots only, so the number of jobs
 * held never exceeds `concurrency`.
 *
 * Per job: acknowledge; unpack and verify the inputs; run the provider with a heartbeat
 * every `heartbeatSeconds` (which carries cancellation; JOB_CANCEL_CHANNEL makes it happen at
 * once) and the log flushed every `logFlushMs`; store the outputs; report. An aborted job never
 * reports success: cancelled → a failure (its action already ended, so nothing changes);
 * lease lost → nothing (the attempt is no longer ours).
 *
 * Stop: claims cease at once; running jobs get `stopGraceMs` (10 s) to finish, then are
 * aborted and report nothing, so the sweeper queues them again when their lease expires and
 * another worker runs them (at-least-once: a job's action may run twice).
 */
export class EmbeddedWorker {
  readonly workerId: string;
  private readonly actionTypes: string[];
  private readonly limits: WorkerLimits;
  private readonly heartbeatMs: number;
  private readonly logger: Logger;
  private readonly running = new Map<string, RunningJob>();
  /** Job slots not held by a running job. */
  private readonly freeSlots: number[];
  /** Slots whose leftovers from before this process (a crash) were removed. */
  private readonly sweptSlots = new Set<number>();
  private state: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';
  private polling: Promise<void> | undefined;
  private pollAgain = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private listening = false;

  constructor(private readonly options: EmbeddedWorkerOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new Error(`Worker concurrency must be a positive integer, not ${options.concurrency}`);
    }
    if (options.concurrency > options.sandbox.slots) {
      throw new Error(
        `Worker concurrency ${options.concurrency} exceeds the sandbox's ${options.sandbox.slots} job slots`,
      );
    }
    this.workerId =
      options.workerId ?? `embedded:${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.actionTypes = [...new Set(options.providers.map((provider) => actionTypeKey(provider.type)))];
    this.limits = { ...defaultWorkerLimits, ...options.limits };
    this.heartbeatMs = (options.heartbeatSeconds ?? 10) * 1000;
    this.logger = options.logger.child({ component: 'embedded-worker', workerId: this.workerId });
    this.freeSlots = Array.from({ length: options.concurrency }, (_, index) => index);
  }

  /** Jobs held right now (claimed and not yet finished). */
  get activeJobs(): number {
    return this.running.size;
  }

  start(): void {
    if (this.state !== 'idle') throw new Error('The worker was already started');
    this.state = 'running';
    const { notifications } = this.options;
    if (notifications && !this.listening) {
      this.listening = true;
      notifications.on(JOBS_CHANNEL, (actionType) => {
        if (actionType === '' || this.actionTypes.includes(actionType)) this.wake();
      });
      notifications.on(JOB_CANCEL_CHANNEL, (payload) => {
        const [accountId, jobId] = payload.split('|');
        const entry = this.running.get(jobId);
        if (entry && entry.job.accountId === accountId) entry.beat();
      });
      // Whatever was sent while the connection was down is lost: look at everything again.
      notifications.onReconnect(() => {
        this.wake();
        for (const entry of this.running.values()) entry.beat();
      });
    }
    this.pollTimer = setInterval(() => this.wake(), this.options.pollMs ?? 1000);
    this.pollTimer.unref();
    this.logger.info(
      { actionTypes: this.actionTypes, concurrency: this.options.concurrency },
      'worker started',
    );
    this.wake();
  }

  /** Stops claiming, lets running jobs finish for `stopGraceMs`, then aborts the rest. */
  async stop(): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'stopping';
    clearInterval(this.pollTimer);
    await this.polling;
    const graceMs = this.options.stopGraceMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      Promise.all([...this.running.values()].map((entry) => entry.done)).then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
    ]);
    clearTimeout(timer);
    if (!finished) {
      this.logger.warn({ jobs: [...this.running.keys()] }, 'stopping: aborting jobs still running');
      for (const entry of this.running.values()) this.abort(entry, 'shutdown');
    }
    await Promise.all([...this.running.values()].map((entry) => entry.done));
    this.state = 'stopped';
  }

  /** Claims now (or once more right after the claim in flight). */
  wake(): void {
    if (this.state !== 'running') return;
    if (this.polling) {
      this.pollAgain = true;
      return;
    }
    this.polling = this.claimFreeSlots()
      .catch((err: unknown) => this.logger.warn({ err }, 'claiming jobs failed'))
      .finally(() => {
        this.polling = undefined;
        if (this.pollAgain) {
          this.pollAgain = false;
          this.wake();
        }
      });
  }

  private async claimFreeSlots(): Promise<void> {
    for (;;) {
      const free = this.options.concurrency - this.running.size;
      if (free <= 0 || this.state !== 'running') return;
      const jobs = await this.options.queue.claim(this.actionTypes, free, this.workerId);
      for (const job of jobs) this.launch(job);
      if (jobs.length < free) return;
    }
  }

  /** Registers the job synchronously (the slot is taken before the next claim is sized). */
  private launch(job: ClaimedJob): void {
    let beating = false;
    const slot = this.freeSlots.shift();
    if (slot === undefined) throw new Error('No free job slot (claims never exceed the free slots)');
    const entry: RunningJob = {
      job,
      slot,
      controller: new AbortController(),
      beat: () => {
        if (beating || entry.stopReason === 'lease-lost') return;
        beating = true;
        this.options.queue
          .heartbeat(job.accountId, job.id, job.nonce)
          .then(
            (heartbeat) => {
              if (heartbeat.cancelRequested) this.abort(entry, 'cancelled');
            },
            (err: unknown) => {
              if (err instanceof StaleJobError) this.abort(entry, 'lease-lost');
              else this.logger.warn({ err, jobId: job.id }, 'heartbeat failed; retrying at the next one');
            },
          )
          .finally(() => (beating = false));
      },
      done: Promise.resolve(),
    };
    this.running.set(job.id, entry);
    entry.done = this.runJob(entry).finally(() => {
      this.running.delete(job.id);
      this.freeSlots.push(slot);
      this.wake();
    });
  }

  private abort(entry: RunningJob, reason: StopReason): void {
    if (entry.stopReason) return;
    entry.stopReason = reason;
    entry.controller.abort(new Error(`job stopped: ${reason}`));
  }

  private async runJob(entry: RunningJob): Promise<void> {
    const { job } = entry;
    const { queue } = this.options;
    const logger = this.logger.child({
      jobId: job.id,
      attempt: job.attempt,
      actionType: actionTypeKey(job.data.actionTypeId),
    });
    const root = path.join(this.options.sandbox.workRoot, `${job.id}-${job.attempt}`);
    const sandbox = this.options.sandbox.forJob(entry.slot, attemptFolders(root));
    let heartbeatTimer: NodeJS.Timeout | undefined;
    let flushTimer: NodeJS.Timeout | undefined;
    let backstopTimer: NodeJS.Timeout | undefined;
    try {
      const status = await queue.acknowledge(job.accountId, job.id, job.nonce);
      if (status !== 'IN_PROGRESS') {
        logger.info({ status }, 'job ended before it started (cancelled)');
        return;
      }
      // What an earlier job of this slot left running goes first; what a process before this
      // one left anywhere (a crash), on the slot's first job. Each job's end cleans up after it.
      if (this.sweptSlots.has(entry.slot)) await sandbox.killAll();
      else {
        await sandbox.reset();
        this.sweptSlots.add(entry.slot);
      }
      heartbeatTimer = setInterval(entry.beat, this.heartbeatMs);
      const log = new JobLogWriter(
        (offset, text) => queue.appendLog(job.accountId, job.id, job.nonce, offset, text),
        job.logOffset,
        Math.max(0, this.limits.maxLogBytes - job.logOffset),
        this.limits.maxLogBytes,
      );
      flushTimer = setInterval(() => {
        log.flush().catch((err: unknown) => this.onLogError(entry, err, logger));
      }, logFlushMs);
      const timeoutMs = job.data.timeoutMinutes * 60_000;
      // Clamped: setTimeout fires at once for delays past 2^31 - 1 ms (about 24.8 days).
      backstopTimer = setTimeout(
        () => this.abort(entry, 'timeout'),
        Math.min(timeoutMs + timeoutBackstopMs, 2 ** 31 - 1),
      );

      let outcome: Outcome;
      try {
        outcome = { kind: 'succeeded', result: await this.execute(entry, root, sandbox, log, timeoutMs) };
      } catch (error) {
        outcome = { kind: 'failed', failure: this.failureOf(error, entry, timeoutMs) };
      }
      clearInterval(flushTimer);
      clearTimeout(backstopTimer);
      // The log is complete before the result is: a reader that sees the action ended has it all.
      await log.close().catch((err: unknown) => this.onLogError(entry, err, logger));
      await this.report(entry, outcome, logger);
    } catch (error) {
      if (error instanceof StaleJobError)
        logger.warn({ err: error.message }, 'the job was lost (lease expired)');
      else logger.error({ err: error }, 'running the job failed');
    } finally {
      clearInterval(heartbeatTimer);
      clearInterval(flushTimer);
      clearTimeout(backstopTimer);
      await sandbox
        .reset()
        .catch((err: unknown) => logger.warn({ err }, "could not end the job's processes"));
      await fsp.rm(root, { recursive: true, force: true }).catch((err: unknown) => {
        logger.warn({ err, root }, "could not remove the job's folder");
      });
    }
  }

  /** Unpacks the inputs, runs the provider, stores the outputs. Throws on any failure. */
  private async execute(
    entry: RunningJob,
    root: string,
    sandbox: JobSandbox,
    log: JobLogWriter,
    timeoutMs: number,
  ): Promise<JobSuccessResult> {
    const { job, controller } = entry;
    const { data } = job;
    const provider = findProvider(this.options.providers, data.actionTypeId);
    if (!provider) {
      throw new ActionFailure(
        'CONFIGURATION_ERROR',
        `This worker has no provider for ${actionTypeKey(data.actionTypeId)}`,
      );
    }
    for (const artifact of [...data.inputArtifacts, ...data.outputArtifacts]) {
      // Names become folder names: nothing but what a declaration allows reaches the disk.
      if (!artifactNamePattern.test(artifact.name)) {
        throw new ActionFailure('CONFIGURATION_ERROR', `"${artifact.name}" is not a valid artifact name`);
      }
    }
    const folders = attemptFolders(root);
    const { workDir, outputDir, inputDir, controlDir, reportDir } = folders;
    await fsp.rm(root, { recursive: true, force: true });
    // The attempt's own folder is the server's (0711): the job cannot rename or replace the
    // folders in it, so the server always reads and writes the folders it made.
    await fsp.mkdir(root, { recursive: true });
    await fsp.chmod(root, 0o711);
    for (const dir of [workDir, outputDir, inputDir, reportDir]) await fsp.mkdir(dir, { mode: 0o700 });
    await fsp.mkdir(controlDir, { mode: 0o755 });

    const inputArtifacts = [];
    for (const input of data.inputArtifacts) {
      const dir = path.join(inputDir, input.name);
      // Verifies the zip's hash before unpacking: ArtifactIntegrityError is an ActionFailure.
      await this.options.artifacts.extractTo(input.sha256, dir);
      inputArtifacts.push({ name: input.name, path: dir });
    }
    for (const dir of [workDir, outputDir, inputDir, reportDir]) await sandbox.handOver(dir);
    if (controller.signal.aborted) throw new Error('stopped before it started');

    const context: ActionJobContext = {
      jobId: job.id,
      accountId: job.accountId,
      pipelineName: data.pipelineContext.pipelineName,
      stageName: data.pipelineContext.stage,
      actionName: data.pipelineContext.action,
      pipelineExecutionId: data.pipelineContext.pipelineExecutionId,
      actionExecutionId: data.pipelineContext.actionExecutionId,
      configuration: data.actionConfiguration,
      inputArtifacts,
      outputArtifactNames: data.outputArtifacts.map((output) => output.name),
      workDir,
      controlDir,
      reportDir,
      sandbox,
      outputDir,
      timeoutMs,
      signal: controller.signal,
      log: (text) => log.write(text),
      limits: {
        maxLogBytes: Math.max(0, this.limits.maxLogBytes - job.logOffset),
        maxArtifactBytes: this.limits.maxArtifactBytes,
      },
    };
    const result = await this.runProvider(provider, context);
    // No process of the job may change its outputs while the server packs them.
    await sandbox.killAll();
    if (controller.signal.aborted) throw new Error('stopped');

    const outputArtifacts: JobSuccessResult['outputArtifacts'] = [];
    for (const name of context.outputArtifactNames) {
      const dir = path.join(outputDir, name);
      // lstat: an output the job made a symlink (to the data folder, say) is not packed.
      const stat = await fsp.lstat(dir).catch(() => undefined);
      if (!stat?.isDirectory()) {
        throw new ActionFailure('JOB_FAILED', `The action did not produce its output artifact "${name}"`);
      }
      const stored = await this.options.artifacts.putDirectory(dir, {
        maxBytes: this.limits.maxArtifactBytes,
        name,
      });
      if (stored.skippedSymlinks.length) {
        log.write(
          `[Sluice] Left out of artifact "${name}" (symlinks leading outside it, or special files): ` +
            `${stored.skippedSymlinks.join(', ')}\n`,
        );
      }
      outputArtifacts.push({ name, sha256: stored.sha256, sizeBytes: stored.sizeBytes });
    }
    if (controller.signal.aborted) throw new Error('stopped');
    return {
      outputVariables: result.outputVariables,
      summary: result.summary,
      externalExecutionId: result.externalExecutionId,
      revision: result.revision && {
        revisionId: result.revision.revisionId,
        revisionSummary: result.revision.revisionSummary,
      },
      outputArtifacts,
    };
  }

  /**
   * The provider's result; once aborted, it gets `abortGraceMs` to return, after which the
   * slot is freed anyway (a provider that ignores its signal must not hold a slot forever).
   */
  private runProvider(provider: ActionProvider, context: ActionJobContext): Promise<ActionResult> {
    const run = Promise.resolve().then(() => provider.run(context));
    const graceMs = this.options.abortGraceMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const abandoned = new Promise<never>((_resolve, reject) => {
      onAbort = () => {
        timer = setTimeout(
          () =>
            reject(new Error(`The provider did not stop within ${formatDuration(graceMs)} of being told to`)),
          graceMs,
        );
      };
      if (context.signal.aborted) onAbort();
      else context.signal.addEventListener('abort', onAbort, { once: true });
    });
    run.catch(() => undefined);
    return Promise.race([run, abandoned]).finally(() => {
      clearTimeout(timer);
      if (onAbort) context.signal.removeEventListener('abort', onAbort);
    });
  }

  private failureOf(error: unknown, entry: RunningJob, timeoutMs: number): JobFailure {
    if (entry.stopReason === 'timeout') {
      return { type: 'JOB_FAILED', message: `The action timed out after ${formatDuration(timeoutMs)}` };
    }
    if (error instanceof ActionFailure) return { type: error.type, message: error.message };
    // A message, never a stack: it is shown to whoever may read the pipeline.
    return { type: 'JOB_FAILED', message: error instanceof Error ? error.message : String(error) };
  }

  /**
   * Reports the outcome, retrying what may be a passing database error (results are
   * idempotent). A success the queue refuses (a limit, a conflicting artifact) becomes a
   * failure saying why.
   */
  private async report(entry: RunningJob, outcome: Outcome, logger: Logger): Promise<void> {
    const { job } = entry;
    const { queue } = this.options;
    if (entry.stopReason === 'lease-lost' || entry.stopReason === 'shutdown') {
      logger.info({ reason: entry.stopReason }, 'job aborted; not reporting (its lease will expire)');
      return;
    }
    let failure: JobFailure | undefined;
    if (entry.stopReason === 'cancelled') failure = { type: 'JOB_FAILED', message: 'The job was cancelled' };
    else if (outcome.kind === 'failed') failure = outcome.failure;
    else {
      const result = outcome.result;
      try {
        const recorded = await this.retrying(() => queue.succeed(job.accountId, job.id, job.nonce, result));
        logger.info({ recorded }, 'job succeeded');
        return;
      } catch (error) {
        if (!(error instanceof DomainError) || error instanceof StaleJobError) throw error;
        failure = { type: 'JOB_FAILED', message: error.message };
      }
    }
    const recorded = await this.retrying(() => queue.fail(job.accountId, job.id, job.nonce, failure));
    logger.info({ recorded, failureType: failure.type }, 'job failed');
  }

  private async retrying<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        if (error instanceof DomainError || attempt >= 5) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** (attempt - 1)));
      }
    }
  }

  private onLogError(entry: RunningJob, err: unknown, logger: Logger): void {
    if (err instanceof StaleJobError) this.abort(entry, 'lease-lost');
    else logger.warn({ err }, 'storing log output failed');
  }
}

/**
 * One attempt's folders under its root: `work`, `out`, `in` (inputs) and `report` are the
 * job's (its uid's, 0700); `control` holds what the server writes for the job to read.
 */
function attemptFolders(root: string) {
  const folders = {
    workDir: path.join(root, 'work'),
    outputDir: path.join(root, 'out'),
    inputDir: path.join(root, 'in'),
    reportDir: path.join(root, 'report'),
    controlDir: path.join(root, 'control'),
  };
  return {
    ...folders,
    writable: [folders.workDir, folders.outputDir, folders.inputDir, folders.reportDir],
    readable: [folders.controlDir],
  };
}
