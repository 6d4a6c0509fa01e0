import { GraphQLDateTime, GraphQLJSON } from 'graphql-scalars';
import { Field, ID, InputType, Int, ObjectType } from 'type-graphql';
import { connectionType } from '../graphql/connection';

@ObjectType('AuditSessionIssuer')
export class AuditSessionIssuerType {
  @Field(() => String, { description: 'Role' })
  type: string;

  @Field(() => String, { nullable: true })
  principalId: string | null;

  @Field(() => String, { nullable: true })
  arn: string | null;

  @Field(() => String, { nullable: true })
  accountId: string | null;

  @Field(() => String, { nullable: true })
  userName: string | null;
}

@ObjectType('AuditSessionContext', {
  description: 'For a role session: the role it acts as, and who started the chain of sessions',
})
export class AuditSessionContextType {
  @Field(() => AuditSessionIssuerType, { nullable: true })
  sessionIssuer: AuditSessionIssuerType | null;

  @Field(() => String, { nullable: true })
  sourceIdentity: string | null;

  @Field(() => String, { nullable: true })
  creationDate: string | null;
}

@ObjectType('AuditIdentity')
export class AuditIdentityType {
  @Field(() => String, { description: 'Root, IAMUser, AssumedRole, AWSService or Unknown' })
  type: string;

  @Field(() => String, { nullable: true })
  arn: string | null;

  @Field(() => String, { nullable: true })
  accountId: string | null;

  @Field(() => String, { nullable: true })
  principalId: string | null;

  @Field(() => String, { nullable: true })
  userName: string | null;

  @Field(() => String, { nullable: true })
  accessKeyId: string | null;

  @Field(() => AuditSessionContextType, { nullable: true })
  sessionContext: AuditSessionContextType | null;
}

@ObjectType('AuditResource')
export class AuditResourceType {
  @Field(() => String)
  arn: string;

  @Field(() => String)
  accountId: string;

  @Field(() => String)
  type: string;
}

@ObjectType('AuditEvent')
export class AuditEventType {
  @Field(() => ID)
  eventId: string;

  @Field(() => GraphQLDateTime)
  eventTime: Date;

  @Field(() => String)
  eventSource: string;

  @Field(() => String)
  eventName: string;

  @Field(() => Boolean)
  readOnly: boolean;

  @Field(() => String, { nullable: true })
  errorCode: string | null;

  @Field(() => String, { nullable: true })
  errorMessage: string | null;

  @Field(() => AuditIdentityType, { nullable: true })
  userIdentity: AuditIdentityType | null;

  @Field(() => String, { nullable: true })
  sourceIpAddress: string | null;

  @Field(() => String, { nullable: true })
  userAgent: string | null;

  @Field(() => GraphQLJSON, { nullable: true, description: 'The arguments, secrets replaced' })
  requestParameters: unknown;

  @Field(() => GraphQLJSON, { nullable: true, description: 'What a mutation answered, secrets replaced' })
  responseElements: unknown;

  @Field(() => String)
  requestId: string;

  @Field(() => String)
  recipientAccountId: string;

  @Field(() => [AuditResourceType])
  resources: AuditResourceType[];

  @Field(() => GraphQLJSON, { description: 'The whole record, shaped as a CloudTrail event' })
  cloudTrailEvent: unknown;
}

@ObjectType('AuditFinding', { description: 'One reason a trail does not validate' })
export class AuditFindingType {
  @Field(() => String, {
    description:
      'DIGEST_INVALID, DIGEST_UNTRUSTED_KEY, DIGESTS_REMOVED, EVENT_MISSING, EVENT_ALTERED, EVENT_UNSEALED, START_MISSING or END_MISMATCH',
  })
  reason: string;

  @Field(() => String)
  message: string;

  @Field(() => ID, { nullable: true, description: 'The first event concerned, when it still exists' })
  eventId: string | null;

  @Field(() => Int, { nullable: true, description: 'The digest concerned, for digest findings' })
  digestSeq: number | null;
}

@ObjectType('AuditValidation')
export class AuditValidationType {
  @Field(() => Boolean)
  valid: boolean;

  @Field(() => Int)
  checkedEvents: number;

  @Field(() => ID, { nullable: true })
  firstBrokenEventId: string | null;

  @Field(() => [AuditFindingType], {
    description: 'Every reason the trail is not valid, in chain order; empty when valid',
  })
  findings: AuditFindingType[];
}

@InputType()
export class AuditEventFilter {
  @Field(() => String, { nullable: true })
  eventName?: string | null;

  @Field(() => String, { nullable: true })
  principalArn?: string | null;

  @Field(() => String, { nullable: true })
  resourceArn?: string | null;

  @Field(() => Boolean, { nullable: true })
  readOnly?: boolean | null;

  @Field(() => String, { nullable: true })
  errorCode?: string | null;

  @Field(() => GraphQLDateTime, { nullable: true })
  from?: Date | null;

  @Field(() => GraphQLDateTime, { nullable: true })
  to?: Date | null;
}

export const AuditEventConnection = connectionType('AuditEvent', AuditEventType);
