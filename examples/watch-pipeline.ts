/**
 * Watches a pipeline live: every execution, stage and action state change as it happens, and
 * with --logs the output of each action while it runs. Reconnects by itself and resumes from
 * the last event it printed, so a dropped connection loses nothing.
 *
 *   npx tsx examples/watch-pipeline.ts <pipeline> [--execution <id>] [--logs] [--after <sequence>]
 *
 * Environment: SLUICE_ENDPOINT (default http://localhost:4000/graphql), and either
 * SLUICE_TOKEN (a session token) or SLUICE_ACCOUNT_ID, SLUICE_USER and SLUICE_PASSWORD to sign
 * in. With --execution it exits when that execution ends (0 if it succeeded, 1 otherwise).
 * It needs only the `graphql-ws` and `ws` packages.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

interface PipelineEvent {
  sequence: string;
  time: string;
  detailType: string;
  executionId: string;
  stage: string | null;
  action: string | null;
  state: string;
  detail: {
    actionExecutionId?: string;
    summary?: string;
    executionResult?: { externalExecutionSummary?: string };
  };
}

const endings = new Set(['SUCCEEDED', 'FAILED', 'STOPPED', 'SUPERSEDED', 'CANCELED']);
/** Close codes after which reconnecting cannot help (docs/events.md). */
const fatalCloses = new Set([4401, 4403]);

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

async function signIn(endpoint: string): Promise<string> {
  if (process.env.SLUICE_TOKEN) return process.env.SLUICE_TOKEN;
  const { SLUICE_ACCOUNT_ID: accountId, SLUICE_USER: userName, SLUICE_PASSWORD: password } = process.env;
  if (!accountId || !userName || !password) {
    throw new Error('set SLUICE_TOKEN, or SLUICE_ACCOUNT_ID, SLUICE_USER and SLUICE_PASSWORD');
  }
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query:
        'mutation($a: String!, $u: String!, $p: String!) { login(accountId: $a, userName: $u, password: $p) { accessToken } }',
      variables: { a: accountId, u: userName, p: password },
    }),
  });
  const body = (await res.json()) as {
    data?: { login: { accessToken: string } };
    errors?: { message: string }[];
  };
  if (!body.data) throw new Error(`sign-in failed: ${body.errors?.map((e) => e.message).join('; ')}`);
  return body.data.login.accessToken;
}

async function main(): Promise<number> {
  const pipeline = process.argv[2];
  if (!pipeline || pipeline.startsWith('--')) {
    process.stderr.write(
      'usage: watch-pipeline <pipeline> [--execution <id>] [--logs] [--after <sequence>]\n',
    );
    return 2;
  }
  const execution = option('--execution');
  const withLogs = process.argv.includes('--logs');
  const endpoint = process.env.SLUICE_ENDPOINT ?? 'http://localhost:4000/graphql';
  const token = await signIn(endpoint);
  const client: Client = createClient({
    url: endpoint.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
  });
  let after = option('--after');
  const following = new Set<string>();
  /** Log streams still open: the watcher exits only once they have delivered everything. */
  const open = new Set<string>();
  let ended: number | undefined;
  let finish: (code: number) => void = () => undefined;
  const maybeFinish = (): void => {
    if (ended === undefined || open.size) return;
    void client.dispose();
    finish(ended);
  };

  const followLog = (actionExecutionId: string, label: string): void => {
    if (following.has(actionExecutionId)) return;
    following.add(actionExecutionId);
    open.add(actionExecutionId);
    let offset = 0;
    const stream = (): void => {
      client.subscribe<{ actionExecutionLogs: { offset: number; text: string } }>(
        {
          query: `subscription($p: String!, $a: ID!, $o: Float) {
            actionExecutionLogs(pipelineName: $p, actionExecutionId: $a, fromOffset: $o) { offset text } }`,
          variables: { p: pipeline, a: actionExecutionId, o: offset },
        },
        {
          next: ({ data }) => {
            const chunk = data?.actionExecutionLogs;
            if (!chunk) return;
            offset = chunk.offset + Buffer.byteLength(chunk.text);
            for (const line of chunk.text.split('\n').filter(Boolean))
              process.stdout.write(`  ${label} | ${line}\n`);
          },
          error: () => setTimeout(stream, 1000), // resumes at the offset it reached
          complete: () => {
            open.delete(actionExecutionId);
            maybeFinish();
          },
        },
      );
    };
    stream();
  };

  return new Promise<number>((resolve) => {
    finish = resolve;
    const watch = (): void => {
      client.subscribe<{ pipelineEvents: PipelineEvent }>(
        {
          query: `subscription($p: String!, $after: String) {
            pipelineEvents(pipelineName: $p, afterSequence: $after) {
              sequence time detailType executionId stage action state detail } }`,
          variables: { p: pipeline, after },
        },
        {
          next: ({ data, errors }) => {
            if (errors) process.stderr.write(`${errors.map((e) => e.message).join('; ')}\n`);
            const event = data?.pipelineEvents;
            if (!event) return;
            after = event.sequence;
            if (execution && event.executionId !== execution) return;
            const where = [event.stage, event.action].filter(Boolean).join(' / ') || 'pipeline';
            const note = event.detail.summary ?? event.detail.executionResult?.externalExecutionSummary ?? '';
            process.stdout.write(
              `${event.sequence.padStart(8)} ${event.time} ${event.executionId.slice(0, 8)} ${where}: ${event.state}${note ? ` (${note})` : ''}\n`,
            );
            if (withLogs && event.action && event.state === 'STARTED' && event.detail.actionExecutionId) {
              followLog(event.detail.actionExecutionId, event.action);
            }
            if (execution && !event.stage && endings.has(event.state)) {
              ended = event.state === 'SUCCEEDED' ? 0 : 1;
              maybeFinish();
            }
          },
          error: (err: unknown) => {
            const code = (err as { code?: number }).code;
            if (code !== undefined && fatalCloses.has(code)) {
              process.stderr.write(`closed: ${code} ${(err as { reason?: string }).reason ?? ''}\n`);
              return resolve(1);
            }
            if (Array.isArray(err)) {
              process.stderr.write(`${err.map((e: { message: string }) => e.message).join('; ')}\n`);
              return resolve(1);
            }
            // Dropped or closed as too slow (4008): resume after the last event printed.
            setTimeout(watch, 1000);
          },
          complete: () => resolve(0),
        },
      );
    };
    watch();
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
