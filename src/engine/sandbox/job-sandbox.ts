import { ActionFailure } from '../providers/provider';

/**
 * How the processes of one job are kept apart from the server and from other jobs
 * (see README.md in this folder). Providers never spawn a process but through `wrap`.
 */

/** What SLUICE_SANDBOX resolved to; `unavailable`: no isolation here, and `none` was not chosen. */
export type SandboxMode = 'bwrap' | 'uid' | 'none' | 'unavailable';

/** SLUICE_SANDBOX: `auto` is the strongest mode this machine offers. */
export type SandboxSetting = 'auto' | 'bwrap' | 'uid' | 'none';

export interface SpawnSpec {
  command: string;
  args: string[];
  /** The working directory handed to spawn (inside bwrap, `--chdir` sets the real one). */
  cwd: string;
  /** Set when the job runs as its slot's own unprivileged uid. */
  uid?: number;
  gid?: number;
}

export interface WrapOptions {
  cwd: string;
  /** More paths the command may read (bwrap binds them read-only; elsewhere plain file modes apply). */
  readable?: readonly string[];
}

export interface JobSandbox {
  readonly mode: SandboxMode;
  /** Throws CONFIGURATION_ERROR, saying how to fix it, when the machine offers no isolation. */
  require(what: string): void;
  /** How to start `command args` inside this job's sandbox. */
  wrap(command: string, args: readonly string[], options: WrapOptions): SpawnSpec;
  /** Gives a tree the server wrote (inputs, copies) to the job's uid; nothing to do without one. */
  handOver(dir: string): Promise<void>;
  /**
   * Ends every process the job may have left, including those that left their process group
   * (`setsid`): with a slot uid, everything that uid runs; with bwrap, the namespaces end
   * with their leader already.
   */
  killAll(): Promise<void>;
  /**
   * When a job ends (and on a slot's first job, after a crash): `killAll`, then what the slot uid left in the
   * folders every uid may write (/tmp, /dev/shm, …) and its System V IPC objects go, so a
   * slot's next job (another account's, maybe) finds nothing of the last one.
   */
  reset(): Promise<void>;
}

export const sandboxFixes =
  'install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap), or run Sluice as root so each ' +
  'job runs as its own unprivileged uid, or set SLUICE_SANDBOX=none to accept running untrusted ' +
  "commands as the server's own user on a single-user machine";

export function sandboxRequired(what: string): ActionFailure {
  return new ActionFailure(
    'CONFIGURATION_ERROR',
    `${what} must run in a sandbox, and this server has none: ${sandboxFixes}`,
  );
}

/**
 * Processes run as the server's own user, unconfined: SLUICE_SANDBOX=none, and the tests of
 * providers that exercise the provider alone.
 */
export const noSandbox: JobSandbox = {
  mode: 'none',
  require: () => undefined,
  wrap: (command, args, options) => ({ command, args: [...args], cwd: options.cwd }),
  handOver: async () => undefined,
  killAll: async () => undefined,
  reset: async () => undefined,
};
