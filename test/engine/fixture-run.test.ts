import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  actionExecutions,
  CREATE_PIPELINE,
  eventually,
  latestExecution,
  waitForStatus,
} from '../support/executions';
import { newAccount, type TestAccount } from '../support/factories';
import { GitRepo } from '../support/git-repo';
import { startTestServer, type TestServer } from '../support/test-server';

/**
 * The worked example of docs/pipelines.md, from its JSON fixture: a Node.js project from git,
 * built with `npm ci && npm run build`, approved, deployed to a folder named by the version.
 */
let server: TestServer;
let account: TestAccount;
let repo: GitRepo;
let www: string;

beforeAll(async () => {
  server = await startTestServer();
  account = await newAccount(server, 'fixture');
  repo = GitRepo.create({
    'package.json': JSON.stringify({
      name: 'web-app',
      version: '2.3.4',
      private: true,
      scripts: { build: 'mkdir -p dist && cp index.html dist/' },
    }),
    'package-lock.json': JSON.stringify({
      name: 'web-app',
      version: '2.3.4',
      lockfileVersion: 3,
      requires: true,
      packages: { '': { name: 'web-app', version: '2.3.4' } },
    }),
    'index.html': '<h1>web-app</h1>\n',
  });
  www = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-www-'));
});
afterAll(async () => {
  await server.stop();
  repo.remove();
  fs.rmSync(www, { recursive: true, force: true });
});

describe('the git → build → approve → deploy fixture', () => {
  it('runs as documented', async () => {
    const fixture = JSON.parse(
      fs.readFileSync(path.join(__dirname, '../fixtures/pipelines/git-build-approve-deploy.json'), 'utf8'),
    );
    fixture.stages[0].actions[0].configuration.RepositoryUrl = repo.dir;
    fixture.stages[3].actions[0].configuration.TargetDirectory = `${www}/v#{BuildVariables.Version}`;
    await account.root.ok(CREATE_PIPELINE, { p: fixture });
    const execution = (await latestExecution(account.root, 'web-app'))!;
    const approval = await eventually(
      () => actionExecutions(account.root, 'web-app', execution.pipelineExecutionId),
      (actions) => actions.some((a) => a.actionName === 'ReleaseApproval' && a.token),
      120,
    );
    const pending = approval.find((a) => a.actionName === 'ReleaseApproval')!;
    expect(pending.input.resolvedConfiguration?.CustomData).toBe(`Release 2.3.4 of commit ${repo.head()}?`);
    await account.root.ok(
      `mutation($t: String!) { putApprovalResult(pipelineName: "web-app", stageName: "Approve", actionName: "ReleaseApproval",
         token: $t, result: { status: APPROVED, summary: "looks good" }) }`,
      { t: pending.token },
    );
    await waitForStatus(account.root, 'web-app', execution.pipelineExecutionId, 'SUCCEEDED', 120);
    expect(fs.readFileSync(path.join(www, 'v2.3.4', 'current', 'index.html'), 'utf8')).toBe(
      '<h1>web-app</h1>\n',
    );
  });
});
