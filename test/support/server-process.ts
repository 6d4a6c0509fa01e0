import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** The `sluice` entry point, run as `npm start` runs it. */
export const BIN = path.resolve(__dirname, '../../bin/sluice.js');

/** The environment without anything of the test runner's Sluice or database settings. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const rest = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !k.startsWith('SLUICE_') && k !== 'DATABASE_URL' && k !== 'PORT',
    ),
  );
  return { ...rest, NODE_ENV: 'development', ...extra };
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  url: string;
  output: () => string;
}

/** Starts `sluice serve` (node, not npx: signals must reach the server itself) and waits for /readyz. */
export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  const port = await freePort();
  // From another directory than the checkout, as an operator would start it.
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: cleanEnv({ PORT: String(port), ...env }),
    cwd: os.tmpdir(),
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sluice exited early:\n${out}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`sluice not ready in 60 s:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, port, url: `http://127.0.0.1:${port}/graphql`, output: () => out };
}

export function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

export type PeerProcess = ServerProcess & { stop: () => Promise<void> };

/**
 * Another `sluice serve` process on the database of a test server, with a data folder of its
 * own (its own caches, sequencer, feed and LISTEN), as a second instance of one installation.
 * `stop` ends it and removes its folder.
 */
export async function startPeerProcess(databaseUrl: string, adminPassword: string): Promise<PeerProcess> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-test-peer-'));
  const peer = await startServerProcess({
    DATABASE_URL: databaseUrl,
    SLUICE_DATA_DIR: dataDir,
    SLUICE_HOST: '127.0.0.1',
    SLUICE_ADMIN_PASSWORD: adminPassword,
    SLUICE_LOG_LEVEL: 'silent',
    SLUICE_SCRYPT_LOG_N: '14',
    SLUICE_WORKER_CONCURRENCY: '0',
  });
  return {
    ...peer,
    stop: async () => {
      if (peer.child.exitCode === null) {
        peer.child.kill('SIGTERM');
        await new Promise((r) => peer.child.once('exit', r));
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
