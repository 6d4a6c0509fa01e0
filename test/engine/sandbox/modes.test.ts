import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config';
import { actionExecutions, CREATE_PIPELINE, latestExecution, sourceAndBuild } from '../../support/executions';
import { newAccount } from '../../support/factories';
import { GitRepo } from '../../support/git-repo';
import type { GraphQLClient } from '../../support/graphql-client';
import { startTestServer, type TestServer } from '../../support/test-server';
import { startGitHttpServer, type GitHttpServer } from './git-http-server';

/**
 * How SLUICE_SANDBOX resolves, and what happens without a sandbox. This machine runs as root
 * with a working bubblewrap, so the other machines are shown to detection through
 * `sandboxFacts`: not root, no bwrap binary, or a "bwrap" that cannot start a sandbox.
 */

const TERMINAL = ['SUCCEEDED', 'FAILED', 'STOPPED'];

let repo: GitRepo;
let remote: GitHttpServer;
const started: TestServer[] = [];

beforeAll(async () => {
  repo = GitRepo.create({ 'app.txt': 'hello\n' });
  remote = await startGitHttpServer(path.dirname(repo.dir));
});

afterAll(async () => {
  await Promise.all(started.map((server) => server.stop()));
  await remote?.close();
  repo?.remove();
});

async function serve(...args: Parameters<typeof startTestServer>): Promise<TestServer> {
  const server = await startTestServer(...args);
  started.push(server);
  return server;
}

async function readyz(server: TestServer): Promise<Record<string, string>> {
  return (await (await fetch(server.url.replace('/graphql', '/readyz'))).json()) as Record<string, string>;
}

/** Runs Source (git) → Build (shell) to its end; the failed action's type and summary. */
async function run(client: GraphQLClient, name: string, repositoryUrl: string, commands: string) {
  await client.ok(CREATE_PIPELINE, { p: sourceAndBuild(name, repositoryUrl, commands) });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const execution = await latestExecution(client, name);
    if (execution && TERMINAL.includes(execution.status)) {
      const actions = await actionExecutions(client, name, execution.pipelineExecutionId);
      return { execution, failed: actions.find((action) => action.status === 'FAILED') };
    }
    if (Date.now() > deadline) throw new Error(`${name} did not end`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const notRoot = { root: false, bwrap: undefined };

describe('without a sandbox (not root, no bubblewrap), SLUICE_SANDBOX=auto', () => {
  let server: TestServer;
  let client: GraphQLClient;

  beforeAll(async () => {
    server = await serve({}, { app: { sandboxFacts: notRoot } });
    client = (await newAccount(server)).root;
  });

  it('starts, and says so in /readyz', async () => {
    expect(await readyz(server)).toMatchObject({ status: 'ready', sandbox: 'unavailable' });
  });

  it('fails a shell action with CONFIGURATION_ERROR saying how to fix it (a remote git source still runs)', async () => {
    const { execution, failed } = await run(
      client,
      'no-sandbox-shell',
      remote.url(`${path.basename(repo.dir)}/.git`),
      'id',
    );
    expect(execution.status).toBe('FAILED');
    expect(failed).toMatchObject({ stageName: 'Build', failureType: 'CONFIGURATION_ERROR' });
    expect(failed?.summary).toMatch(/must run in a sandbox/);
    expect(failed?.summary).toMatch(/install bubblewrap/);
    expect(failed?.summary).toMatch(/SLUICE_SANDBOX=none/);
  });

  it('fails a local-git source with CONFIGURATION_ERROR', async () => {
    const { execution, failed } = await run(client, 'no-sandbox-git', repo.dir, 'id');
    expect(execution.status).toBe('FAILED');
    expect(failed).toMatchObject({ stageName: 'Source', failureType: 'CONFIGURATION_ERROR' });
    expect(failed?.summary).toMatch(/local repository must run in a sandbox.*SLUICE_SANDBOX=none/);
  });
});

describe('resolving SLUICE_SANDBOX', () => {
  it('auto: bubblewrap when it works, else the slot uids when root', async () => {
    expect(await readyz(await serve())).toMatchObject({ sandbox: 'bwrap' });
    const brokenBwrap = await serve({}, { app: { sandboxFacts: { bwrap: '/bin/false' } } });
    expect(await readyz(brokenBwrap)).toMatchObject({ sandbox: 'uid' });
  });

  it('stops start-up, naming the variable, when an explicit mode cannot work here', async () => {
    const failure = (setting: string, facts: object) =>
      serve({ SLUICE_SANDBOX: setting }, { app: { sandboxFacts: facts } }).then(
        () => undefined,
        (error: unknown) => error,
      );
    const missing = await failure('bwrap', { bwrap: undefined });
    expect(missing).toBeInstanceOf(ConfigError);
    expect((missing as Error).message).toMatch(
      /SLUICE_SANDBOX is bwrap, but bubblewrap cannot run here: .*not installed/,
    );
    const broken = await failure('bwrap', { bwrap: '/bin/false' });
    expect((broken as Error).message).toMatch(/SLUICE_SANDBOX is bwrap, but .*trial sandbox failed/);
    const uid = await failure('uid', notRoot);
    expect((uid as Error).message).toMatch(/SLUICE_SANDBOX is uid, which needs the server to run as root/);
  });

  it('none: jobs run unconfined, as the server user', async () => {
    const server = await serve({ SLUICE_SANDBOX: 'none' });
    expect(await readyz(server)).toMatchObject({ sandbox: 'none' });
    const client = (await newAccount(server)).root;
    const { execution } = await run(client, 'unconfined', repo.dir, 'test "$(id -u)" = 0');
    expect(execution.status, execution.statusSummary ?? '').toBe('SUCCEEDED');
  });

  it('refuses slot uids that belong to a user or group of this machine', async () => {
    // nobody (65534) is in every Debian /etc/passwd; slots 65530…65537 would include it.
    const error = await serve({ SLUICE_SANDBOX_UID_BASE: '65530', SLUICE_WORKER_CONCURRENCY: '8' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(
      /SLUICE_SANDBOX_UID_BASE .*uid 65534 belongs to the user "nobody"/,
    );
  });
});
