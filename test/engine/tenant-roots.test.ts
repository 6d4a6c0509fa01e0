import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CREATE_PIPELINE,
  actionExecutions,
  latestExecution,
  start,
  waitForStatus,
  type Execution,
  gitSourceStage,
} from '../support/executions';
import { newAccount, type TestAccount } from '../support/factories';
import { GitRepo } from '../support/git-repo';
import { startTestServer, type TestServer } from '../support/test-server';

/**
 * Deploy/Directory, Source/Git and Invoke/Webhook stay inside the tenant, end to end through
 * GraphQL. The server runs with the default deploy roots (`<data dir>/deployments/<account id>`)
 * and no webhook allow list; Git local roots are the test harness's temp folders.
 */

let server: TestServer;
let a: TestAccount;
let b: TestAccount;
let repo: GitRepo;

const deploy = { category: 'Deploy', owner: 'Sluice', provider: 'Directory', version: '1' };

function sourceAndDeploy(name: string, repoUrl: string, target: string): Record<string, unknown> {
  return {
    name,
    variables: [
      { name: 'target', defaultValue: target },
      { name: 'repo', defaultValue: repoUrl },
    ],
    stages: [
      gitSourceStage('#{variables.repo}'),
      {
        name: 'Deploy',
        actions: [
          {
            name: 'Site',
            actionTypeId: deploy,
            configuration: { TargetDirectory: '#{variables.target}' },
            inputArtifacts: [{ name: 'Src' }],
          },
        ],
      },
    ],
  };
}

/** A local path outside the Git roots (it need not exist: it is refused before git runs). */
const outsideRepo = '/srv/elsewhere/app.git';

const deployRoot = (account: TestAccount) => path.join(server.dataDir, 'deployments', account.accountId);

async function firstExecution(account: TestAccount, name: string): Promise<Execution> {
  let found: Execution | undefined;
  for (const deadline = Date.now() + 30_000; !found && Date.now() < deadline;) {
    found = await latestExecution(account.root, name);
    if (!found) await new Promise((r) => setTimeout(r, 100));
  }
  expect(found).toBeDefined();
  return found!;
}

beforeAll(async () => {
  server = await startTestServer({ SLUICE_DEPLOY_ROOTS: '', SLUICE_WEBHOOK_ALLOW_HOSTS: '' });
  a = await newAccount(server, 'team-a');
  b = await newAccount(server, 'team-b');
  repo = GitRepo.create({ 'index.html': '<h1>a</h1>' });
}, 60_000);

afterAll(async () => {
  repo?.remove();
  await server?.stop();
});

describe('Deploy/Directory targets', () => {
  it('refuses at createPipeline a TargetDirectory outside the deploy roots, naming the field and the roots', async () => {
    const declaration = sourceAndDeploy('outside', repo.dir, '/tmp/x');
    const stages = declaration.stages as { actions: { configuration: Record<string, string> }[] }[];
    stages[1].actions[0].configuration.TargetDirectory = path.join(os.tmpdir(), 'somewhere-else');
    const error = await a.root.fails(CREATE_PIPELINE, { p: declaration }, 'BAD_USER_INPUT');
    expect(error.extensions?.problems).toEqual([
      {
        path: 'stages[1](Deploy).actions[0](Site).configuration.TargetDirectory',
        message: `must lie under an allowed deploy root (SLUICE_DEPLOY_ROOTS: ${deployRoot(a)})`,
      },
    ]);
    // Another account's folder is outside too, and `..` does not help.
    stages[1].actions[0].configuration.TargetDirectory = `${deployRoot(a)}/../${b.accountId}/site`;
    const escaped = await a.root.fails(CREATE_PIPELINE, { p: declaration }, 'BAD_USER_INPUT');
    expect(escaped.extensions?.problems).toMatchObject([
      { path: 'stages[1](Deploy).actions[0](Site).configuration.TargetDirectory' },
    ]);
  });

  it('deploys into the account folder, and a variable pointing at another account is refused when it runs', async () => {
    await b.root.ok(CREATE_PIPELINE, { p: sourceAndDeploy('site', repo.dir, `${deployRoot(b)}/site`) });
    await waitForStatus(b.root, 'site', (await firstExecution(b, 'site')).pipelineExecutionId, 'SUCCEEDED');
    const bCurrent = fs.readlinkSync(path.join(deployRoot(b), 'site', 'current'));

    await a.root.ok(CREATE_PIPELINE, { p: sourceAndDeploy('site', repo.dir, `${deployRoot(a)}/site`) });
    await waitForStatus(a.root, 'site', (await firstExecution(a, 'site')).pipelineExecutionId, 'SUCCEEDED');
    expect(fs.readFileSync(path.join(deployRoot(a), 'site', 'current', 'index.html'), 'utf8')).toBe(
      '<h1>a</h1>',
    );

    // A symlink inside the account's own folder does not lead out of it either.
    fs.symlinkSync(deployRoot(b), path.join(deployRoot(a), 'to-b'));
    for (const target of [`${deployRoot(b)}/site`, `${deployRoot(a)}/to-b/site`]) {
      const run = await start(a.root, 'site', [{ name: 'target', value: target }]);
      await waitForStatus(a.root, 'site', run.pipelineExecutionId, 'FAILED');
      const site = (await actionExecutions(a.root, 'site', run.pipelineExecutionId)).find(
        (x) => x.actionName === 'Site',
      );
      expect(site).toMatchObject({
        status: 'FAILED',
        failureType: 'CONFIGURATION_ERROR',
        summary: `TargetDirectory ${target} is not under an allowed deploy root (${deployRoot(a)})`,
      });
    }
    expect(fs.readlinkSync(path.join(deployRoot(b), 'site', 'current'))).toBe(bCurrent);
  });
});

describe('Source/Git local repositories', () => {
  it('refuses at createPipeline a local path or file:// URL outside the Git roots', async () => {
    for (const url of [outsideRepo, `file://${outsideRepo}`]) {
      const declaration = sourceAndDeploy('local', url, `${deployRoot(a)}/local`);
      const stages = declaration.stages as { actions: { configuration: Record<string, string> }[] }[];
      stages[0].actions[0].configuration.RepositoryUrl = url;
      const error = await a.root.fails(CREATE_PIPELINE, { p: declaration }, 'BAD_USER_INPUT');
      expect(error.extensions?.problems).toEqual([
        {
          path: 'stages[0](Source).actions[0](Checkout).configuration.RepositoryUrl',
          message: `is a local repository outside the allowed Git roots (SLUICE_GIT_LOCAL_ROOTS: ${os.tmpdir()}, /srv/git); use a remote URL or a path under one of them`,
        },
      ]);
    }
  });

  it('refuses a variable that points the source at a local repository outside the roots', async () => {
    await a.root.ok(CREATE_PIPELINE, { p: sourceAndDeploy('reader', repo.dir, `${deployRoot(a)}/reader`) });
    await waitForStatus(
      a.root,
      'reader',
      (await firstExecution(a, 'reader')).pipelineExecutionId,
      'SUCCEEDED',
    );
    const run = await start(a.root, 'reader', [{ name: 'repo', value: outsideRepo }]);
    await waitForStatus(a.root, 'reader', run.pipelineExecutionId, 'FAILED');
    const checkout = (await actionExecutions(a.root, 'reader', run.pipelineExecutionId)).find(
      (x) => x.actionName === 'Checkout',
    );
    expect(checkout).toMatchObject({
      status: 'FAILED',
      failureType: 'CONFIGURATION_ERROR',
      summary: `RepositoryUrl ${outsideRepo} is a local repository outside the allowed Git roots (SLUICE_GIT_LOCAL_ROOTS: ${os.tmpdir()}, /srv/git); use a remote URL or a path under one of them`,
    });
  });
});

describe('Invoke/Webhook hosts', () => {
  it('refuses loopback and link-local URLs without the allow list, and sends nothing', async () => {
    let received = 0;
    const callee = http.createServer((_request, response) => {
      received++;
      response.writeHead(204).end();
    });
    await new Promise<void>((resolve) => callee.listen(0, '127.0.0.1', resolve));
    const port = (callee.address() as AddressInfo).port;
    try {
      const urls = [
        `http://127.0.0.1:${port}/hook`,
        `http://localhost:${port}/hook`,
        `http://[::1]:${port}/hook`,
        'http://169.254.169.254/latest/meta-data/',
      ];
      const declaration = sourceAndDeploy('hooks', repo.dir, `${deployRoot(a)}/hooks`);
      const stages = declaration.stages as Record<string, unknown>[];
      stages[1] = {
        name: 'Notify',
        actions: urls.map((url, index) => ({
          name: `Hook${index}`,
          actionTypeId: { category: 'Invoke', owner: 'Sluice', provider: 'Webhook', version: '1' },
          configuration: { Url: url },
        })),
      };
      await a.root.ok(CREATE_PIPELINE, { p: declaration });
      const run = await firstExecution(a, 'hooks');
      await waitForStatus(a.root, 'hooks', run.pipelineExecutionId, 'FAILED');
      const hooks = (await actionExecutions(a.root, 'hooks', run.pipelineExecutionId)).filter((x) =>
        x.actionName.startsWith('Hook'),
      );
      expect(hooks).toHaveLength(urls.length);
      for (const hook of hooks) {
        expect(hook).toMatchObject({
          status: 'FAILED',
          failureType: 'CONFIGURATION_ERROR',
          summary: expect.stringMatching(
            /^Webhook host \S+ resolves to \S+ \((loopback|link-local)\), which webhooks may not call; the platform can allow it with SLUICE_WEBHOOK_ALLOW_HOSTS$/,
          ),
        });
      }
      expect(received).toBe(0);
    } finally {
      await new Promise((resolve) => callee.close(resolve));
    }
  });
});
