import { GraphQLDateTime, GraphQLJSON } from 'graphql-scalars';
import { Field, ID, ObjectType } from 'type-graphql';

@ObjectType('PipelineEvent', {
  description: 'One execution state change, shaped as CodePipeline’s EventBridge events (docs/events.md)',
})
export class PipelineEventType {
  @Field(() => String, {
    description:
      'Decimal; only grows as a reader sees it. Resume with afterSequence set to the last one received',
  })
  sequence: string;

  @Field(() => String, {
    description:
      '"Pipeline Execution State Change", "Stage Execution State Change" or "Action Execution State Change"',
  })
  detailType: string;

  @Field(() => GraphQLDateTime)
  time: Date;

  @Field(() => String, { description: 'The account id' })
  account: string;

  @Field(() => String)
  pipeline: string;

  @Field(() => ID)
  executionId: string;

  @Field(() => String, { nullable: true })
  stage: string | null;

  @Field(() => String, { nullable: true })
  action: string | null;

  @Field(() => String, { description: 'STARTED, RESUMED, SUCCEEDED, FAILED, STOPPING, STOPPED, …' })
  state: string;

  @Field(() => GraphQLJSON, { description: 'EventBridge’s detail, camelCase' })
  detail: Record<string, unknown>;
}
