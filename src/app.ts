import './platform/builtin-resolution';
import fs from 'node:fs';
import path from 'node:path';
import { type Config, ConfigError } from './config';
import { type SandboxFacts, SandboxHost, SandboxSetupError } from './engine/sandbox/sandbox-host';
import { createBuiltInProviders } from './engine/providers/registry';
import { EmbeddedWorker } from './jobs/embedded-worker';
import { openDatabase } from './platform/db/database';
import { Notifications } from './platform/db/notifications';
import { secureDataFolder } from './platform/data-folder';
import type { Logger } from './platform/logger';
import { listenForMetrics } from './platform/metrics/metrics-endpoint';
import { createHttpServer } from './server';
import { createServices, type Services } from './services';

export interface RunningApp {
  port: number;
  /** The port of SLUICE_METRICS_LISTEN's listener, when there is one. */
  metricsPort?: number;
  services: Services;
  /** Drains requests, closes connections, stops the embedded database. */
  stop(): Promise<void>;
}

/** Writes the generated admin password where only the operator can read it, and says so once. */
function announceAdminPassword(config: Config, password: string, generated: boolean, logger: Logger): void {
  if (!generated) {
    logger.info(
      'platform account 000000000000 created; user admin has the password from SLUICE_ADMIN_PASSWORD',
    );
    return;
  }
  const file = path.join(config.dataDir, 'admin-password');
  fs.mkdirSync(config.dataDir, { recursive: true });
  fs.writeFileSync(file, `${password}\n`, { mode: 0o600 });
  process.stdout.write(
    `\nSluice created the platform account 000000000000 with user "admin".\n` +
      `  admin password: ${password}\n  (also written to ${file}; it is shown only this once)\n\n`,
  );
}

export interface AppOptions {
  /** Run built-in actions in this process (`sluice serve`); off with --no-worker. */
  embeddedWorker: boolean;
  /** What sandbox detection sees (tests use it to reach the modes this machine does not offer). */
  sandboxFacts?: Partial<SandboxFacts>;
}

/** SLUICE_SANDBOX resolved on this machine; a setting that cannot work stops start-up. */
async function createSandbox(config: Config, facts: Partial<SandboxFacts> | undefined): Promise<SandboxHost> {
  try {
    return await SandboxHost.create({
      setting: config.sandbox.setting,
      uidBase: config.sandbox.uidBase,
      slots: Math.max(1, config.workerConcurrency),
      workRoot: config.workDir,
      facts,
    });
  } catch (error) {
    if (error instanceof SandboxSetupError) throw new ConfigError(error.variable, error.message);
    throw error;
  }
}

/**
 * `sluice serve`: database (embedded unless DATABASE_URL), migrations, bootstrap, engine,
 * embedded worker, HTTP + WebSocket.
 */
export async function startApp(
  config: Config,
  logger: Logger,
  options: AppOptions = { embeddedWorker: true },
): Promise<RunningApp> {
  secureDataFolder(config.dataDir);
  const sandbox = await createSandbox(config, options.sandboxFacts);
  const sandboxLog = { sandbox: sandbox.mode, reason: sandbox.reason, workDir: config.workDir };
  if (sandbox.mode === 'unavailable')
    logger.warn(sandboxLog, 'no sandbox: shell and local-git actions will fail');
  else if (sandbox.mode === 'none')
    logger.warn(sandboxLog, 'sandbox off: jobs run unconfined as the server user');
  else logger.info(sandboxLog, `sandbox: ${sandbox.mode}`);
  const db = await openDatabase(config, logger, { migrate: true, poolSize: config.dbPoolSize });
  const notifications = new Notifications(db.url, logger);
  try {
    await notifications.start();
    const services = await createServices(config, db.dataSource, notifications, logger);
    const adminPassword = await services.identities.bootstrapPlatform(config.adminPassword);
    if (adminPassword) announceAdminPassword(config, adminPassword, !config.adminPassword, logger);
    const http = await createHttpServer(services, logger, { sandbox: sandbox.mode });
    const port = await http.listen(config.port, config.host);
    const metricsListener = config.metrics.listen
      ? await listenForMetrics(services.metrics, config.metrics.listen, logger)
      : undefined;
    services.auditSealer.start();
    services.auditRetention.start();
    // The feed first: it must know where the outbox stands before the sequencer moves it on.
    await services.events.start();
    services.eventSequencer.start();
    services.eventRetention.start();
    services.engine.start();
    const worker =
      options.embeddedWorker && config.workerConcurrency > 0
        ? new EmbeddedWorker({
            queue: services.jobs,
            providers: createBuiltInProviders({
              webhookSecrets: services.webhookSecrets,
              webhookAllowHosts: config.webhookAllowHosts,
              deployRoots: services.deployRoots,
              gitLocalRoots: services.gitLocalRoots,
              gitCacheDir: path.join(config.dataDir, 'cache', 'git'),
            }),
            artifacts: services.artifacts,
            notifications,
            sandbox,
            concurrency: config.workerConcurrency,
            logger,
            limits: { maxLogBytes: 10 * 1024 * 1024, maxArtifactBytes: 5 * 1024 ** 3 },
            // Three heartbeats per lease: one lost heartbeat never costs the job.
            heartbeatSeconds: Math.max(1, Math.floor(config.jobLeaseSeconds / 3)),
          })
        : undefined;
    worker?.start();
    logger.info({ port, url: `http://localhost:${port}/graphql` }, 'Sluice is serving');
    return {
      port,
      metricsPort: metricsListener?.port,
      services,
      async stop() {
        await metricsListener?.close();
        await http.close();
        await worker?.stop();
        await services.engine.stop();
        await services.eventRetention.stop();
        await services.eventSequencer.stop();
        // Completes every open stream (their sockets are already closed by http.close()).
        await services.events.stop();
        services.auditRetention.stop();
        await services.audit.drain();
        // A last digest, so the chain is sealed up to the final event.
        await services.auditSealer.stop();
        await notifications.close();
        await services.identities.close();
        await db.close();
      },
    };
  } catch (err) {
    await notifications.close();
    await db.close();
    throw err;
  }
}
