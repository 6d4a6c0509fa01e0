import path from 'node:path';
import { Client, type Pool } from 'pg';
import { DataSource } from 'typeorm';
import { migrations } from '../../../migrations';
import { entities } from '../../entities';
import type { Config } from '../../config';
import type { Logger } from '../logger';
import { embeddedClusterDir, startEmbeddedPostgres, type RunningPostgres } from '../embedded-postgres';

export interface Database {
  dataSource: DataSource;
  /** Connection URL of the Sluice database (for LISTEN connections). */
  url: string;
  close(): Promise<void>;
}

/** Any fixed number: it only serialises concurrent `migrate` runs across instances. */
const MIGRATION_LOCK = 7_311_764_100;

export function createDataSource(url: string, poolSize = 20): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    entities,
    migrations,
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'all',
    synchronize: false,
    logging: false,
    extra: { max: poolSize, application_name: 'sluice' },
  });
}

/** Creates the database named in `url` when it does not exist yet (embedded first start). */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}

/** Applies pending migrations; safe when several instances start at once. */
export async function migrate(dataSource: DataSource): Promise<string[]> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const applied = await dataSource.runMigrations({ transaction: 'all' });
    return applied.map((m) => m.name);
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await runner.release();
  }
}

/**
 * Connections of the pg pool behind `dataSource` (TypeORM's postgres driver keeps it as
 * `driver.master`): open, idle, and queries waiting for one. Undefined before it is initialized.
 */
export function poolUse(
  dataSource: DataSource,
): { total: number; idle: number; waiting: number } | undefined {
  const pool = (
    dataSource.driver as { master?: Partial<Pick<Pool, 'totalCount' | 'idleCount' | 'waitingCount'>> }
  ).master;
  if (typeof pool?.totalCount !== 'number') return undefined;
  return { total: pool.totalCount, idle: pool.idleCount ?? 0, waiting: pool.waitingCount ?? 0 };
}

/** True when every migration the code knows has been applied (for /readyz). */
export async function migrationsApplied(dataSource: DataSource): Promise<boolean> {
  return !(await dataSource.showMigrations());
}

/**
 * Opens the database: the server in DATABASE_URL, or else an embedded PostgreSQL kept in
 * `<data dir>/pg` (`<data dir>-pg` as root: see embeddedClusterDir). Migrates it when `options.migrate` is set.
 */
export async function openDatabase(
  config: Config,
  logger: Logger,
  options: { migrate: boolean; poolSize?: number },
): Promise<Database> {
  let embedded: RunningPostgres | undefined;
  let url = config.databaseUrl;
  if (!url) {
    const started = Date.now();
    embedded = await startEmbeddedPostgres({
      dir: embeddedClusterDir(config.dataDir),
      legacyDir: path.join(config.dataDir, 'pg'),
      passwordFile: path.join(config.dataDir, 'pg.password'),
      onLog: (line) => logger.debug({ postgres: line.trim() }, 'postgres'),
    });
    const embeddedUrl = new URL(embedded.url);
    embeddedUrl.pathname = '/sluice';
    url = embeddedUrl.toString();
    await ensureDatabase(url);
    logger.info({ port: embedded.port, ms: Date.now() - started }, 'embedded PostgreSQL started');
  }
  const dataSource = createDataSource(url, options.poolSize);
  try {
    await dataSource.initialize();
    if (options.migrate) {
      const applied = await migrate(dataSource);
      if (applied.length) logger.info({ migrations: applied }, 'migrations applied');
    }
  } catch (err) {
    if (dataSource.isInitialized) await dataSource.destroy();
    await embedded?.stop();
    throw err;
  }
  return {
    dataSource,
    url,
    async close() {
      if (dataSource.isInitialized) await dataSource.destroy();
      await embedded?.stop();
    },
  };
}
