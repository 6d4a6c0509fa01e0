import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREATE_PIPELINE, latestExecution, sourceAndBuild } from '../support/executions';
import { newAccount, type TestAccount } from '../support/factories';
import { GitRepo } from '../support/git-repo';
import { cleanEnv } from '../support/server-process';
import { startTestServer, type TestServer } from '../support/test-server';

/** docs/events.md's way to watch an execution without curl: examples/watch-pipeline.ts. */
const root = path.resolve(__dirname, '../..');
let server: TestServer;
let account: TestAccount;
let repo: GitRepo;

function watch(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        path.join(root, 'node_modules/tsx/dist/cli.mjs'),
        path.join(root, 'examples/watch-pipeline.ts'),
        ...args,
      ],
      { env: cleanEnv(env), cwd: root },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`watcher did not finish in 60 s:\n${out}`));
    }, 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

beforeAll(async () => {
  server = await startTestServer();
  account = await newAccount(server, 'watch');
  repo = GitRepo.create({ 'app.txt': 'hello\n' });
});
afterAll(async () => {
  await server.stop();
  repo.remove();
});

describe('examples/watch-pipeline.ts', () => {
  it('prints an execution’s state changes and its build output, then exits 0 when it succeeds', async () => {
    await account.root.ok(CREATE_PIPELINE, {
      p: sourceAndBuild('watched', repo.dir, 'echo line-one; sleep 1; echo line-two'),
    });
    const run = (await latestExecution(account.root, 'watched'))!;
    const { code, out } = await watch(
      ['watched', '--execution', run.pipelineExecutionId, '--logs', '--after', '0'],
      {
        SLUICE_ENDPOINT: server.url,
        SLUICE_ACCOUNT_ID: account.accountId,
        SLUICE_USER: 'root',
        SLUICE_PASSWORD: account.rootPassword,
      },
    );
    expect(code, out).toBe(0);
    // Events in order, and the log in order; the two streams interleave as they arrive.
    const at = (text: string): number => out.indexOf(text);
    for (const text of ['Source / Checkout: STARTED', 'Build / Build: STARTED', 'pipeline: SUCCEEDED'])
      expect(at(text), out).toBeGreaterThanOrEqual(0);
    expect(at('Source / Checkout: STARTED')).toBeLessThan(at('Build / Build: STARTED'));
    expect(at('Build / Build: STARTED')).toBeLessThan(at('pipeline: SUCCEEDED'));
    expect(at('Build | line-one'), out).toBeGreaterThanOrEqual(0);
    expect(at('Build | line-one')).toBeLessThan(at('Build | line-two'));
  });

  it('exits 1 when the execution fails, and refuses a bad token with the close code', async () => {
    await account.root.ok(CREATE_PIPELINE, { p: sourceAndBuild('broken', repo.dir, 'exit 4') });
    const run = (await latestExecution(account.root, 'broken'))!;
    const failed = await watch(['broken', '--execution', run.pipelineExecutionId, '--after', '0'], {
      SLUICE_ENDPOINT: server.url,
      SLUICE_ACCOUNT_ID: account.accountId,
      SLUICE_USER: 'root',
      SLUICE_PASSWORD: account.rootPassword,
    });
    expect(failed.code, failed.out).toBe(1);
    expect(failed.out).toContain('pipeline: FAILED');
    const refused = await watch(['broken'], { SLUICE_ENDPOINT: server.url, SLUICE_TOKEN: 'not-a-token' });
    expect(refused.code).toBe(1);
    expect(refused.out).toContain('closed: 4401');
  });
});
