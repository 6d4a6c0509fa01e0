import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import type { TestProject } from 'vitest/node';
import { createDataSource, migrate } from '../../src/platform/db/database';
import { startEmbeddedPostgres } from '../../src/platform/embedded-postgres';
import { ensureBubblewrap } from './ensure-bubblewrap';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of the test cluster (database `postgres`). */
    pgAdminUrl: string;
    /** Name of the migrated template each test file clones its database from. */
    pgTemplate: string;
  }
}

export const TEMPLATE = 'sluice_template';

/**
 * One real PostgreSQL for the whole run (the embedded one, or TEST_DATABASE_URL's server),
 * with a migrated template database; each test file clones its own database from it.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  ensureBubblewrap();
  let stop = async (): Promise<void> => {};
  let adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) {
    // The PostgreSQL OS user must reach the folder: a 0755 temp folder (STACK.md gotcha 4).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-test-pg-'));
    fs.chmodSync(dir, 0o755);
    const pg = await startEmbeddedPostgres({ dir: path.join(dir, 'pg') });
    adminUrl = pg.url;
    stop = async () => {
      await pg.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    };
  }
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE}`);
  await admin.query(`CREATE DATABASE ${TEMPLATE}`);
  await admin.end();
  const templateUrl = new URL(adminUrl);
  templateUrl.pathname = `/${TEMPLATE}`;
  const dataSource = createDataSource(templateUrl.toString(), 2);
  await dataSource.initialize();
  await migrate(dataSource);
  await dataSource.destroy();
  project.provide('pgAdminUrl', adminUrl);
  project.provide('pgTemplate', TEMPLATE);
  return stop;
}
