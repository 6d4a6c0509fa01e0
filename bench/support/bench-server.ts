import 'reflect-metadata';
import { startApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/platform/logger';

/**
 * The server under measurement, in its own process so the load generator does not share its
 * event loop. The parent drives it over the IPC channel: `{ authorization: 'on' | 'off' }`
 * flips the bench-only switch that skips policy evaluation (tokens are still verified);
 * `{ audit: 'on' | 'off' }` the one that skips writing audit events.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const app = await startApp(config, createLogger(config.logLevel));
  process.on('message', (message: { authorization?: 'on' | 'off'; audit?: 'on' | 'off'; stop?: boolean }) => {
    if (message.authorization) {
      app.services.authorizer.setBenchmarkBypass(message.authorization === 'off');
      process.send?.({ ok: true });
    }
    if (message.audit) {
      app.services.audit.setBenchmarkBypass(message.audit === 'off');
      process.send?.({ ok: true });
    }
    if (message.stop) void app.stop().then(() => process.exit(0));
  });
  process.send?.({ port: app.port });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench server failed: ${String(err)}\n`);
  process.exit(1);
});
