import type { ActionExecutionStatus, PipelineExecutionStatus, StageExecutionStatus } from './model/statuses';

/** Rows of the execution tables as the engine reads them (snake_case, as PostgreSQL returns them). */

export type ExecutionMode = 'SUPERSEDED' | 'QUEUED' | 'PARALLEL';
export type ExecutionType = 'STANDARD' | 'ROLLBACK';
export type TriggerType =
  | 'CREATE_PIPELINE'
  | 'START_PIPELINE_EXECUTION'
  | 'POLL_FOR_SOURCE_CHANGES'
  | 'WEBHOOK'
  | 'PUT_ACTION_REVISION'
  | 'MANUAL_ROLLBACK'
  | 'AUTOMATED_ROLLBACK';

export interface ExecutionRow {
  account_id: string;
  id: string;
  pipeline_name: string;
  pipeline_version: number;
  execution_mode: ExecutionMode;
  execution_type: ExecutionType;
  rollback_target_id: string | null;
  status: PipelineExecutionStatus;
  status_summary: string | null;
  trigger_type: TriggerType;
  trigger_detail: string | null;
  client_request_token: string | null;
  variables: Record<string, string>;
  source_revisions: Record<string, string>;
  stage_index: number;
  in_stage: boolean;
  stop_requested: 'WAIT' | 'ABANDON' | null;
  stop_reason: string | null;
  started_at: Date;
  start_seq: string;
  updated_at: Date;
  /** Filled by reads that join the pinned version: the stage it is in or waits for. */
  current_stage?: string | null;
}

export interface StageRow {
  account_id: string;
  pipeline_execution_id: string;
  pipeline_name: string;
  stage_name: string;
  stage_index: number;
  attempt: number;
  counts_from_attempt: number;
  status: StageExecutionStatus;
  auto_retried: boolean;
  started_at: Date;
  updated_at: Date;
}

export interface ActionRow {
  account_id: string;
  id: string;
  pipeline_execution_id: string;
  pipeline_name: string;
  stage_name: string;
  action_name: string;
  stage_attempt: number;
  run_order: number;
  action_type: string;
  status: ActionExecutionStatus;
  summary: string | null;
  configuration: Record<string, string>;
  resolved_configuration: Record<string, string> | null;
  output_variables: Record<string, string>;
  external_execution_id: string | null;
  failure_type: string | null;
  failure_message: string | null;
  token: string | null;
  decided_by: string | null;
  timeout_at: Date | null;
  /** Declared artifact names, for its events (CodePipeline's inputArtifacts/outputArtifacts). */
  input_artifacts: string[];
  output_artifacts: string[];
  started_at: Date;
  updated_at: Date;
}
