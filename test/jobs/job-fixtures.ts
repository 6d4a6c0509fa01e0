import { randomInt, randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { actionTypeKey } from '../../src/engine/engine-signals';
import type { ActionTypeKey } from '../../src/engine/providers/provider';
import type { JobData } from '../../src/jobs/job-data';

/**
 * The rows the engine would write before a job exists (account, pipeline, execution, action
 * execution), so the job protocol is tested on its own against the real schema.
 */
export interface SeededExecution {
  accountId: string;
  pipelineName: string;
  pipelineExecutionId: string;
}

export interface SeededJob {
  jobId: string;
  actionExecutionId: string;
  data: JobData;
}

export const shellType: ActionTypeKey = {
  category: 'Build',
  owner: 'Sluice',
  provider: 'Shell',
  version: '1',
};

export async function seedExecution(ds: DataSource, pipelineName = 'demo'): Promise<SeededExecution> {
  const accountId = String(randomInt(100_000_000_000, 999_999_999_999));
  await ds.query(`INSERT INTO accounts (id, name, root_password_hash) VALUES ($1, 'jobs-test', 'x')`, [
    accountId,
  ]);
  await ds.query(`INSERT INTO pipelines (account_id, name, version, declaration) VALUES ($1, $2, 1, '{}')`, [
    accountId,
    pipelineName,
  ]);
  const pipelineExecutionId = randomUUID();
  await ds.query(
    `INSERT INTO pipeline_executions (account_id, id, pipeline_name, pipeline_version, execution_mode, status, trigger_type)
     VALUES ($1, $2, $3, 1, 'SUPERSEDED', 'IN_PROGRESS', 'StartPipelineExecution')`,
    [accountId, pipelineExecutionId, pipelineName],
  );
  return { accountId, pipelineName, pipelineExecutionId };
}

export interface JobSpec {
  actionName?: string;
  type?: ActionTypeKey;
  configuration?: Record<string, string>;
  inputs?: JobData['inputArtifacts'];
  outputs?: string[];
  timeoutMinutes?: number;
}

/** An IN_PROGRESS action execution and its QUEUED job, as the engine inserts them. */
export async function insertJob(
  ds: DataSource,
  execution: SeededExecution,
  spec: JobSpec = {},
): Promise<SeededJob> {
  const type = spec.type ?? shellType;
  const actionName = spec.actionName ?? 'Compile';
  const actionExecutionId = randomUUID();
  const jobId = randomUUID();
  await ds.query(
    `INSERT INTO action_executions (account_id, id, pipeline_execution_id, pipeline_name, stage_name, action_name,
       stage_attempt, run_order, action_type, status, configuration, resolved_configuration)
     VALUES ($1, $2, $3, $4, 'Build', $5, 1, 1, $6, 'IN_PROGRESS', $7, $7)`,
    [
      execution.accountId,
      actionExecutionId,
      execution.pipelineExecutionId,
      execution.pipelineName,
      actionName,
      actionTypeKey(type),
      JSON.stringify(spec.configuration ?? {}),
    ],
  );
  const data: JobData = {
    actionTypeId: type,
    actionConfiguration: spec.configuration ?? {},
    pipelineContext: {
      pipelineName: execution.pipelineName,
      stage: 'Build',
      action: actionName,
      pipelineExecutionId: execution.pipelineExecutionId,
      actionExecutionId,
    },
    inputArtifacts: spec.inputs ?? [],
    outputArtifacts: (spec.outputs ?? []).map((name) => ({ name })),
    timeoutMinutes: spec.timeoutMinutes ?? 5,
  };
  await ds.query(
    `INSERT INTO jobs (account_id, id, action_execution_id, action_type, status, data)
     VALUES ($1, $2, $3, $4, 'QUEUED', $5)`,
    [execution.accountId, jobId, actionExecutionId, actionTypeKey(type), JSON.stringify(data)],
  );
  return { jobId, actionExecutionId, data };
}

export interface JobRecord {
  status: string;
  nonce: string | null;
  attempt: number;
  cancel_requested: boolean;
  worker_id: string | null;
  lease_expires_at: Date | null;
}

export async function jobRecord(ds: DataSource, accountId: string, jobId: string): Promise<JobRecord> {
  const [row] = await ds.query('SELECT * FROM jobs WHERE account_id = $1 AND id = $2', [accountId, jobId]);
  return row as JobRecord;
}

export interface ActionRecord {
  status: string;
  summary: string | null;
  output_variables: Record<string, string>;
  external_execution_id: string | null;
  failure_type: string | null;
  failure_message: string | null;
}

export async function actionRecord(
  ds: DataSource,
  accountId: string,
  actionExecutionId: string,
): Promise<ActionRecord> {
  const [row] = await ds.query('SELECT * FROM action_executions WHERE account_id = $1 AND id = $2', [
    accountId,
    actionExecutionId,
  ]);
  return row as ActionRecord;
}

/** Makes held leases look expired (all of the account's, or these jobs'), as if their worker had gone silent. */
export async function expireLeases(ds: DataSource, accountId: string, jobIds?: string[]): Promise<void> {
  await ds.query(
    `UPDATE jobs SET lease_expires_at = now() - interval '1 second'
      WHERE account_id = $1 AND status IN ('DISPATCHED', 'IN_PROGRESS') AND ($2::uuid[] IS NULL OR id = ANY($2))`,
    [accountId, jobIds ?? null],
  );
}

export async function isDirty(ds: DataSource, execution: SeededExecution): Promise<boolean> {
  const rows: { dirty: boolean }[] = await ds.query(
    'SELECT dirty FROM pipeline_engine_state WHERE account_id = $1 AND pipeline_name = $2',
    [execution.accountId, execution.pipelineName],
  );
  return rows[0]?.dirty ?? false;
}

export async function clearDirty(ds: DataSource, execution: SeededExecution): Promise<void> {
  await ds.query(
    'UPDATE pipeline_engine_state SET dirty = false WHERE account_id = $1 AND pipeline_name = $2',
    [execution.accountId, execution.pipelineName],
  );
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
