import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { bwrapArgs, hostSystemEntries, type SystemEntry } from './bwrap-args';
import {
  sandboxFixes,
  sandboxRequired,
  type JobSandbox,
  type SandboxMode,
  type SandboxSetting,
} from './job-sandbox';
import { killProcessesOf, removeLeftoversOf } from './process-reaper';
import { chownTree } from './job-files';
import { slotUidConflict } from './slot-uids';

/** What detection looks at; tests replace it to see the other modes on this machine. */
export interface SandboxFacts {
  /** The server runs as root (and can give each slot its own uid). */
  root: boolean;
  /** Path of the bwrap binary, if there is one. */
  bwrap: string | undefined;
}

export interface SandboxHostOptions {
  setting: SandboxSetting;
  /** Slot `i` runs as uid and gid `uidBase + i` when the server is root. */
  uidBase: number;
  slots: number;
  /** Where job folders go: outside the data folder, traversable by slot uids. */
  workRoot: string;
  facts?: Partial<SandboxFacts>;
}

/** A setting that cannot work here (exit 2 at start-up, naming the variable). */
export class SandboxSetupError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
    this.name = 'SandboxSetupError';
  }
}

/** The folders of one job attempt, as the worker made them. */
export interface JobFolders {
  /** Writable by the job: its workspace, inputs, outputs, report folder. */
  writable: string[];
  /** Readable by the job only: scripts the server wrote for it. */
  readable: string[];
}

const bwrapCandidates = ['/usr/bin/bwrap', '/usr/local/bin/bwrap', '/bin/bwrap'];

function hostFacts(): SandboxFacts {
  return {
    root: typeof process.getuid === 'function' && process.getuid() === 0,
    bwrap: bwrapCandidates.find((file) => {
      try {
        fs.accessSync(file, fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    }),
  };
}

/**
 * The process-wide side of the sandbox: resolves SLUICE_SANDBOX to a mode at start-up (a
 * trial bwrap run decides whether bubblewrap works here: some kernels forbid user
 * namespaces), owns the work root, and makes one JobSandbox per job slot.
 */
export class SandboxHost {
  private readonly system: SystemEntry[];
  private overlays: Array<{ source: string; target: string }> = [];

  private constructor(
    readonly mode: SandboxMode,
    /** Why the mode is what it is, for the start-up log. */
    readonly reason: string,
    private readonly options: SandboxHostOptions,
    private readonly bwrap: string | undefined,
    private readonly root: boolean,
  ) {
    this.system = mode === 'bwrap' ? hostSystemEntries() : [];
  }

  static async create(options: SandboxHostOptions): Promise<SandboxHost> {
    const facts = { ...hostFacts(), ...options.facts };
    const { setting } = options;
    if (facts.root) {
      const conflict = slotUidConflict(options.uidBase, options.slots);
      if (conflict && setting !== 'none') {
        throw new SandboxSetupError(
          'SLUICE_SANDBOX_UID_BASE',
          `job slots would use uids ${options.uidBase}–${options.uidBase + options.slots - 1}, but ${conflict}; ` +
            'set SLUICE_SANDBOX_UID_BASE to a free range',
        );
      }
    }
    const make = (mode: SandboxMode, reason: string) =>
      new SandboxHost(mode, reason, options, facts.bwrap, facts.root);
    if (setting === 'none') {
      return make('none', "SLUICE_SANDBOX=none: jobs run as the server's own user, unconfined");
    }
    await prepareWorkRoot(options.workRoot, facts.root);
    if (setting === 'bwrap' || setting === 'auto') {
      const trial = facts.bwrap
        ? await trialRun(facts.bwrap, options, facts.root)
        : 'bubblewrap (bwrap) is not installed';
      if (trial === undefined) {
        const host = make(
          'bwrap',
          facts.root
            ? `bubblewrap, each job slot as its own uid from ${options.uidBase}`
            : "bubblewrap, as the server's own (unprivileged) uid",
        );
        if (facts.root) await host.namePasswdSlots();
        return host;
      }
      if (setting === 'bwrap') {
        throw new SandboxSetupError('SLUICE_SANDBOX', `is bwrap, but bubblewrap cannot run here: ${trial}`);
      }
      if (facts.root) {
        return make('uid', `each job slot as its own uid from ${options.uidBase} (no bubblewrap: ${trial})`);
      }
      return make('unavailable', `no sandbox (${trial}, and the server is not root): ${sandboxFixes}`);
    }
    // setting === 'uid'
    if (!facts.root) {
      throw new SandboxSetupError('SLUICE_SANDBOX', 'is uid, which needs the server to run as root');
    }
    return make('uid', `each job slot as its own uid from ${options.uidBase}`);
  }

  /**
   * ssh (and other tools) refuse to run as a uid without a passwd entry: inside bubblewrap,
   * /etc/passwd is the host's plus one line per slot uid (home /nonexistent, no shell).
   */
  private async namePasswdSlots(): Promise<void> {
    let passwd = '';
    try {
      passwd = await fsp.readFile('/etc/passwd', 'utf8');
    } catch {
      passwd = '';
    }
    const lines = Array.from({ length: this.options.slots }, (_, slot) => {
      const id = this.options.uidBase + slot;
      return `sluice-job-${slot}:x:${id}:${id}:Sluice job slot ${slot}:/nonexistent:/usr/sbin/nologin`;
    });
    const file = path.join(this.options.workRoot, 'passwd');
    await fsp.rm(file, { force: true });
    await fsp.writeFile(file, `${passwd.replace(/\n?$/, '\n')}${lines.join('\n')}\n`, {
      mode: 0o644,
      flag: 'wx',
    });
    this.overlays = [{ source: file, target: '/etc/passwd' }];
  }

  get workRoot(): string {
    return this.options.workRoot;
  }

  /** Job slots (0 … slots - 1), each with its own uid when the server is root. */
  get slots(): number {
    return this.options.slots;
  }

  /** The uid and gid slot `slot` runs as, when jobs get their own. */
  ownerOf(slot: number): { uid: number; gid: number } | undefined {
    if (!this.root || (this.mode !== 'bwrap' && this.mode !== 'uid')) return undefined;
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.options.slots) {
      throw new Error(`No job slot ${slot} (there are ${this.options.slots})`);
    }
    const id = this.options.uidBase + slot;
    return { uid: id, gid: id };
  }

  /** The sandbox for the job now running in `slot`, over folders the worker made. */
  forJob(slot: number, folders: JobFolders): JobSandbox {
    const owner = this.ownerOf(slot);
    const { mode } = this;
    const bwrap = this.bwrap;
    const system = this.system;
    const overlays = this.overlays;
    return {
      mode,
      require: (what) => {
        if (mode === 'unavailable') throw sandboxRequired(what);
      },
      wrap: (command, args, options) => {
        if (mode === 'bwrap' && bwrap) {
          return {
            command: bwrap,
            args: bwrapArgs({
              system,
              overlays,
              writable: folders.writable,
              readable: [...folders.readable, ...(options.readable ?? [])],
              cwd: options.cwd,
              command,
              args,
            }),
            // bwrap changes to options.cwd inside; outside it only needs a folder that exists.
            cwd: '/',
            ...owner,
          };
        }
        return { command, args: [...args], cwd: options.cwd, ...owner };
      },
      handOver: async (dir) => {
        if (owner) await chownTree(dir, owner.uid, owner.gid);
      },
      // With bubblewrap every process of the job is in a pid namespace that ends with its
      // leader, and /tmp, /dev/shm and System V IPC are the sandbox's own: the /proc scan
      // (which reads every process's status, on the event loop) is needed once per job, at
      // its end, as a backstop; the uid mode needs it whenever a job's processes must be gone.
      killAll: async () => {
        if (owner && mode !== 'bwrap') await killProcessesOf(owner.uid, owner.gid);
      },
      reset: async () => {
        if (!owner) return;
        await killProcessesOf(owner.uid, owner.gid);
        if (mode !== 'bwrap') await removeLeftoversOf(owner.uid);
      },
    };
  }
}

/**
 * The work root: a real folder (not a symlink), the server's own. With slot uids it is 0711
 * and every parent is traversable, so a slot reaches its own attempt folder (0700, its own)
 * but can list nothing; without, 0700.
 */
async function prepareWorkRoot(workRoot: string, root: boolean): Promise<void> {
  await fsp.mkdir(workRoot, { recursive: true, mode: 0o700 });
  const stat = await fsp.lstat(workRoot);
  if (!stat.isDirectory()) throw new SandboxSetupError('SLUICE_WORK_DIR', `${workRoot} is not a folder`);
  if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) {
    throw new SandboxSetupError(
      'SLUICE_WORK_DIR',
      `${workRoot} belongs to uid ${stat.uid}, not to this server`,
    );
  }
  await fsp.chmod(workRoot, root ? 0o711 : 0o700);
  if (root) {
    for (let dir = path.dirname(workRoot); dir !== path.dirname(dir); dir = path.dirname(dir)) {
      const { mode } = await fsp.stat(dir);
      if ((mode & 0o001) === 0) await fsp.chmod(dir, (mode & 0o7777) | 0o001);
    }
  }
}

/** Runs `true` in a sandbox as slot 0 would; undefined when it worked, else why not. */
async function trialRun(
  bwrap: string,
  options: SandboxHostOptions,
  root: boolean,
): Promise<string | undefined> {
  const dir = await fsp.mkdtemp(path.join(options.workRoot, 'trial-'));
  const owner = root ? { uid: options.uidBase, gid: options.uidBase } : {};
  try {
    if (root) await fsp.chown(dir, options.uidBase, options.uidBase);
    const args = bwrapArgs({
      system: hostSystemEntries(),
      writable: [dir],
      readable: [],
      cwd: dir,
      command: '/bin/sh',
      args: ['-c', 'touch ./ok'],
    });
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(bwrap, args, {
        cwd: '/',
        env: { PATH: '/usr/bin:/bin' },
        stdio: ['ignore', 'ignore', 'pipe'],
        ...owner,
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      child.once('error', (error) => resolve({ code: -1, stderr: error.message }));
      child.once('close', (code) => resolve({ code, stderr }));
    });
    if (result.code !== 0 || !fs.existsSync(path.join(dir, 'ok'))) {
      return `a trial sandbox failed (${result.stderr.trim() || `exit code ${result.code}`})`;
    }
    return undefined;
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}
