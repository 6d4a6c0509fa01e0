import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Ends every process running as `uid` (real, effective or saved), wherever it is in the
 * process tree: a job that called `setsid` or double-forked has left its process group, but
 * not its uid. `kill -KILL -1` run as that uid reaches everything it may signal, which for an
 * unprivileged uid is exactly its own processes; /proc is then checked until none is left.
 */
export async function killProcessesOf(uid: number, gid: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (processesOf(uid).length > 0) {
    await killAllAs(uid, gid);
    if (processesOf(uid).length === 0) return;
    if (Date.now() > deadline) throw new Error(`processes of uid ${uid} survived SIGKILL`);
    await delay(10);
  }
}

function killAllAs(uid: number, gid: number): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', 'kill -KILL -1 2>/dev/null; exit 0'], {
      uid,
      gid,
      cwd: '/',
      env: {},
      stdio: 'ignore',
    });
    child.once('error', () => resolve());
    child.once('exit', () => resolve());
  });
}

/** Live (non-zombie) processes of `uid`, by host pid. */
export function processesOf(uid: number): number[] {
  let names: string[];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    let status: string;
    try {
      status = fs.readFileSync(`/proc/${name}/status`, 'utf8');
    } catch {
      continue;
    }
    const state = /^State:\s+(\S)/m.exec(status)?.[1];
    if (state === 'Z' || state === 'X') continue;
    const uids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status);
    if (uids && uids.slice(1, 4).some((value) => Number(value) === uid)) found.push(Number(name));
  }
  return found;
}

/** Folders every uid may write to outside its job's own: what a slot leaves there outlives the job. */
const sharedWritable = ['/tmp', '/var/tmp', '/dev/shm', '/run/lock', '/dev/mqueue'];

/**
 * Removes what `uid` left where every uid may write (files and folders owned by it directly
 * in /tmp, /var/tmp, /dev/shm, …) and its System V IPC objects, so the next job of the slot,
 * which may be another account's, finds nothing of this one. With bubblewrap these places
 * are the sandbox's own and vanish with it; this is for the uid mode.
 */
export async function removeLeftoversOf(uid: number): Promise<void> {
  for (const dir of sharedWritable) {
    let names: string[];
    try {
      names = await fsp.readdir(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const entry = path.join(dir, name);
      try {
        if ((await fsp.lstat(entry)).uid === uid) await fsp.rm(entry, { recursive: true, force: true });
      } catch {
        // gone meanwhile
      }
    }
  }
  for (const [kind, flag] of [
    ['shm', '-m'],
    ['msg', '-q'],
    ['sem', '-s'],
  ] as const) {
    let table: string;
    try {
      table = await fsp.readFile(`/proc/sysvipc/${kind}`, 'utf8');
    } catch {
      continue;
    }
    const [header, ...rows] = table.trim().split('\n');
    const columns = header.trim().split(/\s+/);
    const idColumn = columns.indexOf(kind === 'shm' ? 'shmid' : kind === 'msg' ? 'msqid' : 'semid');
    const uidColumn = columns.indexOf('uid');
    for (const row of rows) {
      const fields = row.trim().split(/\s+/);
      if (Number(fields[uidColumn]) !== uid) continue;
      await new Promise<void>((resolve) => {
        const child = spawn('ipcrm', [flag, fields[idColumn]], {
          stdio: 'ignore',
          env: { PATH: '/usr/bin:/bin' },
        });
        child.once('error', () => resolve());
        child.once('exit', () => resolve());
      });
    }
  }
}
