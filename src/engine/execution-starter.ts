import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import type { PipelineDeclaration } from '../pipelines/declaration/declaration';
import { BadInputError, NotFoundError, type Problem } from '../platform/errors';
import { markPipelineDirty } from './engine-signals';
import type { ExecutionRow, TriggerType } from './execution-rows';
import { ExecutionStore, type NewExecution } from './execution-store';
import { resolvePipelineVariables } from './model/variables';

export interface StartRequest {
  accountId: string;
  pipelineName: string;
  triggerType: TriggerType;
  /** e.g. the principal ARN, or the upstream pipeline execution. */
  triggerDetail: string;
  variables?: { name: string; value: string }[];
  /** Source revision overrides: source action name → revision id. */
  sourceRevisions?: { actionName: string; revisionId: string }[];
  clientRequestToken?: string;
}

export interface RollbackRequest {
  accountId: string;
  pipelineName: string;
  stageName: string;
  target: ExecutionRow;
  triggerType: 'MANUAL_ROLLBACK' | 'AUTOMATED_ROLLBACK';
  triggerDetail: string;
}

const TOKEN = /^[A-Za-z0-9-]{1,128}$/;

/**
 * Creates pipeline executions: the intent the engine then drives. Each one pins the
 * pipeline's current version and waits in front of its first stage (or, for a rollback, the
 * stage rolled back) until the engine lets it in.
 */
export class ExecutionStarter {
  constructor(readonly store: ExecutionStore = new ExecutionStore()) {}

  async start(tx: EntityManager, request: StartRequest): Promise<ExecutionRow> {
    const pipeline = await this.currentPipeline(tx, request.accountId, request.pipelineName);
    if (request.clientRequestToken !== undefined) {
      if (!TOKEN.test(request.clientRequestToken)) {
        throw BadInputError.of('Start', [
          { path: 'clientRequestToken', message: 'must be 1–128 letters, digits or dashes' },
        ]);
      }
      const existing: ExecutionRow[] = await tx.query(
        `SELECT * FROM pipeline_executions WHERE account_id = $1 AND pipeline_name = $2 AND client_request_token = $3`,
        [request.accountId, request.pipelineName, request.clientRequestToken],
      );
      // The same token again: the execution it started, not a new one.
      if (existing.length) return existing[0];
    }
    const declaration = pipeline.declaration;
    const variables = resolvePipelineVariables(declaration.variables ?? [], request.variables ?? []);
    const problems: Problem[] = 'problems' in variables ? [...variables.problems] : [];
    const sourceActions = new Set(declaration.stages[0]?.actions.map((a) => a.name));
    const revisions: Record<string, string> = {};
    (request.sourceRevisions ?? []).forEach((r, i) => {
      if (!sourceActions.has(r.actionName)) {
        problems.push({
          path: `sourceRevisions[${i}].actionName`,
          message: `${r.actionName} is not a source action of the pipeline`,
        });
      } else if (!/^[\w./@-]{1,255}$/.test(r.revisionId)) {
        problems.push({
          path: `sourceRevisions[${i}].revisionValue`,
          message: 'must be 1–255 letters, digits or ./@_-',
        });
      } else {
        revisions[r.actionName] = r.revisionId;
      }
    });
    if (problems.length) throw BadInputError.of('Start', problems);
    const values = 'values' in variables ? variables.values : {};
    const execution = await this.insert(tx, {
      accountId: request.accountId,
      pipelineName: request.pipelineName,
      version: pipeline.version,
      declaration,
      executionType: 'STANDARD',
      triggerType: request.triggerType,
      triggerDetail: request.triggerDetail,
      clientRequestToken: request.clientRequestToken ?? null,
      variables: values,
      sourceRevisions: revisions,
      stageIndex: 0,
      rollbackTargetId: null,
    });
    return execution;
  }

  /**
   * A ROLLBACK execution: runs `stageName` again with the target execution's revisions,
   * variables and artifacts. The caller has checked that the rollback is allowed.
   */
  async rollback(tx: EntityManager, request: RollbackRequest): Promise<ExecutionRow> {
    const pipeline = await this.currentPipeline(tx, request.accountId, request.pipelineName);
    const stageIndex = pipeline.declaration.stages.findIndex((s) => s.name === request.stageName);
    const execution = await this.insert(tx, {
      accountId: request.accountId,
      pipelineName: request.pipelineName,
      version: pipeline.version,
      declaration: pipeline.declaration,
      executionType: 'ROLLBACK',
      triggerType: request.triggerType,
      triggerDetail: request.triggerDetail,
      clientRequestToken: null,
      variables: request.target.variables,
      sourceRevisions: request.target.source_revisions,
      stageIndex,
      rollbackTargetId: request.target.id,
    });
    // Artifacts are content-addressed: the rows are copied, never the files.
    await tx.query(
      `INSERT INTO execution_artifacts (account_id, pipeline_execution_id, name, sha256, size_bytes, produced_by)
       SELECT account_id, $3, name, sha256, size_bytes, produced_by FROM execution_artifacts
        WHERE account_id = $1 AND pipeline_execution_id = $2`,
      [request.accountId, request.target.id, execution.id],
    );
    return execution;
  }

  private async currentPipeline(
    tx: EntityManager,
    accountId: string,
    pipelineName: string,
  ): Promise<{ version: number; declaration: PipelineDeclaration }> {
    const rows: { version: number; declaration: PipelineDeclaration }[] = await tx.query(
      'SELECT version, declaration FROM pipelines WHERE account_id = $1 AND name = $2',
      [accountId, pipelineName],
    );
    if (!rows.length)
      throw new NotFoundError(`Pipeline ${pipelineName} does not exist in account ${accountId}`);
    return rows[0];
  }

  private async insert(
    tx: EntityManager,
    e: Omit<NewExecution, 'id' | 'executionMode'> & { declaration: PipelineDeclaration },
  ): Promise<ExecutionRow> {
    // Lock order: the engine-state row first, as the engine does (no deadlock with it).
    await markPipelineDirty(tx, e.accountId, e.pipelineName);
    return this.store.createExecution(tx, {
      accountId: e.accountId,
      id: randomUUID(),
      pipelineName: e.pipelineName,
      version: e.version,
      executionMode: e.declaration.executionMode ?? 'SUPERSEDED',
      executionType: e.executionType,
      rollbackTargetId: e.rollbackTargetId,
      triggerType: e.triggerType,
      triggerDetail: e.triggerDetail,
      clientRequestToken: e.clientRequestToken,
      variables: e.variables,
      sourceRevisions: e.sourceRevisions,
      stageIndex: e.stageIndex,
    });
  }

  /** A deleted pipeline's executions go with it. */
  async forgetPipeline(tx: EntityManager, accountId: string, pipelineName: string): Promise<void> {
    await this.store.deleteExecutionsOf(tx, accountId, pipelineName);
  }
}
