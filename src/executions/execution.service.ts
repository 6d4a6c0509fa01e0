import type { EntityManager } from 'typeorm';
import { markPipelineDirty } from '../engine/engine-signals';
import type { ExecutionStarter, StartRequest } from '../engine/execution-starter';
import type { ActionRow, ExecutionRow, StageRow } from '../engine/execution-rows';
import type { LogPage } from '../jobs/job-data';
import { retryPlan } from '../engine/model/stage-plan';
import { pipelineExecutionStatuses } from '../engine/model/statuses';
import type { PipelineDeclaration, RetryMode } from '../pipelines/declaration/declaration';
import type { Principal } from '../iam/identity/principal';
import type { Db } from '../platform/db/unit-of-work';
import { BadInputError, ConflictError, NotFoundError } from '../platform/errors';
import { decodeCursor, pageSize, toConnection, type Connection } from '../platform/pagination';

export type TransitionType = 'INBOUND' | 'OUTBOUND';

/** The stage an execution is in or waits in front of, by name, from its pinned version. */
const CURRENT_STAGE = `(SELECT v.declaration->'stages'->p.stage_index->>'name' FROM pipeline_versions v
  WHERE v.account_id = p.account_id AND v.pipeline_name = p.pipeline_name AND v.version = p.pipeline_version) AS current_stage`;

export interface ExecutionFilter {
  status?: string | null;
  succeededInStage?: string | null;
}

export interface ArtifactRow {
  name: string;
  sha256: string;
  size_bytes: string;
  produced_by: string;
  created_at: Date;
}

export interface StageState {
  stageName: string;
  inboundTransitionState: {
    enabled: boolean;
    disabledReason: string | null;
    lastChangedBy: string | null;
    lastChangedAt: Date | null;
  };
  inboundExecutions: ExecutionRow[];
  latestExecution: { pipelineExecutionId: string; status: string } | null;
  actionStates: { actionName: string; latestExecution: ActionRow | null }[];
}

export interface PipelineState {
  pipelineName: string;
  pipelineVersion: number;
  created: Date;
  updated: Date;
  stageStates: StageState[];
}

/**
 * What users ask of executions. Mutations record intent (a new execution, a stop request, a
 * retry, an approval, a transition change) and wake the engine; the engine moves executions.
 * Every intent locks the pipeline's engine-state row first (markPipelineDirty), the same
 * order the engine uses, so it never deadlocks with the engine and never races a decision.
 */
/** The one log reader (src/jobs/job-queue.ts owns action logs). */
export interface LogReader {
  readLog(accountId: string, actionExecutionId: string, offset: number, limit: number): Promise<LogPage>;
}

export class ExecutionService {
  constructor(
    private readonly db: Db,
    private readonly starter: ExecutionStarter,
    private readonly logs: LogReader,
  ) {}

  async start(request: StartRequest): Promise<ExecutionRow> {
    return this.db.transaction((tx) => this.starter.start(tx, request));
  }

  async stop(
    accountId: string,
    pipelineName: string,
    executionId: string,
    abandon: boolean,
    reason: string | undefined,
  ): Promise<ExecutionRow> {
    if (reason !== undefined && reason.length > 200) {
      throw BadInputError.of('Stop', [{ path: 'reason', message: 'must be at most 200 characters' }]);
    }
    return this.db.transaction(async (tx) => {
      await markPipelineDirty(tx, accountId, pipelineName);
      const e = await this.requireExecution(tx, accountId, pipelineName, executionId);
      if (e.status !== 'IN_PROGRESS' && e.status !== 'STOPPING') {
        throw new ConflictError(
          `Execution ${executionId} is ${e.status}: only an execution in progress can be stopped`,
        );
      }
      if (!abandon && (e.status === 'STOPPING' || e.stop_requested)) {
        throw new ConflictError(
          `Execution ${executionId} is already stopping; stop it with abandon: true to stop at once`,
        );
      }
      return this.starter.store.requestStop(tx, accountId, executionId, abandon, reason ?? null);
    });
  }

  /**
   * Retries a failed (or stopped) stage of the latest execution that ran it (CodePipeline's
   * rule): FAILED_ACTIONS re-runs the failed actions, ALL_ACTIONS the whole stage.
   */
  async retryStage(
    accountId: string,
    pipelineName: string,
    stageName: string,
    executionId: string,
    mode: RetryMode,
  ): Promise<ExecutionRow> {
    return this.db.transaction(async (tx) => {
      await markPipelineDirty(tx, accountId, pipelineName);
      const e = await this.requireExecution(tx, accountId, pipelineName, executionId);
      const declaration = await this.declarationOf(tx, e);
      const stageIndex = declaration.stages.findIndex((s) => s.name === stageName);
      const stages: StageRow[] = await tx.query(
        `SELECT * FROM stage_executions WHERE account_id = $1 AND pipeline_execution_id = $2 AND stage_name = $3`,
        [accountId, executionId, stageName],
      );
      const stage = stages[0];
      if (stageIndex < 0 || !stage)
        throw new ConflictError(`Execution ${executionId} did not run stage ${stageName}`);
      if (
        (e.status !== 'FAILED' && e.status !== 'STOPPED') ||
        (stage.status !== 'FAILED' && stage.status !== 'STOPPED')
      ) {
        throw new ConflictError(
          `Stage ${stageName} of execution ${executionId} is ${stage.status} (execution ${e.status}): only a failed or stopped stage can be retried`,
        );
      }
      const later: { pipeline_execution_id: string }[] = await tx.query(
        `SELECT s.pipeline_execution_id FROM stage_executions s
          WHERE s.account_id = $1 AND s.pipeline_name = $2 AND s.stage_name = $3 AND s.started_at > $4
            AND s.pipeline_execution_id <> $5 LIMIT 1`,
        [accountId, pipelineName, stageName, stage.started_at, executionId],
      );
      if (later.length) {
        throw new ConflictError(
          `Execution ${later[0].pipeline_execution_id} has entered stage ${stageName} since: only the latest execution in a stage can be retried`,
        );
      }
      const actions: ActionRow[] = await tx.query(
        `SELECT * FROM action_executions WHERE account_id = $1 AND pipeline_execution_id = $2 AND stage_name = $3
            AND stage_attempt >= $4 AND (stage_attempt = $5 OR status = 'SUCCEEDED') ORDER BY started_at, id`,
        [accountId, executionId, stageName, stage.counts_from_attempt, stage.attempt],
      );
      const states = new Map(actions.map((a) => [a.action_name, a.status]));
      const plan = retryPlan(declaration.stages[stageIndex].actions, states, mode);
      if ('rejected' in plan)
        throw new ConflictError(`Stage ${stageName} cannot be retried: ${plan.rejected}`);
      return this.starter.store.retryStage(tx, e, stage, stageIndex, mode);
    });
  }

  /** A ROLLBACK execution of `stageName` with the target execution's revisions and artifacts. */
  async rollback(
    accountId: string,
    pipelineName: string,
    stageName: string,
    targetExecutionId: string,
    principal: Principal,
  ): Promise<ExecutionRow> {
    return this.db.transaction(async (tx) => {
      await markPipelineDirty(tx, accountId, pipelineName);
      const current: { version: number; declaration: PipelineDeclaration }[] = await tx.query(
        'SELECT version, declaration FROM pipelines WHERE account_id = $1 AND name = $2',
        [accountId, pipelineName],
      );
      if (!current.length)
        throw new NotFoundError(`Pipeline ${pipelineName} does not exist in account ${accountId}`);
      const { version, declaration } = current[0];
      const stageIndex = declaration.stages.findIndex((s) => s.name === stageName);
      if (stageIndex < 0) throw new NotFoundError(`Pipeline ${pipelineName} has no stage ${stageName}`);
      if (stageIndex === 0)
        throw new ConflictError(`Stage ${stageName} is the source stage: it cannot be rolled back`);
      if (declaration.executionMode === 'PARALLEL') {
        throw new ConflictError(`Pipeline ${pipelineName} runs in PARALLEL mode, which has no rollback`);
      }
      const target = await this.requireExecution(tx, accountId, pipelineName, targetExecutionId);
      if (target.execution_type === 'ROLLBACK') {
        throw new ConflictError(
          `Execution ${targetExecutionId} is itself a rollback and cannot be a rollback target`,
        );
      }
      if (target.pipeline_version !== version) {
        throw new ConflictError(
          `Execution ${targetExecutionId} ran version ${target.pipeline_version}; a rollback target must have run the current version ${version}`,
        );
      }
      const stages: StageRow[] = await tx.query(
        `SELECT * FROM stage_executions WHERE account_id = $1 AND pipeline_execution_id = $2 AND stage_name = $3 AND status = 'SUCCEEDED'`,
        [accountId, targetExecutionId, stageName],
      );
      if (!stages.length) {
        throw new ConflictError(`Execution ${targetExecutionId} did not succeed in stage ${stageName}`);
      }
      return this.starter.rollback(tx, {
        accountId,
        pipelineName,
        stageName,
        target,
        triggerType: 'MANUAL_ROLLBACK',
        triggerDetail: principal.arn,
      });
    });
  }

  async putApprovalResult(
    accountId: string,
    pipelineName: string,
    stageName: string,
    actionName: string,
    result: { status: 'APPROVED' | 'REJECTED'; summary: string },
    token: string,
    principal: Principal,
  ): Promise<Date> {
    if (result.summary.length > 512) {
      throw BadInputError.of('Approval', [
        { path: 'result.summary', message: 'must be at most 512 characters' },
      ]);
    }
    return this.db.transaction(async (tx) => {
      await markPipelineDirty(tx, accountId, pipelineName);
      const rows: ActionRow[] = await tx.query(
        `SELECT * FROM action_executions WHERE account_id = $1 AND pipeline_name = $2 AND stage_name = $3
            AND action_name = $4 AND token = $5`,
        [accountId, pipelineName, stageName, actionName, token],
      );
      const action = rows[0];
      if (!action) {
        throw new NotFoundError(`No approval of ${pipelineName}/${stageName}/${actionName} has that token`);
      }
      if (action.status !== 'IN_PROGRESS') {
        throw new ConflictError(`The approval ${actionName} is already ${action.status}`);
      }
      const approved = result.status === 'APPROVED';
      const decided = await this.starter.store.endAction(
        tx,
        accountId,
        action.id,
        approved ? 'SUCCEEDED' : 'FAILED',
        approved
          ? { summary: result.summary, decidedBy: principal.arn }
          : {
              summary: result.summary,
              decidedBy: principal.arn,
              failureType: 'JOB_FAILED',
              failureMessage: `Rejected by ${principal.arn}: ${result.summary}`,
            },
      );
      // Decisions on one pipeline queue on its engine-state row (markPipelineDirty), so the read
      // above sees an earlier decision; this is the store's own guard all the same.
      if (!decided) throw new ConflictError(`The approval ${actionName} has already been decided`);
      return decided.updated_at;
    });
  }

  async setTransition(
    accountId: string,
    pipelineName: string,
    stageName: string,
    type: TransitionType,
    enabled: boolean,
    reason: string | null,
    principal: Principal,
  ): Promise<void> {
    if (
      !enabled &&
      (!reason || reason.length > 300 || !/^[\w\s!@#$%^&*()+=,./?;:'"|~`{}[\]-]+$/.test(reason))
    ) {
      throw BadInputError.of('Transition', [
        { path: 'reason', message: 'must be 1–300 letters, digits, spaces or punctuation' },
      ]);
    }
    await this.db.transaction(async (tx) => {
      await markPipelineDirty(tx, accountId, pipelineName);
      const rows: { declaration: PipelineDeclaration }[] = await tx.query(
        'SELECT declaration FROM pipelines WHERE account_id = $1 AND name = $2',
        [accountId, pipelineName],
      );
      if (!rows.length)
        throw new NotFoundError(`Pipeline ${pipelineName} does not exist in account ${accountId}`);
      const stages = rows[0].declaration.stages;
      const index = stages.findIndex((s) => s.name === stageName);
      if (index < 0) throw new NotFoundError(`Pipeline ${pipelineName} has no stage ${stageName}`);
      // The transition into stage i is the transition out of stage i - 1.
      const into = type === 'INBOUND' ? index : index + 1;
      if (into === 0)
        throw new ConflictError(
          `Nothing flows into the first stage ${stageName}: there is no transition to change`,
        );
      if (into >= stages.length) throw new ConflictError(`Nothing flows out of the last stage ${stageName}`);
      await tx.query(
        `INSERT INTO stage_transitions (account_id, pipeline_name, stage_name, enabled, disabled_reason, last_changed_by)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (account_id, pipeline_name, stage_name) DO UPDATE
           SET enabled = $4, disabled_reason = $5, last_changed_by = $6, last_changed_at = now()`,
        [accountId, pipelineName, stages[into].name, enabled, enabled ? null : reason, principal.arn],
      );
    });
  }

  // ---- reads -------------------------------------------------------------------------------------

  async get(accountId: string, pipelineName: string, executionId: string): Promise<ExecutionRow> {
    return this.requireExecution(this.db.manager, accountId, pipelineName, executionId);
  }

  async list(
    accountId: string,
    pipelineName: string,
    filter: ExecutionFilter,
    first: number | null | undefined,
    after: string | null | undefined,
  ): Promise<Connection<ExecutionRow>> {
    await this.requirePipeline(accountId, pipelineName);
    const size = pageSize(first);
    const cursor = decodeCursor(after);
    const params: unknown[] = [accountId, pipelineName];
    const where = ['p.account_id = $1', 'p.pipeline_name = $2'];
    if (cursor !== undefined) {
      if (!/^\d+$/.test(cursor))
        throw BadInputError.of('Page', [{ path: 'after', message: 'is not a cursor this list returned' }]);
      params.push(cursor);
      where.push(`p.start_seq < $${params.length}`);
    }
    if (filter.status) {
      if (!(pipelineExecutionStatuses as readonly string[]).includes(filter.status)) {
        throw BadInputError.of('Filter', [
          {
            path: 'filter.status',
            message: `must be one of ${pipelineExecutionStatuses.join(', ')}, got "${filter.status}"`,
          },
        ]);
      }
      params.push(filter.status);
      where.push(`p.status = $${params.length}`);
    }
    if (filter.succeededInStage) {
      params.push(filter.succeededInStage);
      where.push(
        `EXISTS (SELECT 1 FROM stage_executions s WHERE s.account_id = p.account_id AND s.pipeline_execution_id = p.id
                   AND s.stage_name = $${params.length} AND s.status = 'SUCCEEDED')`,
      );
    }
    params.push(size + 1);
    const rows: ExecutionRow[] = await this.db.manager.query(
      `SELECT p.*, ${CURRENT_STAGE} FROM pipeline_executions p WHERE ${where.join(' AND ')}
        ORDER BY p.start_seq DESC LIMIT $${params.length}`,
      params,
    );
    return toConnection(rows, size, (e) => e.start_seq);
  }

  async listActions(
    accountId: string,
    pipelineName: string,
    pipelineExecutionId: string | null | undefined,
    first: number | null | undefined,
    after: string | null | undefined,
  ): Promise<Connection<ActionRow>> {
    await this.requirePipeline(accountId, pipelineName);
    const size = pageSize(first);
    const cursor = decodeCursor(after);
    const params: unknown[] = [accountId, pipelineName];
    const where = ['account_id = $1', 'pipeline_name = $2'];
    if (pipelineExecutionId) {
      params.push(pipelineExecutionId);
      where.push(`pipeline_execution_id::text = $${params.length}`);
    }
    if (cursor !== undefined) {
      const [time, id] = cursor.split('|');
      if (!time || !id || Number.isNaN(Date.parse(time))) {
        throw BadInputError.of('Page', [{ path: 'after', message: 'is not a cursor this list returned' }]);
      }
      params.push(time, id);
      where.push(`(started_at, id::text) < ($${params.length - 1}::timestamptz, $${params.length})`);
    }
    params.push(size + 1);
    const rows: ActionRow[] = await this.db.manager.query(
      `SELECT * FROM action_executions WHERE ${where.join(' AND ')} ORDER BY started_at DESC, id::text DESC LIMIT $${params.length}`,
      params,
    );
    return toConnection(rows, size, (a) => `${a.started_at.toISOString()}|${a.id}`);
  }

  async artifacts(accountId: string, pipelineName: string, executionId: string): Promise<ArtifactRow[]> {
    await this.requireExecution(this.db.manager, accountId, pipelineName, executionId);
    return this.db.manager.query(
      `SELECT name, sha256, size_bytes, produced_by, created_at FROM execution_artifacts
        WHERE account_id = $1 AND pipeline_execution_id = $2 ORDER BY created_at, name`,
      [accountId, executionId],
    );
  }

  async actionLog(
    accountId: string,
    pipelineName: string,
    actionExecutionId: string,
    offset: number,
    limit: number,
  ): Promise<{ offset: number; text: string; nextOffset: number; complete: boolean }> {
    const actions: ActionRow[] = await this.db.manager.query(
      'SELECT * FROM action_executions WHERE account_id = $1 AND pipeline_name = $2 AND id::text = $3',
      [accountId, pipelineName, actionExecutionId],
    );
    if (!actions.length)
      throw new NotFoundError(
        `Action execution ${actionExecutionId} does not exist in pipeline ${pipelineName}`,
      );
    // The job module's reader: whole UTF-8 characters only, bounded pages, and `complete` only
    // once no job of the action can append any more.
    const page = await this.logs.readLog(accountId, actionExecutionId, offset, limit);
    return { offset, ...page };
  }

  async state(accountId: string, pipelineName: string): Promise<PipelineState> {
    const pipelines: {
      version: number;
      declaration: PipelineDeclaration;
      created_at: Date;
      updated_at: Date;
    }[] = await this.db.manager.query(
      'SELECT version, declaration, created_at, updated_at FROM pipelines WHERE account_id = $1 AND name = $2',
      [accountId, pipelineName],
    );
    if (!pipelines.length)
      throw new NotFoundError(`Pipeline ${pipelineName} does not exist in account ${accountId}`);
    const { version, declaration } = pipelines[0];
    const q = <T>(sql: string): Promise<T[]> => this.db.manager.query(sql, [accountId, pipelineName]);
    const transitions = await q<{
      stage_name: string;
      enabled: boolean;
      disabled_reason: string | null;
      last_changed_by: string;
      last_changed_at: Date;
    }>('SELECT * FROM stage_transitions WHERE account_id = $1 AND pipeline_name = $2');
    const waiting = await q<ExecutionRow & { stage_name: string }>(
      `SELECT p.*, v.declaration->'stages'->p.stage_index->>'name' AS stage_name
         FROM pipeline_executions p
         JOIN pipeline_versions v ON v.account_id = p.account_id AND v.pipeline_name = p.pipeline_name AND v.version = p.pipeline_version
        WHERE p.account_id = $1 AND p.pipeline_name = $2 AND p.status = 'IN_PROGRESS' AND NOT p.in_stage
        ORDER BY p.start_seq`,
    );
    // One index probe per declared stage and action, however long the history.
    const stageNames = declaration.stages.map((st) => st.name);
    const latestStages: StageRow[] = await this.db.manager.query(
      `SELECT s.* FROM unnest($3::text[]) AS d(stage_name)
         CROSS JOIN LATERAL (
           SELECT * FROM stage_executions s
            WHERE s.account_id = $1 AND s.pipeline_name = $2 AND s.stage_name = d.stage_name
            ORDER BY s.started_at DESC LIMIT 1) s`,
      [accountId, pipelineName, stageNames],
    );
    const pairs = declaration.stages.flatMap((st) => st.actions.map((a) => [st.name, a.name]));
    const latestActions: ActionRow[] = await this.db.manager.query(
      `SELECT a.* FROM unnest($3::text[], $4::text[]) AS d(stage_name, action_name)
         CROSS JOIN LATERAL (
           SELECT * FROM action_executions a
            WHERE a.account_id = $1 AND a.pipeline_name = $2 AND a.stage_name = d.stage_name AND a.action_name = d.action_name
            ORDER BY a.started_at DESC LIMIT 1) a`,
      [accountId, pipelineName, pairs.map((p) => p[0]), pairs.map((p) => p[1])],
    );
    return {
      pipelineName,
      pipelineVersion: version,
      created: pipelines[0].created_at,
      updated: pipelines[0].updated_at,
      stageStates: declaration.stages.map((stage) => {
        const t = transitions.find((x) => x.stage_name === stage.name);
        const latest = latestStages.find((s) => s.stage_name === stage.name);
        return {
          stageName: stage.name,
          inboundTransitionState: {
            enabled: t?.enabled ?? true,
            disabledReason: t?.disabled_reason ?? null,
            lastChangedBy: t?.last_changed_by ?? null,
            lastChangedAt: t?.last_changed_at ?? null,
          },
          inboundExecutions: waiting.filter((w) => w.stage_name === stage.name),
          latestExecution: latest
            ? { pipelineExecutionId: latest.pipeline_execution_id, status: latest.status }
            : null,
          actionStates: stage.actions.map((action) => ({
            actionName: action.name,
            latestExecution:
              latestActions.find((a) => a.stage_name === stage.name && a.action_name === action.name) ?? null,
          })),
        };
      }),
    };
  }

  /** What each execution's source actions fetched (CodePipeline's artifactRevisions). */
  async artifactRevisions(
    accountId: string,
    executionIds: readonly string[],
  ): Promise<Map<string, { name: string; revisionId: string | null; revisionSummary: string | null }[]>> {
    const rows: {
      pipeline_execution_id: string;
      action_name: string;
      output_variables: Record<string, string>;
      artifact: string | null;
    }[] = await this.db.manager.query(
      `SELECT DISTINCT ON (a.pipeline_execution_id, a.action_name)
                a.pipeline_execution_id, a.action_name, a.output_variables, j.data->'outputArtifacts'->0->>'name' AS artifact
           FROM action_executions a
           LEFT JOIN jobs j ON j.account_id = a.account_id AND j.action_execution_id = a.id
          WHERE a.account_id = $1 AND a.pipeline_execution_id = ANY($2::uuid[]) AND a.action_type LIKE 'Source/%'
            AND a.status = 'SUCCEEDED'
          ORDER BY a.pipeline_execution_id, a.action_name, a.started_at DESC`,
      [accountId, executionIds],
    );
    const result = new Map<
      string,
      { name: string; revisionId: string | null; revisionSummary: string | null }[]
    >(executionIds.map((id) => [id, []]));
    for (const row of rows) {
      result.get(row.pipeline_execution_id)?.push({
        name: row.artifact ?? row.action_name,
        revisionId: row.output_variables.CommitId ?? null,
        revisionSummary: row.output_variables.CommitMessage?.split('\n')[0] ?? null,
      });
    }
    return result;
  }

  private async requirePipeline(accountId: string, pipelineName: string): Promise<void> {
    const rows: unknown[] = await this.db.manager.query(
      'SELECT 1 FROM pipelines WHERE account_id = $1 AND name = $2',
      [accountId, pipelineName],
    );
    if (!rows.length)
      throw new NotFoundError(`Pipeline ${pipelineName} does not exist in account ${accountId}`);
  }

  private async requireExecution(
    tx: EntityManager,
    accountId: string,
    pipelineName: string,
    executionId: string,
  ): Promise<ExecutionRow> {
    const rows: ExecutionRow[] = /^[0-9a-f-]{36}$/i.test(executionId)
      ? await tx.query(
          `SELECT p.*, ${CURRENT_STAGE} FROM pipeline_executions p
            WHERE p.account_id = $1 AND p.pipeline_name = $2 AND p.id = $3`,
          [accountId, pipelineName, executionId],
        )
      : [];
    if (!rows.length)
      throw new NotFoundError(`Execution ${executionId} of pipeline ${pipelineName} does not exist`);
    return rows[0];
  }

  private async declarationOf(tx: EntityManager, e: ExecutionRow): Promise<PipelineDeclaration> {
    const rows: { declaration: PipelineDeclaration }[] = await tx.query(
      'SELECT declaration FROM pipeline_versions WHERE account_id = $1 AND pipeline_name = $2 AND version = $3',
      [e.account_id, e.pipeline_name, e.pipeline_version],
    );
    return rows[0].declaration;
  }
}
