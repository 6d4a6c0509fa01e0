import { Arg, Ctx, Resolver, Root, Subscription } from 'type-graphql';
import { arn } from '../iam/arn';
import { DomainError } from '../platform/errors';
import { callerOf, type GraphQLContext } from '../graphql/context';
import { Permission } from '../graphql/permission';
import { permissionNow } from '../graphql/permission-layer';
import { parseSequence } from './event-errors';
import { GuardedEvents, type EventVerdict, type GuardedEvent } from './event-permits';
import type { EventFilter, StoredEvent } from './event-stream';
import { PipelineEventType } from './pipeline-event.types';

const READ_ACTION = 'codepipeline:GetPipelineState';

/** The subscription ends with this once the caller may no longer read what it watches. */
class EventsAccessWithdrawnError extends DomainError {
  constructor(what: string) {
    super('ACCESS_DENIED', `Permission to read ${what} was withdrawn; the subscription has ended`);
  }
}

interface EventArgs {
  pipelineName?: string;
  afterSequence?: string | null;
}

function toPipelineEvent(e: StoredEvent): PipelineEventType {
  return {
    sequence: String(e.sequence),
    detailType: e.detailType,
    time: e.time,
    account: e.accountId,
    pipeline: e.pipelineName,
    executionId: e.executionId,
    stage: e.stageName,
    action: e.actionName,
    state: e.state,
    detail: e.detail,
  };
}

/**
 * Events of one pipeline, or of every pipeline the caller may read, with a permission check
 * per event. A subscriber that falls too far behind makes the stream reject with
 * SubscriberTooSlowError, on which the WebSocket transport closes the connection with 4008 and
 * a reason naming the sequence to resume after.
 */
async function subscribe(
  ctx: GraphQLContext,
  filter: EventFilter,
  afterSequence: bigint | undefined,
  judge: (event: StoredEvent) => Promise<EventVerdict>,
): Promise<AsyncIterableIterator<GuardedEvent>> {
  const source = await ctx.services.events.stream(filter, { afterSequence });
  return new GuardedEvents(
    source,
    (e) => e.pipelineName,
    judge,
    () => ctx.services.iamChanges.generation,
  );
}

@Resolver()
export class PipelineEventsResolver {
  @Subscription(() => PipelineEventType, {
    description:
      'State changes of one pipeline’s executions, stages and actions; with afterSequence, what was missed first',
    subscribe: ({ args, context }) => {
      const ctx = context as GraphQLContext;
      const { pipelineName, afterSequence } = args as EventArgs;
      const principal = callerOf(ctx);
      const after = parseSequence(afterSequence);
      const resource = arn.pipeline(ctx.services.config.region, principal.accountId, pipelineName!);
      return ctx.services.pipelines
        .get(principal.accountId, pipelineName!)
        .then(() =>
          subscribe(ctx, { accountId: principal.accountId, pipelineName }, after, async () =>
            (await permissionNow(ctx, READ_ACTION, resource)) === 'allowed' ? 'deliver' : 'end',
          ),
        );
    },
  })
  @Permission.iam<{ pipelineName: string }>(READ_ACTION, (a, env) =>
    arn.pipeline(env.region, env.accountId, a.pipelineName),
  )
  pipelineEvents(
    @Root() payload: GuardedEvent,
    @Arg('pipelineName', () => String) pipelineName: string,
    @Arg('afterSequence', () => String, { nullable: true }) _afterSequence: string | undefined,
  ): PipelineEventType {
    if ('denied' in payload) throw new EventsAccessWithdrawnError(`the events of pipeline ${pipelineName}`);
    return toPipelineEvent(payload.event);
  }

  @Subscription(() => PipelineEventType, {
    description:
      'State changes of every pipeline of the account the caller may read (GetPipelineState per pipeline)',
    subscribe: ({ args, context }) => {
      const ctx = context as GraphQLContext;
      const principal = callerOf(ctx);
      const after = parseSequence((args as EventArgs).afterSequence);
      const region = ctx.services.config.region;
      return subscribe(ctx, { accountId: principal.accountId }, after, async (event) => {
        const now = await permissionNow(
          ctx,
          READ_ACTION,
          arn.pipeline(region, event.accountId, event.pipelineName),
        );
        if (now === 'signed-out') return 'end';
        return now === 'allowed' ? 'deliver' : 'skip';
      });
    },
  })
  @Permission.list(READ_ACTION)
  accountEvents(
    @Root() payload: GuardedEvent,
    @Arg('afterSequence', () => String, { nullable: true }) _afterSequence: string | undefined,
    @Ctx() _ctx: GraphQLContext,
  ): PipelineEventType {
    if ('denied' in payload) throw new EventsAccessWithdrawnError('the events of this account');
    return toPipelineEvent(payload.event);
  }
}
