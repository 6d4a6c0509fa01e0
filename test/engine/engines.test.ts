import path from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CREATE_PIPELINE,
  latestExecution,
  sourceAndBuild,
  start,
  waitForStatus,
} from '../support/executions';
import { newAccount, type TestAccount } from '../support/factories';
import { GitRepo } from '../support/git-repo';
import { startTestServer, type TestServer } from '../support/test-server';

/** Two server processes' worth of engine and worker on one database, side by side. */
let a: TestServer;
let b: TestServer;
let account: TestAccount;
let repo: GitRepo;

beforeAll(async () => {
  a = await startTestServer();
  // One signing key for both, so each verifies the other's tokens (docs/audit.md, trusted keys).
  b = await startTestServer(
    { SLUICE_SIGNING_KEY_FILE: path.join(a.dataDir, 'signing-key.pem') },
    { databaseUrl: a.databaseUrl },
  );
  account = await newAccount(a, 'engines');
  repo = GitRepo.create({ 'app.txt': 'x\n' });
});
afterAll(async () => {
  await b.stop();
  await a.stop();
  repo.remove();
});

describe('two engine instances on one database', () => {
  it('run every action exactly once', async () => {
    await account.root.ok(CREATE_PIPELINE, {
      p: {
        ...sourceAndBuild('shared', repo.dir, 'echo built'),
        executionMode: 'PARALLEL',
      },
    });
    const created = (await latestExecution(account.root, 'shared'))!;
    const onB = b.client.withToken(account.root.token!);
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => start(i % 2 ? onB : account.root, 'shared')),
    );
    for (const run of [created, ...runs])
      await waitForStatus(account.root, 'shared', run.pipelineExecutionId, 'SUCCEEDED');
    const db = new Client({ connectionString: a.databaseUrl });
    await db.connect();
    try {
      const perAction = await db.query(
        `SELECT pipeline_execution_id, stage_name, action_name, count(*) AS runs,
                count(*) FILTER (WHERE status = 'SUCCEEDED') AS succeeded
           FROM action_executions WHERE pipeline_name = 'shared'
          GROUP BY 1, 2, 3`,
      );
      expect(perAction.rows).toHaveLength(9 * 2);
      expect(perAction.rows.every((r) => Number(r.runs) === 1 && Number(r.succeeded) === 1)).toBe(true);
      const jobs = await db.query(
        `SELECT j.action_execution_id, count(*) AS n, count(DISTINCT j.worker_id) AS workers
           FROM jobs j JOIN action_executions a ON a.account_id = j.account_id AND a.id = j.action_execution_id
          WHERE a.pipeline_name = 'shared' GROUP BY 1`,
      );
      expect(jobs.rows.every((r) => Number(r.n) === 1)).toBe(true);
    } finally {
      await db.end();
    }
  });

  it('a pipeline that cannot be decided does not hold up the others', async () => {
    await account.root.ok(CREATE_PIPELINE, { p: sourceAndBuild('aaa-broken', repo.dir, 'true') });
    await account.root.ok(CREATE_PIPELINE, { p: sourceAndBuild('zzz-fine', repo.dir, 'true') });
    const db = new Client({ connectionString: a.databaseUrl });
    await db.connect();
    try {
      // An execution pinned to a version that does not exist: deciding for it throws.
      await db.query(
        `INSERT INTO pipeline_executions (account_id, id, pipeline_name, pipeline_version, execution_mode, status, trigger_type)
         VALUES ($1, gen_random_uuid(), 'aaa-broken', 99, 'SUPERSEDED', 'IN_PROGRESS', 'START_PIPELINE_EXECUTION')`,
        [account.accountId],
      );
      await db.query(`UPDATE pipeline_engine_state SET dirty = true WHERE pipeline_name = 'aaa-broken'`);
    } finally {
      await db.end();
    }
    const run = await start(account.root, 'zzz-fine');
    await waitForStatus(account.root, 'zzz-fine', run.pipelineExecutionId, 'SUCCEEDED');
  });
});
