import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type { JobSandbox } from '../sandbox/job-sandbox';

/**
 * Child processes that can be stopped as a whole: each one leads its own process group
 * (`detached: true`), so a timeout or a stop reaches everything it started (`cmd &`, pipes,
 * subshells), not only the direct child. A process that calls `setsid` leaves the group;
 * the job's sandbox catches those (a pid namespace that ends with its leader, or a slot uid
 * whose every process is killed: `JobSandbox.killAll`).
 */

/** What a provider's children may see: never the server's own environment. */
export const safePath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnGroupOptions {
  cwd: string;
  env: Record<string, string>;
  /** Receives stdout and stderr as they arrive; both pipes are always drained. */
  onOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  /** Where the process runs: a job's processes always get their job's sandbox. */
  sandbox?: JobSandbox;
  /** Paths outside the job's own folders the process may read (e.g. a local repository). */
  readable?: readonly string[];
}

export interface ProcessGroup {
  readonly pid: number;
  /** The leader exited (its children may live on); rejects if it could not be started. */
  readonly exited: Promise<ExitStatus>;
  /** Every holder of the output pipes is gone (or the leader could not be started). */
  readonly closed: Promise<void>;
  /** SIGTERM to the group, SIGKILL to what is left after `graceMs`. Safe to call repeatedly. */
  terminate(graceMs?: number): Promise<void>;
  /**
   * Stops reading the pipes. For after `terminate`: a process that left the group (`setsid`)
   * may still hold them open, and the worker must not keep their handles forever.
   */
  dispose(): void;
}

export const defaultGraceMs = 2000;

export function spawnGroup(
  command: string,
  args: readonly string[],
  options: SpawnGroupOptions,
): ProcessGroup {
  const spec = options.sandbox?.wrap(command, args, { cwd: options.cwd, readable: options.readable }) ?? {
    command,
    args: [...args],
    cwd: options.cwd,
  };
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    uid: spec.uid,
    gid: spec.gid,
  });
  const onOutput = options.onOutput;
  child.stdout.on('data', (chunk: Buffer) => onOutput?.(chunk, 'stdout'));
  child.stderr.on('data', (chunk: Buffer) => onOutput?.(chunk, 'stderr'));

  const exited = new Promise<ExitStatus>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const closed = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', () => resolve());
  });
  // Callers may only look at one of them; an unobserved rejection must not crash the server.
  exited.catch(() => undefined);

  const pid = child.pid ?? -1;
  return {
    pid,
    exited,
    closed,
    terminate: (graceMs = defaultGraceMs) => (pid > 0 ? terminateGroup(pid, graceMs) : Promise.resolve()),
    dispose: () => {
      child.stdout.destroy();
      child.stderr.destroy();
    },
  };
}

/** Sends SIGTERM to the group, waits for it to empty, then SIGKILLs whatever remains. */
export async function terminateGroup(pgid: number, graceMs = defaultGraceMs): Promise<void> {
  if (!groupAlive(pgid) || !signalGroup(pgid, 'SIGTERM')) return;
  const deadline = Date.now() + graceMs;
  // Most groups are gone within a few milliseconds (a sandbox's namespace is torn down right
  // after its leader), so look again soon, then less and less often.
  for (let wait = 2; Date.now() < deadline; wait = Math.min(wait * 2, 50)) {
    await delay(wait);
    if (!groupAlive(pgid)) return;
  }
  signalGroup(pgid, 'SIGKILL');
}

/** False when the group no longer exists. */
function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/**
 * Whether a live (non-zombie) process is still in the group. Zombies count as gone: an
 * orphan's zombie waits for PID 1 to reap it, which some container inits never do.
 */
export function groupAlive(pgid: number): boolean {
  // The common case, cheaply: no member at all, zombie or not. Only otherwise scan /proc,
  // which reads a file per process on the machine.
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  let names: string[];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    // No procfs: signal 0 tells whether any member, zombie or not, remains.
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the command name (which may hold spaces and parentheses): state ppid pgrp.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
  }
  return false;
}

export type RunOutcome = { kind: 'exited'; status: ExitStatus } | { kind: 'timedOut' } | { kind: 'aborted' };

/**
 * Waits for the leader to exit, or for the deadline or the signal, in which case the whole
 * group is terminated before this resolves.
 */
export async function waitForGroup(
  group: ProcessGroup,
  limits: { deadline: number; signal: AbortSignal },
): Promise<RunOutcome> {
  const { deadline, signal } = limits;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<RunOutcome>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'timedOut' }), Math.max(0, deadline - Date.now()));
    onAbort = () => resolve({ kind: 'aborted' });
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const outcome = await Promise.race([
      group.exited.then((status): RunOutcome => ({ kind: 'exited', status })),
      stopped,
    ]);
    if (outcome.kind !== 'exited') await group.terminate();
    return outcome;
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

export interface CapturedRun {
  status: ExitStatus;
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs a command to completion, keeping up to `maxOutputBytes` of each stream; its whole
 * group is killed when it ends, so nothing it started survives it. Throws `TimedOut` or
 * `Aborted` (see below) when the deadline passes or the signal fires.
 */
export async function runCaptured(
  command: string,
  args: readonly string[],
  options: {
    cwd: string;
    env: Record<string, string>;
    deadline: number;
    signal: AbortSignal;
    maxOutputBytes?: number;
    sandbox?: JobSandbox;
    readable?: readonly string[];
  },
): Promise<CapturedRun> {
  const max = options.maxOutputBytes ?? 16 * 1024 * 1024;
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let outBytes = 0;
  let errBytes = 0;
  const group = spawnGroup(command, args, {
    cwd: options.cwd,
    env: options.env,
    sandbox: options.sandbox,
    readable: options.readable,
    onOutput: (chunk, stream) => {
      if (stream === 'stdout' && outBytes < max) {
        out.push(chunk);
        outBytes += chunk.length;
      } else if (stream === 'stderr' && errBytes < max) {
        err.push(chunk);
        errBytes += chunk.length;
      }
    },
  });
  try {
    const outcome = await waitForGroup(group, options);
    if (outcome.kind === 'timedOut') throw new ProcessTimedOut();
    if (outcome.kind === 'aborted') throw new ProcessAborted();
    await Promise.race([group.closed, delay(1000)]);
    return {
      status: outcome.status,
      stdout: Buffer.concat(out).subarray(0, max),
      stderr: Buffer.concat(err).subarray(0, max).toString('utf8'),
    };
  } finally {
    await group.terminate();
    group.dispose();
  }
}

export class ProcessTimedOut extends Error {
  constructor() {
    super('timed out');
    this.name = 'ProcessTimedOut';
  }
}

export class ProcessAborted extends Error {
  constructor() {
    super('stopped');
    this.name = 'ProcessAborted';
  }
}

/** "5 minutes", "1 minute", "1.5 seconds": how long a timeout was, for messages. */
export function formatDuration(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) {
    const minutes = ms / 60_000;
    return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  }
  if (ms >= 60_000) return `${(ms / 60_000).toFixed(1)} minutes`;
  const seconds = ms / 1000;
  return `${Number(seconds.toFixed(3))} second${seconds === 1 ? '' : 's'}`;
}
