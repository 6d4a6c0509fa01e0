import { GraphQLDateTime, GraphQLJSON } from 'graphql-scalars';
import { Field, InputType, Int, ObjectType } from 'type-graphql';
import { connectionType } from '../graphql/connection';

@ObjectType('Pipeline')
export class PipelineType {
  @Field(() => String)
  name: string;

  @Field(() => String)
  arn: string;

  @Field(() => Int)
  version: number;

  @Field(() => GraphQLJSON, {
    description: 'CodePipeline-shaped declaration; send it back unchanged (renamed) to copy the pipeline',
  })
  declaration: unknown;

  @Field(() => GraphQLDateTime)
  created: Date;

  @Field(() => GraphQLDateTime)
  updated: Date;
}

@ObjectType('Tag')
export class TagType {
  @Field(() => String)
  key: string;

  @Field(() => String)
  value: string;
}

@InputType()
export class TagInput {
  @Field(() => String)
  key: string;

  @Field(() => String)
  value: string;
}

export const PipelineConnection = connectionType('Pipeline', PipelineType);
