import { GraphQLDateTime, GraphQLJSONObject } from 'graphql-scalars';
import { Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { connectionType } from '../graphql/connection';

export enum StageTransitionTypeEnum {
  INBOUND = 'INBOUND',
  OUTBOUND = 'OUTBOUND',
}
registerEnumType(StageTransitionTypeEnum, { name: 'StageTransitionType' });

export enum StageRetryModeEnum {
  FAILED_ACTIONS = 'FAILED_ACTIONS',
  ALL_ACTIONS = 'ALL_ACTIONS',
}
registerEnumType(StageRetryModeEnum, { name: 'StageRetryMode' });

export enum ApprovalStatusEnum {
  APPROVED = 'APPROVED',
  REJECTED = 'REJECTED',
}
registerEnumType(ApprovalStatusEnum, { name: 'ApprovalStatus' });

@InputType()
export class PipelineVariableInput {
  @Field(() => String)
  name: string;

  @Field(() => String)
  value: string;
}

@InputType()
export class SourceRevisionOverrideInput {
  @Field(() => String, { description: 'The source action whose revision to use' })
  actionName: string;

  @Field(() => String, { description: 'COMMIT_ID (the only type Sluice’s Git source takes)', nullable: true })
  revisionType?: string | null;

  @Field(() => String)
  revisionValue: string;
}

@InputType()
export class ApprovalResultInput {
  @Field(() => ApprovalStatusEnum)
  status: ApprovalStatusEnum;

  @Field(() => String)
  summary: string;
}

@InputType()
export class PipelineExecutionFilter {
  @Field(() => String, { nullable: true, description: 'IN_PROGRESS, SUCCEEDED, FAILED, …' })
  status?: string | null;

  @Field(() => String, { nullable: true, description: 'Only executions that succeeded in this stage' })
  succeededInStage?: string | null;
}

@InputType()
export class ActionExecutionFilter {
  @Field(() => String, { nullable: true })
  pipelineExecutionId?: string | null;
}

@ObjectType('ExecutionTrigger')
export class ExecutionTriggerType {
  @Field(() => String)
  triggerType: string;

  @Field(() => String, { nullable: true })
  triggerDetail: string | null;
}

@ObjectType('ArtifactRevision')
export class ArtifactRevisionType {
  @Field(() => String)
  name: string;

  @Field(() => String, { nullable: true })
  revisionId: string | null;

  @Field(() => String, { nullable: true })
  revisionSummary: string | null;
}

@ObjectType('ResolvedPipelineVariable')
export class ResolvedPipelineVariableType {
  @Field(() => String)
  name: string;

  @Field(() => String)
  resolvedValue: string;
}

@ObjectType('PipelineExecution')
export class PipelineExecutionType {
  @Field(() => ID)
  pipelineExecutionId: string;

  @Field(() => String)
  pipelineName: string;

  @Field(() => Int)
  pipelineVersion: number;

  @Field(() => String, {
    description: 'IN_PROGRESS, STOPPING, STOPPED, SUCCEEDED, SUPERSEDED, FAILED or CANCELLED',
  })
  status: string;

  @Field(() => String, { nullable: true })
  statusSummary: string | null;

  @Field(() => String, { description: 'SUPERSEDED, QUEUED or PARALLEL' })
  executionMode: string;

  @Field(() => String, { description: 'STANDARD or ROLLBACK' })
  executionType: string;

  @Field(() => ID, {
    nullable: true,
    description: 'For a rollback: the execution whose revisions it runs again',
  })
  rollbackTargetPipelineExecutionId: string | null;

  @Field(() => ExecutionTriggerType)
  trigger: ExecutionTriggerType;

  @Field(() => [ArtifactRevisionType])
  artifactRevisions: ArtifactRevisionType[];

  @Field(() => [ResolvedPipelineVariableType])
  variables: ResolvedPipelineVariableType[];

  @Field(() => String, { nullable: true, description: 'The stage it is in, or waits in front of' })
  currentStage: string | null;

  @Field(() => GraphQLDateTime)
  startTime: Date;

  @Field(() => GraphQLDateTime)
  lastUpdateTime: Date;
}

@ObjectType('ActionExecutionInput')
export class ActionExecutionInputType {
  @Field(() => GraphQLJSONObject)
  actionTypeId: Record<string, string>;

  @Field(() => GraphQLJSONObject)
  configuration: Record<string, string>;

  @Field(() => GraphQLJSONObject, {
    nullable: true,
    description: 'The configuration with every #{…} resolved',
  })
  resolvedConfiguration: Record<string, string> | null;
}

@ObjectType('ActionExecutionResult')
export class ActionExecutionResultType {
  @Field(() => String, { nullable: true })
  externalExecutionId: string | null;

  @Field(() => String, { nullable: true })
  externalExecutionSummary: string | null;
}

@ObjectType('ActionExecutionOutput')
export class ActionExecutionOutputType {
  @Field(() => GraphQLJSONObject)
  outputVariables: Record<string, string>;

  @Field(() => ActionExecutionResultType)
  executionResult: ActionExecutionResultType;
}

@ObjectType('ActionExecution')
export class ActionExecutionType {
  @Field(() => ID)
  actionExecutionId: string;

  @Field(() => ID)
  pipelineExecutionId: string;

  @Field(() => String)
  stageName: string;

  @Field(() => String)
  actionName: string;

  @Field(() => String, { description: 'IN_PROGRESS, SUCCEEDED, FAILED or ABANDONED' })
  status: string;

  @Field(() => String, { nullable: true })
  summary: string | null;

  @Field(() => String, { nullable: true, description: 'For a failure: JOB_FAILED, CONFIGURATION_ERROR, …' })
  failureType: string | null;

  @Field(() => GraphQLDateTime)
  startTime: Date;

  @Field(() => GraphQLDateTime)
  lastUpdateTime: Date;

  @Field(() => GraphQLDateTime, { description: 'When the status last changed' })
  lastStatusChange: Date;

  @Field(() => ActionExecutionInputType)
  input: ActionExecutionInputType;

  @Field(() => ActionExecutionOutputType)
  output: ActionExecutionOutputType;

  @Field(() => String, {
    nullable: true,
    description: 'Approvals in progress: the token putApprovalResult needs',
  })
  token: string | null;

  @Field(() => String, { nullable: true, description: 'Approvals: who decided' })
  updatedBy: string | null;
}

@ObjectType('LogChunk')
export class LogChunkType {
  @Field(() => Float)
  offset: number;

  @Field(() => String)
  text: string;

  @Field(() => Float, { description: 'Where the next read starts' })
  nextOffset: number;

  @Field(() => Boolean, { description: 'True once the action has finished and nothing more will be logged' })
  complete: boolean;
}

@ObjectType('ArtifactMetadata')
export class ArtifactMetadataType {
  @Field(() => String)
  name: string;

  @Field(() => String)
  sha256: string;

  @Field(() => Float)
  sizeBytes: number;

  @Field(() => String, { description: 'The action that produced it' })
  producedBy: string;

  @Field(() => GraphQLDateTime)
  created: Date;

  @Field(() => String, { description: 'Signed link to the zip, valid for 15 minutes, no token needed' })
  downloadUrl: string;
}

@ObjectType('TransitionState')
export class TransitionStateType {
  @Field(() => Boolean)
  enabled: boolean;

  @Field(() => String, { nullable: true })
  disabledReason: string | null;

  @Field(() => String, { nullable: true })
  lastChangedBy: string | null;

  @Field(() => GraphQLDateTime, { nullable: true })
  lastChangedAt: Date | null;
}

@ObjectType('StageExecutionSummary')
export class StageExecutionSummaryType {
  @Field(() => ID)
  pipelineExecutionId: string;

  @Field(() => String)
  status: string;
}

@ObjectType('ActionState')
export class ActionStateType {
  @Field(() => String)
  actionName: string;

  @Field(() => ActionExecutionType, { nullable: true })
  latestExecution: ActionExecutionType | null;
}

@ObjectType('StageState')
export class StageStateType {
  @Field(() => String)
  stageName: string;

  @Field(() => TransitionStateType)
  inboundTransitionState: TransitionStateType;

  @Field(() => [StageExecutionSummaryType], { description: 'Executions waiting in front of the stage' })
  inboundExecutions: StageExecutionSummaryType[];

  @Field(() => StageExecutionSummaryType, { nullable: true })
  latestExecution: StageExecutionSummaryType | null;

  @Field(() => [ActionStateType])
  actionStates: ActionStateType[];
}

@ObjectType('PipelineState')
export class PipelineStateType {
  @Field(() => String)
  pipelineName: string;

  @Field(() => Int)
  pipelineVersion: number;

  @Field(() => [StageStateType])
  stageStates: StageStateType[];

  @Field(() => GraphQLDateTime)
  created: Date;

  @Field(() => GraphQLDateTime)
  updated: Date;
}

export const PipelineExecutionConnection = connectionType('PipelineExecution', PipelineExecutionType);
export const ActionExecutionConnection = connectionType('ActionExecution', ActionExecutionType);
