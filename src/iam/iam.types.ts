import { GraphQLDateTime, GraphQLJSON } from 'graphql-scalars';
import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { connectionType } from '../graphql/connection';

export enum PrincipalTypeEnum {
  ROOT = 'ROOT',
  USER = 'USER',
  ASSUMED_ROLE = 'ASSUMED_ROLE',
}
registerEnumType(PrincipalTypeEnum, { name: 'PrincipalType' });

export enum PolicyScopeEnum {
  ALL = 'ALL',
  LOCAL = 'LOCAL',
  MANAGED = 'MANAGED',
}
registerEnumType(PolicyScopeEnum, {
  name: 'PolicyScope',
  description: 'LOCAL: customer-managed policies of the account; MANAGED: policies Sluice ships',
});

export enum PolicyDecisionEnum {
  ALLOWED = 'ALLOWED',
  EXPLICIT_DENY = 'EXPLICIT_DENY',
  IMPLICIT_DENY = 'IMPLICIT_DENY',
}
registerEnumType(PolicyDecisionEnum, { name: 'PolicyEvaluationDecision' });

/** The layers of IAM's evaluation, in order (src/iam/policy/account-authorizer.ts). */
export enum EvaluationLayerEnum {
  GUARDRAILS = 'guardrails',
  BOUNDARY = 'boundary',
  SESSION_POLICY = 'session',
  IDENTITY = 'identity',
}
registerEnumType(EvaluationLayerEnum, {
  name: 'EvaluationLayer',
  description:
    "Where a decision was made: the account's guardrails, the principal's permissions boundary, the session policy, or the identity policies",
});

@ObjectType('Principal')
export class PrincipalObject {
  @Field(() => String)
  arn: string;

  @Field(() => String)
  accountId: string;

  @Field(() => PrincipalTypeEnum)
  type: PrincipalTypeEnum;

  @Field(() => String, { nullable: true })
  userName?: string;
}

@ObjectType('Session')
export class SessionType {
  @Field(() => String)
  accessToken: string;

  @Field(() => GraphQLDateTime)
  expiresAt: Date;

  @Field(() => PrincipalObject)
  principal: PrincipalObject;
}

@ObjectType('CreatedAccount')
export class CreatedAccountType {
  @Field(() => String)
  accountId: string;

  @Field(() => String)
  name: string;

  @Field(() => String, { description: 'Shown once: the password of the account root (user name "root")' })
  rootPassword: string;
}

@ObjectType('AccessKey')
export class AccessKeyType {
  @Field(() => String)
  accessKeyId: string;

  @Field(() => String, { nullable: true, description: 'Only in the answer of createAccessKey; never again' })
  secretAccessKey?: string | null;

  @Field(() => String)
  userName: string;

  @Field(() => GraphQLDateTime)
  createDate: Date;
}

@ObjectType('User')
export class UserType {
  @Field(() => String)
  userName: string;

  @Field(() => ID)
  userId: string;

  @Field(() => String)
  arn: string;

  @Field(() => GraphQLDateTime)
  createDate: Date;

  @Field(() => Boolean, { description: 'Whether the user can sign in with a password' })
  hasPassword: boolean;

  @Field(() => String, {
    nullable: true,
    description: 'The ARN of the policy that caps what the user may do (its permissions boundary)',
  })
  permissionsBoundary?: string | null;

  /** Used by field resolvers; not exposed. */
  accountId: string;
}

@ObjectType('Group')
export class GroupType {
  @Field(() => String)
  groupName: string;

  @Field(() => ID)
  groupId: string;

  @Field(() => String)
  arn: string;

  @Field(() => GraphQLDateTime)
  createDate: Date;

  accountId: string;
}

@ObjectType('Policy')
export class PolicyType {
  @Field(() => String)
  arn: string;

  @Field(() => String)
  name: string;

  @Field(() => String, { nullable: true })
  description: string | null;

  @Field(() => GraphQLJSON)
  document: unknown;

  @Field(() => Boolean, {
    description: 'True for the policies Sluice ships (arn:sluice:iam::sluice:policy/…)',
  })
  isManaged: boolean;

  @Field(() => GraphQLDateTime, { nullable: true })
  createDate: Date | null;

  @Field(() => GraphQLDateTime, { nullable: true })
  updateDate: Date | null;
}

@ObjectType('InlinePolicy')
export class InlinePolicyType {
  @Field(() => String)
  policyName: string;

  @Field(() => GraphQLJSON)
  document: unknown;
}

@ObjectType('MatchedStatement')
export class MatchedStatementType {
  @Field(() => String)
  sourcePolicyId: string;

  @Field(() => String)
  sourcePolicyName: string;

  @Field(() => String, { description: 'The policy ARN; empty for a session policy or a policy given inline' })
  sourcePolicyArn: string;

  @Field(() => EvaluationLayerEnum, { nullable: true })
  layer?: EvaluationLayerEnum;

  @Field(() => Int)
  statementIndex: number;

  @Field(() => String, { nullable: true })
  sid?: string;

  @Field(() => String)
  effect: string;
}

@ObjectType('EvaluationResult')
export class EvaluationResultType {
  @Field(() => String)
  actionName: string;

  @Field(() => String)
  resourceArn: string;

  @Field(() => PolicyDecisionEnum)
  decision: PolicyDecisionEnum;

  @Field(() => [MatchedStatementType])
  matchedStatements: MatchedStatementType[];

  @Field(() => EvaluationLayerEnum, {
    nullable: true,
    description: 'For a denial: the first layer, in evaluation order, that denied',
  })
  deniedBy?: EvaluationLayerEnum | null;

  @Field(() => String, {
    nullable: true,
    description: 'Why the decision needed no policy, e.g. a resource in another account',
  })
  reason?: string | null;
}

@ObjectType('AuthorizationDecision', {
  description: 'The explanation of one ACCESS_DENIED, looked up by the decisionId its error carried',
})
export class AuthorizationDecisionType {
  @Field(() => ID)
  decisionId: string;

  @Field(() => GraphQLDateTime)
  time: Date;

  @Field(() => String)
  principalArn: string;

  @Field(() => String)
  actionName: string;

  @Field(() => String)
  resourceArn: string;

  @Field(() => PolicyDecisionEnum)
  decision: PolicyDecisionEnum;

  @Field(() => EvaluationLayerEnum, { nullable: true })
  deniedBy?: EvaluationLayerEnum | null;

  @Field(() => [MatchedStatementType])
  matchedStatements: MatchedStatementType[];

  @Field(() => String, { nullable: true })
  reason?: string | null;
}

@InputType()
export class ContextEntryInput {
  @Field(() => String, { description: 'A condition key, e.g. aws:SourceIp or aws:ResourceTag/env' })
  contextKeyName: string;

  @Field(() => [String])
  contextKeyValues: string[];
}

export const UserConnection = connectionType('User', UserType);
export const GroupConnection = connectionType('Group', GroupType);
export const PolicyConnection = connectionType('Policy', PolicyType);
