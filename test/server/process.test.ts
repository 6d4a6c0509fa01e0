import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { embeddedClusterDir } from '../../src/platform/embedded-postgres';
import { BIN, cleanEnv, exited, startServerProcess, type ServerProcess } from '../support/server-process';

/**
 * The real `sluice` process with its embedded PostgreSQL, as `npm start` runs it: first start,
 * bootstrap, readiness, SIGTERM, recovery after kill -9, configuration errors, `migrate`.
 */
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-process-'));
fs.chmodSync(dataDir, 0o755);

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return cleanEnv({ SLUICE_DATA_DIR: dataDir, SLUICE_LOG_LEVEL: 'info', ...extra });
}

async function start(extra: Record<string, string> = {}): Promise<ServerProcess> {
  return startServerProcess({ SLUICE_DATA_DIR: dataDir, SLUICE_LOG_LEVEL: 'info', ...extra });
}

function postmasterAlive(): boolean {
  const file = path.join(embeddedClusterDir(dataDir), 'postmaster.pid');
  if (!fs.existsSync(file)) return false;
  const pid = Number(fs.readFileSync(file, 'utf8').split('\n')[0]);
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function adminLogin(port: number, password: string): Promise<{ data?: unknown; errors?: unknown[] }> {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: `mutation { login(accountId: "000000000000", userName: "admin", password: ${JSON.stringify(password)}) { principal { arn } } }`,
    }),
  });
  return (await res.json()) as { data?: unknown; errors?: unknown[] };
}

afterAll(() => {
  // As root the cluster and the job folders live beside the data folder.
  for (const dir of [dataDir, `${dataDir}-pg`, `${dataDir}-work`])
    fs.rmSync(dir, { recursive: true, force: true });
});

describe('sluice serve (a real process with the embedded database)', () => {
  let password = '';

  it('first start creates the database and the platform admin, prints the password once and stores it 0600', async () => {
    const s = await start();
    const file = path.join(dataDir, 'admin-password');
    expect(fs.existsSync(file)).toBe(true);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    password = fs.readFileSync(file, 'utf8').trim();
    expect(s.output()).toContain(password);
    expect(await adminLogin(s.port, password)).toMatchObject({
      data: { login: { principal: { arn: 'arn:sluice:iam::000000000000:user/admin' } } },
    });
    expect(await (await fetch(`http://127.0.0.1:${s.port}/healthz`)).json()).toEqual({ status: 'ok' });
    s.child.kill('SIGTERM');
    expect(await exited(s.child)).toBe(0);
    expect(postmasterAlive()).toBe(false); // the embedded database was stopped too
  });

  it('a second start keeps the data and does not print a password again', async () => {
    const s = await start();
    expect(s.output()).not.toContain(password);
    expect(await adminLogin(s.port, password)).toMatchObject({ data: { login: { principal: {} } } });
    s.child.kill('SIGINT');
    expect(await exited(s.child)).toBe(0);
  });

  it('recovers after kill -9 left PostgreSQL and postmaster.pid behind', async () => {
    const s = await start();
    s.child.kill('SIGKILL');
    await exited(s.child);
    expect(postmasterAlive()).toBe(true); // the orphan is still running
    const again = await start();
    expect(await adminLogin(again.port, password)).toMatchObject({ data: { login: { principal: {} } } });
    again.child.kill('SIGTERM');
    expect(await exited(again.child)).toBe(0);
    expect(postmasterAlive()).toBe(false);
  });

  it('refuses to start on bad configuration, naming the variable', () => {
    for (const [name, value] of [
      ['PORT', 'eighty'],
      ['SLUICE_WORKER_CONCURRENCY', '-1'],
      ['DATABASE_URL', 'mysql://x'],
      ['NODE_ENV', 'staging'],
    ]) {
      const run = spawnSync(process.execPath, [BIN, 'serve'], {
        env: env({ [name]: value }),
        encoding: 'utf8',
      });
      expect(run.status, run.stderr).toBe(2);
      expect(run.stderr).toContain(name);
    }
  });

  it('sluice migrate migrates and exits', () => {
    const run = spawnSync(process.execPath, [BIN, 'migrate'], {
      env: env(),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toContain('database is up to date');
    expect(postmasterAlive()).toBe(false);
  });
});
