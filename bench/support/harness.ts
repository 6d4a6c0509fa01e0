import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { ensureDatabase } from '../../src/platform/db/database';
import { startEmbeddedPostgres, type RunningPostgres } from '../../src/platform/embedded-postgres';

export interface BenchServer {
  url: string;
  send(message: object): Promise<void>;
  stop(): Promise<void>;
}

export const ADMIN_PASSWORD = 'bench-admin-password';

/** A throwaway PostgreSQL and a Sluice server process on it; both removed by stop(). */
export async function startBenchServer(env: Record<string, string> = {}): Promise<BenchServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-'));
  fs.chmodSync(dir, 0o755);
  const pg: RunningPostgres = await startEmbeddedPostgres({ dir: path.join(dir, 'pg') });
  const dbUrl = new URL(pg.url);
  dbUrl.pathname = '/sluice';
  await ensureDatabase(dbUrl.toString());
  const child: ChildProcess = fork(path.join(__dirname, 'bench-server.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: {
      ...process.env,
      DATABASE_URL: dbUrl.toString(),
      SLUICE_DATA_DIR: path.join(dir, 'data'),
      SLUICE_ADMIN_PASSWORD: ADMIN_PASSWORD,
      SLUICE_HOST: '127.0.0.1',
      PORT: '0',
      NODE_ENV: 'production',
      SLUICE_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    send: (message) =>
      new Promise((resolve) => {
        child.once('message', () => resolve());
        child.send(message);
      }),
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.send({ stop: true });
      await exited;
      await pg.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function graphql<T>(
  url: string,
  query: string,
  variables: object = {},
  token?: string,
): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: { message: string }[] };
  if (body.errors) throw new Error(`GraphQL error: ${body.errors.map((e) => e.message).join('; ')}`);
  return body.data as T;
}

export interface LoadResult {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
}

/** Fixed-duration load at `connections` concurrent keep-alive connections (autocannon). */
export async function load(options: {
  url: string;
  body: string;
  token: string;
  connections: number;
  seconds: number;
}): Promise<LoadResult> {
  const result = await autocannon({
    url: options.url,
    method: 'POST',
    connections: options.connections,
    duration: options.seconds,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${options.token}` },
    body: options.body,
  });
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function report(name: string, value: number, unit: string): void {
  process.stdout.write(`${name}: ${Number.isInteger(value) ? value : value.toFixed(2)} ${unit}\n`);
}
