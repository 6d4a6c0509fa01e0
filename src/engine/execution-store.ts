import type { EntityManager } from 'typeorm';
import { Outbox, type OutboxEvent } from '../events/outbox';
import { returnedRows } from '../platform/db/rows-affected';
import { actionEvent, pipelineEvent, stageEvent, type ActionEventRow } from './execution-events';
import type {
  ActionRow,
  ExecutionMode,
  ExecutionRow,
  ExecutionType,
  StageRow,
  TriggerType,
} from './execution-rows';
import type { ActionExecutionStatus, PipelineExecutionStatus, StageExecutionStatus } from './model/statuses';
import {
  actionExecutionMachine,
  initialStatus,
  pipelineExecutionMachine,
  stageExecutionMachine,
  transition,
} from './model/transitions';

export interface NewExecution {
  accountId: string;
  id: string;
  pipelineName: string;
  version: number;
  executionMode: ExecutionMode;
  executionType: ExecutionType;
  rollbackTargetId: string | null;
  triggerType: TriggerType;
  triggerDetail: string;
  clientRequestToken: string | null;
  variables: Record<string, string>;
  sourceRevisions: Record<string, string>;
  stageIndex: number;
}

export interface NewAction {
  id: string;
  stageName: string;
  actionName: string;
  stageAttempt: number;
  runOrder: number;
  actionType: string;
  configuration: Record<string, string>;
  resolved: Record<string, string> | null;
  inputArtifacts: string[];
  outputArtifacts: string[];
  timeoutMinutes: number;
  /** Approvals: what answers it. */
  token?: string;
}

/** How an action execution ends; fields left out keep their value. */
export interface ActionEnd {
  summary?: string | null;
  failureType?: string;
  failureMessage?: string;
  outputVariables?: Record<string, string>;
  externalExecutionId?: string | null;
  decidedBy?: string;
}

/** The pinned version beside every action row the store returns, for its events. */
const ACTION_RETURNING = `RETURNING *, (SELECT p.pipeline_version FROM pipeline_executions p
   WHERE p.account_id = action_executions.account_id AND p.id = action_executions.pipeline_execution_id) AS pipeline_version`;

/**
 * The one writer of pipeline, stage and action executions (issue 8, point 1). Every status
 * it writes is checked against the transition tables (`model/transitions.ts`: `initialStatus`
 * for a new row, `transition` for a move), and its event goes to the outbox in the same
 * transaction, so a change and its event commit together or not at all. The engine, the API's
 * intents (start, stop, retry, approve) and the job queue's results all come through here;
 * test/engine/state-ownership.unit.test.ts fails if any other module writes these tables.
 *
 * Rows passed in get their new status in place (the reconciler decides on them again in the
 * same pass), as it always did; a move to the next stage leaves them as read.
 */
export class ExecutionStore {
  constructor(
    readonly outbox: Outbox = new Outbox(),
    private readonly region = 'local',
  ) {}

  // ---- pipeline executions ---------------------------------------------------------------------

  async createExecution(tx: EntityManager, e: NewExecution): Promise<ExecutionRow> {
    const status = initialStatus(pipelineExecutionMachine, 'IN_PROGRESS');
    const rows: ExecutionRow[] = await tx.query(
      `INSERT INTO pipeline_executions
         (account_id, id, pipeline_name, pipeline_version, execution_mode, execution_type, rollback_target_id, status,
          trigger_type, trigger_detail, client_request_token, variables, source_revisions, stage_index)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
       RETURNING *`,
      [
        e.accountId,
        e.id,
        e.pipelineName,
        e.version,
        e.executionMode,
        e.executionType,
        e.rollbackTargetId,
        status,
        e.triggerType,
        e.triggerDetail,
        e.clientRequestToken,
        JSON.stringify(e.variables),
        JSON.stringify(e.sourceRevisions),
        e.stageIndex,
      ],
    );
    await this.emit(tx, [pipelineEvent(rows[0])]);
    return rows[0];
  }

  async setExecutionStatus(
    tx: EntityManager,
    e: ExecutionRow,
    to: PipelineExecutionStatus,
    summary: string | null,
  ): Promise<void> {
    const from = e.status;
    transition(pipelineExecutionMachine, from, to);
    const rows: ExecutionRow[] = await this.rows(
      tx,
      `UPDATE pipeline_executions SET status = $3, status_summary = $4, updated_at = now()
        WHERE account_id = $1 AND id = $2 RETURNING *`,
      [e.account_id, e.id, to, summary],
    );
    Object.assign(e, rows[0]);
    await this.emit(tx, [pipelineEvent(rows[0], from)]);
  }

  /** Stop intent (StopPipelineExecution): the engine stops the execution on its next pass. */
  async requestStop(
    tx: EntityManager,
    accountId: string,
    executionId: string,
    abandon: boolean,
    reason: string | null,
  ): Promise<ExecutionRow> {
    const rows: ExecutionRow[] = await this.rows(
      tx,
      `UPDATE pipeline_executions SET stop_requested = $3, stop_reason = coalesce($4, stop_reason), updated_at = now()
        WHERE account_id = $1 AND id = $2 RETURNING *`,
      [accountId, executionId, abandon ? 'ABANDON' : 'WAIT', reason],
    );
    return rows[0];
  }

  /** The execution has finished its stage and waits in front of the next one. */
  async moveToNextStage(tx: EntityManager, e: ExecutionRow): Promise<void> {
    await tx.query(
      `UPDATE pipeline_executions SET stage_index = stage_index + 1, in_stage = false, updated_at = now()
        WHERE account_id = $1 AND id = $2`,
      [e.account_id, e.id],
    );
    // `e` is left as the pass read it: the reconciler's decisions in this pass were made on it.
  }

  /** Executions of a pipeline being deleted go with it (their jobs are fenced off by the cascade). */
  async deleteExecutionsOf(tx: EntityManager, accountId: string, pipelineName: string): Promise<void> {
    await tx.query('DELETE FROM pipeline_executions WHERE account_id = $1 AND pipeline_name = $2', [
      accountId,
      pipelineName,
    ]);
  }

  // ---- stage executions ------------------------------------------------------------------------

  /** The execution enters a stage: a new stage execution, or a new attempt of the one it had. */
  async enterStage(tx: EntityManager, e: ExecutionRow, stageName: string): Promise<StageRow> {
    const status = initialStatus(stageExecutionMachine, 'IN_PROGRESS');
    const rows: StageRow[] = await tx.query(
      `INSERT INTO stage_executions (account_id, pipeline_execution_id, pipeline_name, stage_name, stage_index, status)
       VALUES ($1, $2, $5, $3, $4, $6)
       ON CONFLICT (account_id, pipeline_execution_id, stage_name)
       DO UPDATE SET status = $6, attempt = stage_executions.attempt + 1,
                     counts_from_attempt = stage_executions.attempt + 1, updated_at = now()
       RETURNING *`,
      [e.account_id, e.id, stageName, e.stage_index, e.pipeline_name, status],
    );
    await tx.query(
      'UPDATE pipeline_executions SET in_stage = true, updated_at = now() WHERE account_id = $1 AND id = $2',
      [e.account_id, e.id],
    );
    e.in_stage = true;
    await this.emit(tx, [stageEvent(rows[0], e)]);
    return rows[0];
  }

  async setStageStatus(
    tx: EntityManager,
    stage: StageRow,
    e: ExecutionRow,
    to: StageExecutionStatus,
  ): Promise<void> {
    const from = stage.status;
    transition(stageExecutionMachine, from, to);
    const rows: StageRow[] = await this.rows(
      tx,
      `UPDATE stage_executions SET status = $4, updated_at = now()
        WHERE account_id = $1 AND pipeline_execution_id = $2 AND stage_name = $3 RETURNING *`,
      [stage.account_id, stage.pipeline_execution_id, stage.stage_name, to],
    );
    Object.assign(stage, rows[0]);
    await this.emit(tx, [stageEvent(rows[0], e, from)]);
  }

  /** onFailure RETRY: a new attempt of a stage that is still IN_PROGRESS (no status changes). */
  async retryStageAutomatically(
    tx: EntityManager,
    stage: StageRow,
    mode: 'FAILED_ACTIONS' | 'ALL_ACTIONS',
  ): Promise<void> {
    await tx.query(
      `UPDATE stage_executions SET attempt = attempt + 1, auto_retried = true, updated_at = now(),
              counts_from_attempt = CASE WHEN $4 = 'ALL_ACTIONS' THEN attempt + 1 ELSE counts_from_attempt END
        WHERE account_id = $1 AND pipeline_execution_id = $2 AND stage_name = $3`,
      [stage.account_id, stage.pipeline_execution_id, stage.stage_name, mode],
    );
  }

  /**
   * retryStageExecution: the failed or stopped stage and its execution resume (RESUMED
   * events); the engine then starts the actions the retry mode names.
   */
  async retryStage(
    tx: EntityManager,
    e: ExecutionRow,
    stage: StageRow,
    stageIndex: number,
    mode: 'FAILED_ACTIONS' | 'ALL_ACTIONS',
  ): Promise<ExecutionRow> {
    const stageFrom = stage.status;
    const executionFrom = e.status;
    transition(stageExecutionMachine, stageFrom, 'IN_PROGRESS');
    transition(pipelineExecutionMachine, executionFrom, 'IN_PROGRESS');
    const stages: StageRow[] = await this.rows(
      tx,
      `UPDATE stage_executions SET status = 'IN_PROGRESS', attempt = attempt + 1, updated_at = now(),
              counts_from_attempt = CASE WHEN $4 = 'ALL_ACTIONS' THEN attempt + 1 ELSE counts_from_attempt END
        WHERE account_id = $1 AND pipeline_execution_id = $2 AND stage_name = $3 RETURNING *`,
      [stage.account_id, stage.pipeline_execution_id, stage.stage_name, mode],
    );
    const executions: ExecutionRow[] = await this.rows(
      tx,
      `UPDATE pipeline_executions SET status = 'IN_PROGRESS', status_summary = NULL, stop_requested = NULL,
              stop_reason = NULL, stage_index = $3, in_stage = true, updated_at = now()
        WHERE account_id = $1 AND id = $2 RETURNING *`,
      [e.account_id, e.id, stageIndex],
    );
    await this.emit(tx, [
      pipelineEvent(executions[0], executionFrom),
      stageEvent(stages[0], executions[0], stageFrom),
    ]);
    return executions[0];
  }

  // ---- action executions -----------------------------------------------------------------------

  /**
   * An action starts: always IN_PROGRESS (its STARTED event goes out even when the engine ends
   * it at once, a configuration error say, so every action has a start and an end).
   */
  async startAction(tx: EntityManager, e: ExecutionRow, a: NewAction): Promise<ActionRow> {
    const status = initialStatus(actionExecutionMachine, 'IN_PROGRESS');
    const rows: ActionEventRow[] = await tx.query(
      `INSERT INTO action_executions
         (account_id, id, pipeline_execution_id, pipeline_name, stage_name, action_name, stage_attempt, run_order,
          action_type, status, configuration, resolved_configuration, input_artifacts, output_artifacts, token,
          timeout_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, now() + make_interval(mins => $16))
       ${ACTION_RETURNING}`,
      [
        e.account_id,
        a.id,
        e.id,
        e.pipeline_name,
        a.stageName,
        a.actionName,
        a.stageAttempt,
        a.runOrder,
        a.actionType,
        status,
        JSON.stringify(a.configuration),
        a.resolved ? JSON.stringify(a.resolved) : null,
        JSON.stringify(a.inputArtifacts),
        JSON.stringify(a.outputArtifacts),
        a.token ?? null,
        a.timeoutMinutes,
      ],
    );
    await this.emit(tx, [actionEvent(rows[0], this.region)]);
    return rows[0];
  }

  /**
   * Ends an action execution that is still IN_PROGRESS; one that already ended keeps its end
   * (a late job result after an abandon or a timeout) and nothing is written: undefined.
   */
  async endAction(
    tx: EntityManager,
    accountId: string,
    actionExecutionId: string,
    to: Exclude<ActionExecutionStatus, 'IN_PROGRESS'>,
    end: ActionEnd,
  ): Promise<ActionRow | undefined> {
    transition(actionExecutionMachine, 'IN_PROGRESS', to);
    const rows: ActionEventRow[] = await this.rows(
      tx,
      `UPDATE action_executions
          SET status = $3, updated_at = now(),
              summary = CASE WHEN $4 THEN $5 ELSE summary END,
              failure_type = coalesce($6, failure_type), failure_message = coalesce($7, failure_message),
              output_variables = coalesce($8::jsonb, output_variables),
              external_execution_id = coalesce($9, external_execution_id),
              decided_by = coalesce($10, decided_by)
        WHERE account_id = $1 AND id = $2 AND status = 'IN_PROGRESS'
        ${ACTION_RETURNING}`,
      [
        accountId,
        actionExecutionId,
        to,
        end.summary !== undefined,
        end.summary ?? null,
        end.failureType ?? null,
        end.failureMessage ?? null,
        end.outputVariables ? JSON.stringify(end.outputVariables) : null,
        end.externalExecutionId ?? null,
        end.decidedBy ?? null,
      ],
    );
    if (!rows.length) return undefined;
    await this.emit(tx, [actionEvent(rows[0], this.region)]);
    return rows[0];
  }

  // ----------------------------------------------------------------------------------------------

  private async rows<T>(tx: EntityManager, sql: string, parameters: unknown[]): Promise<T[]> {
    return returnedRows<T>(await tx.query(sql, parameters));
  }

  private async emit(tx: EntityManager, events: OutboxEvent[]): Promise<void> {
    await this.outbox.append(tx, events);
  }
}
