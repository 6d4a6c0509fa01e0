import 'reflect-metadata';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startApp, type RunningApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/platform/logger';
import { freshDatabase } from './database';
import { GraphQLClient } from './graphql-client';

export const ADMIN_PASSWORD = 'admin-password-for-tests';

export interface TestServer {
  app: RunningApp;
  url: string;
  databaseUrl: string;
  dataDir: string;
  /** A client without a token. */
  client: GraphQLClient;
  stop(): Promise<void>;
}

/** The real server (HTTP + WebSocket) in this process, on a random port, with its own database. */
export async function startTestServer(
  env: Record<string, string> = {},
  options: { databaseUrl?: string } = {},
): Promise<TestServer> {
  const databaseUrl = options.databaseUrl ?? (await freshDatabase());
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-test-data-'));
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    SLUICE_DATA_DIR: dataDir,
    PORT: '0',
    SLUICE_HOST: '127.0.0.1',
    SLUICE_ADMIN_PASSWORD: ADMIN_PASSWORD,
    NODE_ENV: 'test',
    SLUICE_LOG_LEVEL: process.env.SLUICE_LOG_LEVEL ?? 'silent',
    ...env,
  });
  const app = await startApp(config, createLogger(config.logLevel));
  const url = `http://127.0.0.1:${app.port}/graphql`;
  return {
    app,
    url,
    databaseUrl,
    dataDir,
    client: new GraphQLClient(url),
    async stop() {
      await app.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
