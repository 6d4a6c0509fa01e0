import 'reflect-metadata';
import { startApp, type RunningApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/platform/logger';

/**
 * The server under measurement, in its own process so the load generator does not share its
 * event loop. The parent drives it over the IPC channel: `{ authorization: 'on' | 'off' }`
 * flips the bench-only switch that skips policy evaluation (tokens are still verified);
 * `{ audit: 'on' | 'off' }` the one that skips writing audit events, `{ outbox: 'on' | 'off' }`
 * the one that skips appending execution events (bench/engine.ts: what the outbox costs).
 * For bench/events.ts: `{ emit: … }` appends one event to the outbox and answers with the time
 * its transaction committed; `{ memory: true }` answers with the process's memory after a full
 * collection (needs --expose-gc).
 */
interface EmitRequest {
  accountId: string;
  pipelineName: string;
  benchId: number;
}

async function emit(app: RunningApp, request: EmitRequest): Promise<number> {
  const executionId = '00000000-0000-4000-8000-000000000000';
  await app.services.dataSource.transaction((tx) =>
    app.services.outbox.append(tx, [
      {
        accountId: request.accountId,
        pipelineName: request.pipelineName,
        executionId,
        stageName: 'Build',
        actionName: 'Build',
        detailType: 'Action Execution State Change',
        state: 'STARTED',
        detail: {
          pipeline: request.pipelineName,
          executionId,
          stage: 'Build',
          action: 'Build',
          state: 'STARTED',
          type: { owner: 'Sluice', category: 'Build', provider: 'Shell', version: '1' },
          benchId: request.benchId,
        },
      },
    ]),
  );
  return performance.timeOrigin + performance.now();
}

function memory(): NodeJS.MemoryUsage {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  return process.memoryUsage();
}

async function main(): Promise<void> {
  const config = loadConfig();
  const app = await startApp(config, createLogger(config.logLevel));
  type Message = {
    authorization?: 'on' | 'off';
    audit?: 'on' | 'off';
    outbox?: 'on' | 'off';
    emit?: EmitRequest;
    memory?: boolean;
    stop?: boolean;
  };
  process.on('message', (message: Message) => {
    if (message.authorization) {
      app.services.authorizer.setBenchmarkBypass(message.authorization === 'off');
      process.send?.({ ok: true });
    }
    if (message.audit) {
      app.services.audit.setBenchmarkBypass(message.audit === 'off');
      process.send?.({ ok: true });
    }
    if (message.outbox) {
      app.services.outbox.setBenchmarkBypass(message.outbox === 'off');
      process.send?.({ ok: true });
    }
    if (message.emit) {
      emit(app, message.emit).then(
        (committedAt) => process.send?.({ committedAt }),
        (err: unknown) => process.send?.({ error: String(err) }),
      );
    }
    if (message.memory) process.send?.({ memory: memory() });
    if (message.stop) void app.stop().then(() => process.exit(0));
  });
  process.send?.({ port: app.port });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench server failed: ${String(err)}\n`);
  process.exit(1);
});
