import 'reflect-metadata';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startApp, type AppOptions, type RunningApp } from '../../src/app';
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
  /** `databaseUrl: null`: the server starts its own embedded PostgreSQL, as `sluice serve` does. */
  options: { databaseUrl?: string | null; app?: Partial<AppOptions> } = {},
): Promise<TestServer> {
  const databaseUrl = options.databaseUrl === null ? '' : (options.databaseUrl ?? (await freshDatabase()));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-test-data-'));
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    SLUICE_DATA_DIR: dataDir,
    PORT: '0',
    SLUICE_HOST: '127.0.0.1',
    SLUICE_ADMIN_PASSWORD: ADMIN_PASSWORD,
    NODE_ENV: 'test',
    SLUICE_LOG_LEVEL: process.env.SLUICE_LOG_LEVEL ?? 'silent',
    // The suite creates many users: hash at scrypt's floor cost (the default, 2^17, costs
    // ~0.4 s of CPU per hash). test/iam/secrets.test.ts proves the default and the upgrade.
    SLUICE_SCRYPT_LOG_N: '14',
    // Tests keep their repositories and deploy targets in temp folders (the fixtures name
    // /srv/git and /srv/www, as the README's walk-through does) and call webhooks on
    // 127.0.0.1; tests of the defaults pass '' to get them back.
    SLUICE_DEPLOY_ROOTS: `${os.tmpdir()},/srv/www`,
    SLUICE_GIT_LOCAL_ROOTS: `${os.tmpdir()},/srv/git`,
    SLUICE_WEBHOOK_ALLOW_HOSTS: '127.0.0.1,localhost,[::1]',
    ...env,
  });
  const app = await startApp(config, createLogger(config.logLevel), { embeddedWorker: true, ...options.app });
  const url = `http://127.0.0.1:${app.port}/graphql`;
  return {
    app,
    url,
    databaseUrl,
    dataDir,
    client: new GraphQLClient(url),
    async stop() {
      await app.stop();
      // The default job folder and, as root, the embedded cluster live beside the data folder.
      for (const dir of [dataDir, `${dataDir}-work`, `${dataDir}-pg`])
        fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
