import { GraphQLDateTime, GraphQLJSON } from 'graphql-scalars';
import { Field, ID, Int, ObjectType } from 'type-graphql';
import { connectionType } from '../../graphql/connection';

@ObjectType('Role', { description: 'An IAM role: who may assume it (its trust policy) and for how long' })
export class RoleType {
  @Field(() => String)
  roleName: string;

  @Field(() => ID)
  roleId: string;

  @Field(() => String)
  arn: string;

  @Field(() => GraphQLJSON, { description: 'The trust policy' })
  assumeRolePolicyDocument: Record<string, unknown>;

  @Field(() => Int, { description: 'The longest session assumeRole grants, in seconds (3,600–43,200)' })
  maxSessionDuration: number;

  @Field(() => GraphQLDateTime)
  createDate: Date;

  @Field(() => String, {
    nullable: true,
    description: 'The ARN of the policy that caps what the role may do',
  })
  permissionsBoundary?: string | null;
}

export const RoleConnection = connectionType('Role', RoleType);
