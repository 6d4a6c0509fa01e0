import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { exited, startServerProcess } from '../../support/server-process';

/**
 * The real `sluice serve` reads its secrets from the environment once and forgets them: no
 * process it starts (here its embedded PostgreSQL) inherits one.
 */
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-env-'));

afterAll(() => {
  for (const dir of [dataDir, `${dataDir}-pg`, `${dataDir}-work`])
    fs.rmSync(dir, { recursive: true, force: true });
});

function childrenOf(pid: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        return /^PPid:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${name}/status`, 'utf8'))?.[1] === String(pid);
      } catch {
        return false;
      }
    })
    .map(Number);
}

it('passes none of its secret variables to the processes it starts', async () => {
  const secrets = {
    SLUICE_ADMIN_PASSWORD: 'admin-env-secret-5e1f',
    SLUICE_WEBHOOK_SECRET: 'webhook-env-secret-5e1f',
  };
  const server = await startServerProcess({ SLUICE_DATA_DIR: dataDir, ...secrets });
  try {
    const pid = server.child.pid as number;
    // The server itself was started with them (its /proc environ shows the start, forever).
    expect(fs.readFileSync(`/proc/${pid}/environ`, 'utf8')).toContain(secrets.SLUICE_ADMIN_PASSWORD);
    // Children that end meanwhile (a short-lived helper) have nothing left to show.
    const read = (file: string): string | undefined => {
      try {
        return fs.readFileSync(file, 'utf8');
      } catch {
        return undefined;
      }
    };
    const children = childrenOf(pid);
    const postgres = children.filter((child) => read(`/proc/${child}/cmdline`)?.includes('postgres'));
    expect(postgres.length).toBeGreaterThan(0);
    for (const child of children) {
      const environ = read(`/proc/${child}/environ`) ?? '';
      for (const value of Object.values(secrets)) expect(environ).not.toContain(value);
    }
    expect(fs.statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dataDir, 'pg.password')).mode & 0o777).toBe(0o600);
  } finally {
    server.child.kill('SIGTERM');
    await exited(server.child);
  }
});
