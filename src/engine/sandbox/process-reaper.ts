import { spawn } from 'node:child_process';
import fs from 'node:fs';
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
