import { Arg, Float, ID, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import { LogChunkType } from '../executions/execution.types';
import { callerOf, type GraphQLContext } from '../graphql/context';
import { Permission } from '../graphql/permission';
import { arn } from '../iam/arn';
import type { Services } from '../services';
import { actionExecutionLookup, LogStreams, type LogChunk } from './log-stream';

interface LogArgs {
  pipelineName: string;
  actionExecutionId: string;
  fromOffset?: number | null;
}

type Env = { accountId: string; region: string };
const pipelineArn = (a: { pipelineName: string }, env: Env): string =>
  arn.pipeline(env.region, env.accountId, a.pipelineName);

/**
 * One LogStreams per process (per Services), so the whole process holds one LISTEN on the log
 * channel however many subscribe; made on the first subscription, since only servers need it.
 */
const logStreams = new WeakMap<Services, LogStreams>();
export function logStreamsOf(services: Services): LogStreams {
  let streams = logStreams.get(services);
  if (!streams) {
    streams = new LogStreams(
      services.jobs,
      actionExecutionLookup(services.dataSource),
      services.notifications,
    );
    logStreams.set(services, streams);
  }
  return streams;
}

/** Log subscriptions open in this process (for /metrics; none before the first). */
export function openLogStreams(services: Services): number {
  return logStreams.get(services)?.openStreams ?? 0;
}

/** Live executions: what subscribers receive over graphql-ws on /graphql (docs/events.md). */
@Resolver()
export class EventsResolver {
  @Subscription(() => LogChunkType, {
    description:
      'An action execution’s log as it is written, from byte fromOffset (default 0): every byte once, in order; ' +
      'completes once the action has ended and all of its log was sent',
    subscribe: ({ args, context }: SubscribeResolverData<unknown, LogArgs, GraphQLContext>) =>
      logStreamsOf(context.services).open(
        callerOf(context).accountId,
        args.pipelineName,
        args.actionExecutionId,
        args.fromOffset,
      ),
  })
  // The permission of actionExecutionLog, the query of the same log.
  @Permission.iam('codepipeline:ListActionExecutions', pipelineArn)
  actionExecutionLogs(
    @Root() chunk: LogChunk,
    @Arg('pipelineName', () => String) _pipelineName: string,
    @Arg('actionExecutionId', () => ID) _actionExecutionId: string,
    @Arg('fromOffset', () => Float, { nullable: true }) _fromOffset: number | undefined,
  ): LogChunkType {
    return chunk;
  }
}
