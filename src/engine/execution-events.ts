import type { OutboxEvent } from '../events/outbox';
import type { ActionRow, ExecutionRow, StageRow } from './execution-rows';
import type { ActionExecutionStatus, PipelineExecutionStatus, StageExecutionStatus } from './model/statuses';

/**
 * Execution state changes shaped as CodePipeline's EventBridge events (DESIGN §4,
 * `PipelineEvent`), with the detail fields in camelCase. Pure: the store calls these with the
 * rows it just wrote, so an event describes exactly what committed.
 *
 * States as EventBridge spells them: a row created or re-entered IN_PROGRESS is STARTED, one
 * leaving FAILED/STOPPED for IN_PROGRESS (a retry) is RESUMED, CANCELLED is CANCELED; the rest
 * keep their status name.
 */
type AnyStatus = PipelineExecutionStatus | StageExecutionStatus | ActionExecutionStatus;

export function eventState(to: AnyStatus, from?: AnyStatus): string {
  if (to === 'IN_PROGRESS') return from === 'FAILED' || from === 'STOPPED' ? 'RESUMED' : 'STARTED';
  if (to === 'CANCELLED') return 'CANCELED';
  return to;
}

export function pipelineEvent(e: ExecutionRow, from?: PipelineExecutionStatus): OutboxEvent {
  const detail: Record<string, unknown> = {
    pipeline: e.pipeline_name,
    executionId: e.id,
    state: eventState(e.status, from),
    version: e.pipeline_version,
    executionTrigger: { triggerType: e.trigger_type, triggerDetail: e.trigger_detail ?? '' },
    executionType: e.execution_type,
    startTime: new Date(e.started_at).toISOString(),
  };
  if (e.rollback_target_id)
    detail.rollbackMetadata = { rollbackTargetPipelineExecution: e.rollback_target_id };
  if (e.stop_reason && (e.status === 'STOPPING' || e.status === 'STOPPED')) detail.stopReason = e.stop_reason;
  if (e.status_summary) detail.summary = e.status_summary;
  return {
    accountId: e.account_id,
    pipelineName: e.pipeline_name,
    executionId: e.id,
    detailType: 'Pipeline Execution State Change',
    state: detail.state as string,
    detail,
  };
}

export function stageEvent(
  stage: StageRow,
  execution: { pipeline_version: number },
  from?: StageExecutionStatus,
): OutboxEvent {
  const state = eventState(stage.status, from);
  return {
    accountId: stage.account_id,
    pipelineName: stage.pipeline_name,
    executionId: stage.pipeline_execution_id,
    stageName: stage.stage_name,
    detailType: 'Stage Execution State Change',
    state,
    detail: {
      pipeline: stage.pipeline_name,
      executionId: stage.pipeline_execution_id,
      stage: stage.stage_name,
      state,
      version: execution.pipeline_version,
      attempt: stage.attempt,
      startTime: new Date(stage.started_at).toISOString(),
    },
  };
}

/** An action row as the store returns it: with its execution's pinned version. */
export type ActionEventRow = ActionRow & { pipeline_version: number };

export function actionEvent(a: ActionEventRow, region: string): OutboxEvent {
  const state = eventState(a.status);
  const [category, owner, provider, version] = a.action_type.split('/');
  const detail: Record<string, unknown> = {
    pipeline: a.pipeline_name,
    executionId: a.pipeline_execution_id,
    stage: a.stage_name,
    action: a.action_name,
    actionExecutionId: a.id,
    state,
    region,
    type: { owner, category, provider, version },
    version: a.pipeline_version,
    inputArtifacts: (a.input_artifacts ?? []).map((name) => ({ name })),
    outputArtifacts: (a.output_artifacts ?? []).map((name) => ({ name })),
    startTime: new Date(a.started_at).toISOString(),
  };
  if (a.status !== 'IN_PROGRESS') {
    const result: Record<string, unknown> = {
      externalExecutionId: a.external_execution_id ?? undefined,
      externalExecutionSummary: a.summary ?? undefined,
      externalExecutionState: a.status,
    };
    if (a.failure_type) result.errorCode = a.failure_type;
    detail.executionResult = result;
  } else if (a.token && a.timeout_at) {
    // An approval request. The token is what answers it, so it is never in an event: an
    // approver reads it from pipelineState, where their own permission is checked.
    detail.approvalRequest = { expiresAt: new Date(a.timeout_at).toISOString() };
  }
  return {
    accountId: a.account_id,
    pipelineName: a.pipeline_name,
    executionId: a.pipeline_execution_id,
    stageName: a.stage_name,
    actionName: a.action_name,
    actionExecutionId: a.id,
    detailType: 'Action Execution State Change',
    state,
    detail,
  };
}
