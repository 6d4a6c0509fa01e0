import 'reflect-metadata';
import { startApp } from './app';
import { ConfigError, forgetSecrets, loadConfig } from './config';
import { openDatabase } from './platform/db/database';
import { createLogger } from './platform/logger';

const USAGE = `Usage: sluice <command>

Commands:
  serve [--no-worker]   serve the GraphQL API (HTTP and WebSocket on PORT, default 4000), run the
                        engine and, unless --no-worker, the embedded worker for built-in actions
  migrate               apply database migrations and exit

Configuration comes from the environment; see README.md.`;

/**
 * The environment with the secrets bin/sluice.js took out of it before tsx started its
 * esbuild child (`npm start`, which runs this file directly, has none held).
 */
function environment(): Record<string, string | undefined> {
  const key = Symbol.for('sluice.heldSecrets');
  const held = (globalThis as Record<symbol, unknown>)[key];
  delete (globalThis as Record<symbol, unknown>)[key];
  return { ...process.env, ...(held as Record<string, string> | undefined) };
}

async function serve(flags: string[]): Promise<void> {
  const config = loadConfig(environment());
  // Read once; no child process (PostgreSQL, git, a job) may inherit them.
  forgetSecrets();
  const logger = createLogger(config.logLevel);
  const app = await startApp(config, logger, { embeddedWorker: !flags.includes('--no-worker') });
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down: draining requests');
    app.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

async function migrateOnly(): Promise<void> {
  const config = loadConfig(environment());
  forgetSecrets();
  const logger = createLogger(config.logLevel);
  const db = await openDatabase(config, logger, { migrate: true });
  await db.close();
  logger.info('database is up to date');
}

async function main(argv: string[]): Promise<void> {
  const [command, ...flags] = argv;
  switch (command) {
    case 'serve':
      if (flags.some((f) => f !== '--no-worker'))
        throw new UsageError(`unknown flag for serve: ${flags.join(' ')}`);
      return serve(flags);
    case 'migrate':
      return migrateOnly();
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

class UsageError extends Error {}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof UsageError) {
    process.stderr.write(`sluice: ${err.message}\n`);
    if (err instanceof UsageError) process.stderr.write(`${USAGE}\n`);
    process.exit(2);
  }
  process.stderr.write(`sluice: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
