/**
 * The statuses of the four things the engine moves (DESIGN §6), spelled as the GraphQL
 * contract and the database spell them: CodePipeline's values in UPPER_SNAKE. Which moves
 * between them are allowed lives in `transitions.ts`; this file only names the states.
 *
 * There is no "not started" or "waiting" status on purpose, because CodePipeline has none:
 * - a pipeline execution is IN_PROGRESS from the moment it is created, including while it
 *   waits in front of a locked stage or a disabled transition (an "inbound execution");
 * - a stage execution and an action execution come into being when the pipeline execution
 *   enters the stage / when the action starts, so "not yet" is the absence of a row;
 * - a job is QUEUED from its creation until a worker claims it.
 */

export const pipelineExecutionStatuses = [
  'IN_PROGRESS',
  'STOPPING',
  'STOPPED',
  'SUCCEEDED',
  'SUPERSEDED',
  'FAILED',
  'CANCELLED',
] as const;
export type PipelineExecutionStatus = (typeof pipelineExecutionStatuses)[number];

export const stageExecutionStatuses = [
  'IN_PROGRESS',
  'SUCCEEDED',
  'FAILED',
  'STOPPING',
  'STOPPED',
  'CANCELLED',
  'SKIPPED',
] as const;
export type StageExecutionStatus = (typeof stageExecutionStatuses)[number];

export const actionExecutionStatuses = ['IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'ABANDONED'] as const;
export type ActionExecutionStatus = (typeof actionExecutionStatuses)[number];

export const jobStatuses = [
  'QUEUED',
  'DISPATCHED',
  'IN_PROGRESS',
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
] as const;
export type JobStatus = (typeof jobStatuses)[number];
