import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../support/database';
import { CREATE_PIPELINE, eventually, sourceAndBuild, start } from '../support/executions';
import { signIn } from '../support/factories';
import { GraphQLClient } from '../support/graphql-client';
import { GitRepo } from '../support/git-repo';
import { exited, startServerProcess, type ServerProcess } from '../support/server-process';

/**
 * A real server process killed with SIGKILL in the middle of running actions, then started
 * again: every execution ends (or resumes) with a reason, no action succeeds twice, none stays
 * IN_PROGRESS forever.
 */
let databaseUrl: string;
let dataDir: string;
let repo: GitRepo;
let flags: string;
let server: ServerProcess | undefined;

const env = (): Record<string, string> => ({
  DATABASE_URL: databaseUrl,
  SLUICE_DATA_DIR: dataDir,
  SLUICE_ADMIN_PASSWORD: 'crash-admin-password',
  SLUICE_JOB_LEASE_SECONDS: '3',
  SLUICE_LOG_LEVEL: 'warn',
  // The pipeline's repository is a temp folder: a local root the server must allow.
  SLUICE_GIT_LOCAL_ROOTS: os.tmpdir(),
});

beforeAll(async () => {
  databaseUrl = await freshDatabase();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-crash-'));
  flags = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-crash-flags-'));
  fs.chmodSync(flags, 0o777);
  repo = GitRepo.create({ 'app.txt': 'x\n' });
});
afterAll(async () => {
  if (server && server.child.exitCode === null) {
    server.child.kill('SIGTERM');
    await exited(server.child);
  }
  repo.remove();
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(flags, { recursive: true, force: true });
});

describe('kill -9 in the middle of actions', () => {
  it('resumes or ends every execution, and no action succeeds twice', async () => {
    server = await startServerProcess(env());
    const anonymous = new GraphQLClient(server.url);
    const admin = await signIn(anonymous, '000000000000', 'admin', 'crash-admin-password');
    const created = await admin.ok<{ createAccount: { accountId: string; rootPassword: string } }>(
      `mutation { createAccount(name: "crash") { accountId rootPassword } }`,
    );
    const rootToken = (
      await signIn(anonymous, created.createAccount.accountId, 'root', created.createAccount.rootPassword)
    ).token!;
    const root = anonymous.withToken(rootToken);
    // Each build appends a line per run to a file, so a run done twice would show.
    await root.ok(CREATE_PIPELINE, {
      p: {
        ...sourceAndBuild(
          'crashy',
          repo.dir,
          `sleep 2; echo "$SLUICE_PIPELINE_EXECUTION_ID" >> ${flags}/runs`,
        ),
        executionMode: 'PARALLEL',
      },
    });
    for (let i = 0; i < 4; i++) await start(root, 'crashy');
    // Wait until builds are running, then kill the server without warning.
    await eventually(
      () =>
        root.ok<{ actionExecutions: { nodes: { stageName: string; status: string }[] } }>(
          `{ actionExecutions(pipelineName: "crashy", first: 100) { nodes { stageName status } } }`,
        ),
      (d) =>
        d.actionExecutions.nodes.filter((n) => n.stageName === 'Build' && n.status === 'IN_PROGRESS')
          .length >= 2,
    );
    server.child.kill('SIGKILL');
    await exited(server.child);

    server = await startServerProcess(env());
    const again = new GraphQLClient(server.url, rootToken);
    const final = await eventually(
      () =>
        again.ok<{
          pipelineExecutions: {
            nodes: { pipelineExecutionId: string; status: string; statusSummary: string | null }[];
          };
        }>(
          `{ pipelineExecutions(pipelineName: "crashy", first: 20) { nodes { pipelineExecutionId status statusSummary } } }`,
        ),
      (d) => d.pipelineExecutions.nodes.every((n) => n.status !== 'IN_PROGRESS' && n.status !== 'STOPPING'),
      90,
    );
    expect(final.pipelineExecutions.nodes).toHaveLength(5);
    for (const e of final.pipelineExecutions.nodes) {
      if (e.status !== 'SUCCEEDED') expect(e.statusSummary, e.status).toBeTruthy();
    }
    const db = new Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const doubles = await db.query(
        `SELECT pipeline_execution_id, stage_name, action_name, count(*) FROM action_executions
          WHERE status = 'SUCCEEDED' GROUP BY 1, 2, 3 HAVING count(*) > 1`,
      );
      expect(doubles.rows).toEqual([]);
      const jobs = await db.query(
        `SELECT count(*) AS n FROM jobs WHERE status NOT IN ('SUCCEEDED', 'FAILED', 'TIMED_OUT')`,
      );
      expect(Number(jobs.rows[0].n)).toBe(0);
    } finally {
      await db.end();
    }
  });
});
