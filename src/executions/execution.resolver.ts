import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { GraphQLDateTime } from 'graphql-scalars';
import { callerOf, loaderOf, type GraphQLContext } from '../graphql/context';
import { Permission } from '../graphql/permission';
import { arn } from '../iam/arn';
import type { ActionRow, ExecutionRow } from '../engine/execution-rows';
import { mapConnection, type Connection } from '../platform/pagination';
import {
  ActionExecutionConnection,
  ActionExecutionFilter,
  type ActionExecutionType,
  ApprovalResultInput,
  ArtifactMetadataType,
  ArtifactRevisionType,
  LogChunkType,
  PipelineExecutionConnection,
  PipelineExecutionFilter,
  PipelineExecutionType,
  PipelineStateType,
  PipelineVariableInput,
  SourceRevisionOverrideInput,
  StageRetryModeEnum,
  StageTransitionTypeEnum,
} from './execution.types';

type Env = { accountId: string; region: string };
const pipelineArn = (a: { pipelineName: string }, env: Env): string =>
  arn.pipeline(env.region, env.accountId, a.pipelineName);
const stageArn = (a: { pipelineName: string; stageName: string }, env: Env): string =>
  arn.stage(env.region, env.accountId, a.pipelineName, a.stageName);
const actionArn = (a: { pipelineName: string; stageName: string; actionName: string }, env: Env): string =>
  arn.action(env.region, env.accountId, a.pipelineName, a.stageName, a.actionName);

export function toExecution(e: ExecutionRow): PipelineExecutionType {
  return {
    pipelineExecutionId: e.id,
    pipelineName: e.pipeline_name,
    pipelineVersion: e.pipeline_version,
    status: e.status,
    statusSummary: e.status_summary,
    executionMode: e.execution_mode,
    executionType: e.execution_type,
    rollbackTargetPipelineExecutionId: e.rollback_target_id,
    trigger: { triggerType: e.trigger_type, triggerDetail: e.trigger_detail },
    artifactRevisions: [],
    variables: Object.entries(e.variables).map(([name, resolvedValue]) => ({ name, resolvedValue })),
    currentStage: e.current_stage ?? null,
    startTime: e.started_at,
    lastUpdateTime: e.updated_at,
  };
}

export function toActionExecution(a: ActionRow): ActionExecutionType {
  const [category, owner, provider, version] = a.action_type.split('/');
  return {
    actionExecutionId: a.id,
    pipelineExecutionId: a.pipeline_execution_id,
    stageName: a.stage_name,
    actionName: a.action_name,
    status: a.status,
    summary: a.summary,
    failureType: a.failure_type,
    startTime: a.started_at,
    lastUpdateTime: a.updated_at,
    // Every write to an action execution changes its status, so its update time is that change.
    lastStatusChange: a.updated_at,
    input: {
      actionTypeId: { category, owner, provider, version },
      configuration: a.configuration,
      resolvedConfiguration: a.resolved_configuration,
    },
    output: {
      outputVariables: a.output_variables,
      executionResult: { externalExecutionId: a.external_execution_id, externalExecutionSummary: a.summary },
    },
    token: a.status === 'IN_PROGRESS' ? a.token : null,
    updatedBy: a.decided_by,
  };
}

/** Running pipelines: start, stop, retry, roll back, gate; and read what happened. */
@Resolver(() => PipelineExecutionType)
export class ExecutionResolver {
  @Mutation(() => PipelineExecutionType, { description: 'Idempotent per clientRequestToken' })
  @Permission.iam<{ name: string }>('codepipeline:StartPipelineExecution', (a, env) =>
    arn.pipeline(env.region, env.accountId, a.name),
  )
  async startPipelineExecution(
    @Arg('name', () => String) name: string,
    @Arg('variables', () => [PipelineVariableInput], { nullable: true })
    variables: PipelineVariableInput[] | undefined,
    @Arg('sourceRevisions', () => [SourceRevisionOverrideInput], { nullable: true })
    sourceRevisions: SourceRevisionOverrideInput[] | undefined,
    @Arg('clientRequestToken', () => String, { nullable: true }) clientRequestToken: string | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PipelineExecutionType> {
    const caller = callerOf(ctx);
    const execution = await ctx.services.executions.start({
      accountId: caller.accountId,
      pipelineName: name,
      triggerType: 'START_PIPELINE_EXECUTION',
      triggerDetail: caller.arn,
      variables: variables?.map((v) => ({ name: v.name, value: v.value })),
      sourceRevisions: sourceRevisions?.map((r) => ({
        actionName: r.actionName,
        revisionId: r.revisionValue,
      })),
      clientRequestToken: clientRequestToken ?? undefined,
    });
    return toExecution(execution);
  }

  @Mutation(() => PipelineExecutionType, { description: 'abandon: stop at once, abandoning running actions' })
  @Permission.iam('codepipeline:StopPipelineExecution', pipelineArn)
  async stopPipelineExecution(
    @Arg('pipelineName', () => String) pipelineName: string,
    @Arg('pipelineExecutionId', () => ID) pipelineExecutionId: string,
    @Arg('abandon', () => Boolean, { nullable: true }) abandon: boolean | undefined,
    @Arg('reason', () => String, { nullable: true }) reason: string | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PipelineExecutionType> {
    const e = await ctx.services.executions.stop(
      callerOf(ctx).accountId,
      pipelineName,
      pipelineExecutionId,
      abandon ?? false,
      reason ?? undefined,
    );
    return toExecution(e);
  }

  @Mutation(() => PipelineExecutionType)
  @Permission.iam('codepipeline:RetryStageExecution', pipelineArn)
  async retryStageExecution(
    @Arg('pipelineName', () => String) pipelineName: string,
    @Arg('stageName', () => String) stageName: string,
    @Arg('pipelineExecutionId', () => ID) pipelineExecutionId: string,
    @Arg('retryMode', () => StageRetryModeEnum) retryMode: StageRetryModeEnum,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PipelineExecutionType> {
    const e = await ctx.services.executions.retryStage(
      callerOf(ctx).accountId,
      pipelineName,
      stageName,
      pipelineExecutionId,
      retryMode,
    );
    return toExecution(e);
  }

  @Mutation(() => PipelineExecutionType, { description: 'Starts a ROLLBACK execution of the stage' })
  @Permission.iam('codepipeline:RollbackStage', pipelineArn)
  async rollbackStage(
    @Arg('pipelineName', () => String) pipelineName: string,
    @Arg('stageName', () => String) stageName: string,
    @Arg('targetPipelineExecutionId', () => ID) targetPipelineExecutionId: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PipelineExecutionType> {
    const caller = callerOf(ctx);
    return toExecution(
      await ctx.services.executions.rollback(
        caller.accountId,
        pipelineName,
        stageName,
        targetPipelineExecutionId,
        caller,
      ),
    );
  }

  @Mutation(() => GraphQLDateTime, { description: 'When the approval was recorded' })
  @Permission.iam('codepipeline:PutApprovalResult', actionArn)
  async putApprovalResult(
    @Arg('pipelineName', () => String) pipelineName: string,
    @Arg('stageName', () => String) stageName: string,
    @Arg('actionName', () => String) actionName: string,
    @Arg('result', () => ApprovalResultInput) result: ApprovalResultInput,
    @Arg('token', () => String) token: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Date> {
    const caller = callerOf(ctx);
    return ctx.services.executions.putApprovalResult(
      caller.accountId,
      pipelineName,
      stageName,
      actionName,
      { status: result.status, summary: result.summary },
      token,
      caller,
    );
  }

  @Mutation(() => Boolean)
  @Permission.iam('codepipeline:EnableStageTransition', stageArn)
  async enableStageTransition(
    @Arg('pipelineName', () => String) pipelineName: string,
    @Arg('stageName', () => String) stageName: string,
    @Arg('transitionType', () => StageTransitionTypeEnum) transitionType: StageTransitionTypeEnum,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    const caller = callerOf(ctx);
    await ctx.services.executions.setTransition(
      caller.accountId,
      pipelineName,
      stageName,
      transitionType,
      true,
      null,
      caller,
    );
    return true;
  }

  @Mutation(() => Boolean)
  @Permission.iam('codepipeline:DisableStageTransition', stageArn)
  async disableStageTransition(
    @Arg('pipelineName', () => String) pipelineName: string,
    @Arg('stageName', () => String) stageName: string,
    @Arg('transitionType', () => StageTransitionTypeEnum) transitionType: StageTransitionTypeEnum,
    @Arg('reason', () => String) reason: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    const caller = callerOf(ctx);
    await ctx.services.executions.setTransition(
      caller.accountId,
      pipelineName,
      stageName,
      transitionType,
      false,
      reason,
      caller,
    );
    return true;
  }

  @Query(() => PipelineExecutionType)
  @Permission.iam('codepipeline:GetPipelineExecution', pipelineArn)
  async pipelineExecution(
    @Arg('pipelineName', () => String) pipelineName: string,
    @Arg('pipelineExecutionId', () => ID) pipelineExecutionId: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PipelineExecutionType> {
    return toExecution(
      await ctx.services.executions.get(callerOf(ctx).accountId, pipelineName, pipelineExecutionId),
    );
  }

  @Query(() => PipelineExecutionConnection, { description: 'Newest first' })
  @Permission.iam('codepipeline:ListPipelineExecutions', pipelineArn)
  async pipelineExecutions(
    @Arg('pipelineName', () => String) pipelineName: string,
    @Arg('filter', () => PipelineExecutionFilter, { nullable: true })
    filter: PipelineExecutionFilter | undefined,
    @Arg('first', () => Int, { nullable: true }) first: number | undefined,
    @Arg('after', () => String, { nullable: true }) after: string | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Connection<PipelineExecutionType>> {
    const page = await ctx.services.executions.list(
      callerOf(ctx).accountId,
      pipelineName,
      filter ?? {},
      first,
      after,
    );
    return mapConnection(page, (e) => toExecution(e));
  }

  @Query(() => ActionExecutionConnection, { description: 'Newest first' })
  @Permission.iam('codepipeline:ListActionExecutions', pipelineArn)
  async actionExecutions(
    @Arg('pipelineName', () => String) pipelineName: string,
    @Arg('filter', () => ActionExecutionFilter, { nullable: true }) filter: ActionExecutionFilter | undefined,
    @Arg('first', () => Int, { nullable: true }) first: number | undefined,
    @Arg('after', () => String, { nullable: true }) after: string | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Connection<ActionExecutionType>> {
    const page = await ctx.services.executions.listActions(
      callerOf(ctx).accountId,
      pipelineName,
      filter?.pipelineExecutionId,
      first,
      after,
    );
    return mapConnection(page, toActionExecution);
  }

  @Query(() => LogChunkType, { description: 'An action execution’s log from a byte offset (limit ≤ 1 MiB)' })
  @Permission.iam('codepipeline:ListActionExecutions', pipelineArn)
  async actionExecutionLog(
    @Arg('pipelineName', () => String) pipelineName: string,
    @Arg('actionExecutionId', () => String) actionExecutionId: string,
    @Arg('offset', () => Int, { nullable: true }) offset: number | undefined,
    @Arg('limit', () => Int, { nullable: true }) limit: number | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<LogChunkType> {
    const size = Math.min(Math.max(limit ?? 65_536, 1), 1_048_576);
    return ctx.services.executions.actionLog(
      callerOf(ctx).accountId,
      pipelineName,
      actionExecutionId,
      Math.max(offset ?? 0, 0),
      size,
    );
  }

  @Query(() => PipelineStateType)
  @Permission.iam<{ name: string }>('codepipeline:GetPipelineState', (a, env) =>
    arn.pipeline(env.region, env.accountId, a.name),
  )
  async pipelineState(
    @Arg('name', () => String) name: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PipelineStateType> {
    const state = await ctx.services.executions.state(callerOf(ctx).accountId, name);
    return {
      ...state,
      stageStates: state.stageStates.map((s) => ({
        ...s,
        inboundExecutions: s.inboundExecutions.map((e) => ({ pipelineExecutionId: e.id, status: e.status })),
        actionStates: s.actionStates.map((a) => ({
          actionName: a.actionName,
          latestExecution: a.latestExecution ? toActionExecution(a.latestExecution) : null,
        })),
      })),
    };
  }

  @Query(() => [ArtifactMetadataType])
  @Permission.iam('codepipeline:GetPipelineExecution', pipelineArn)
  async artifacts(
    @Arg('pipelineName', () => String) pipelineName: string,
    @Arg('pipelineExecutionId', () => ID) pipelineExecutionId: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ArtifactMetadataType[]> {
    const accountId = callerOf(ctx).accountId;
    const rows = await ctx.services.executions.artifacts(accountId, pipelineName, pipelineExecutionId);
    return rows.map((r) => ({
      name: r.name,
      sha256: r.sha256,
      sizeBytes: Number(r.size_bytes),
      producedBy: r.produced_by,
      created: r.created_at,
      downloadUrl: ctx.origin + ctx.services.artifactLinks.path(accountId, pipelineExecutionId, r.name),
    }));
  }

  /** Revisions of every listed execution, in one query per request. */
  @FieldResolver(() => [ArtifactRevisionType])
  async artifactRevisions(
    @Root() execution: PipelineExecutionType,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ArtifactRevisionType[]> {
    const accountId = callerOf(ctx).accountId;
    const loader = loaderOf<string, ArtifactRevisionType[]>(ctx, 'artifactRevisions', async (ids) => {
      const found = await ctx.services.executions.artifactRevisions(accountId, ids);
      return ids.map((id) => found.get(id) ?? []);
    });
    return loader.load(execution.pipelineExecutionId);
  }
}
