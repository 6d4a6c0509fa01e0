import type { GraphQLSchema } from 'graphql';
import { AuditResolver } from '../audit/audit.resolver';
import { EventsResolver } from '../events/events.resolver';
import { PipelineEventsResolver } from '../events/pipeline-events.resolver';
import { ExecutionResolver } from '../executions/execution.resolver';
import { buildSchema, getMetadataStorage, type PubSub } from 'type-graphql';
import { IdentityResolver } from '../iam/identity/identity.resolver';
import { GroupsResolver, UsersResolver } from '../iam/identity/users.resolver';
import { PoliciesResolver } from '../iam/policies/policies.resolver';
import { RolesResolver } from '../iam/roles/roles.resolver';
import { StsResolver } from '../iam/sts/sts.resolver';
import {
  GroupPoliciesResolver,
  RolePoliciesResolver,
  UserPoliciesResolver,
} from '../iam/policies/holder-policies.resolver';
import { PrincipalTagsResolver } from '../iam/principal-tags.resolver';
import { BoundariesResolver } from '../iam/boundaries/boundaries.resolver';
import { GuardrailsResolver } from '../iam/guardrails/guardrails.resolver';
import { SimulationResolver } from '../iam/policies/simulation.resolver';
import { PipelineResolver } from '../pipelines/pipeline.resolver';
import { WebhookSecretResolver } from '../pipelines/webhook-secret.resolver';
import { applyOperationLayer } from './operation-layer';

export const resolvers = [
  IdentityResolver,
  UsersResolver,
  GroupsResolver,
  PoliciesResolver,
  RolesResolver,
  StsResolver,
  UserPoliciesResolver,
  GroupPoliciesResolver,
  RolePoliciesResolver,
  PrincipalTagsResolver,
  BoundariesResolver,
  GuardrailsResolver,
  SimulationResolver,
  PipelineResolver,
  AuditResolver,
  ExecutionResolver,
  WebhookSecretResolver,
  EventsResolver,
  PipelineEventsResolver,
] as const;

/**
 * type-graphql builds no Subscription type without a PubSub. Every subscription of Sluice
 * brings its own `subscribe` (streams read from the database, across instances), so topics
 * are never used and this one refuses them.
 */
const noTopics: PubSub = {
  publish: () => {
    throw new Error('Sluice subscriptions have no topics: each supplies its own subscribe');
  },
  subscribe: () => {
    throw new Error('Sluice subscriptions have no topics: each supplies its own subscribe');
  },
};

/**
 * TypeScript runs a method's parameter decorators last to first, so type-graphql records its
 * @Arg()s in reverse and would print `pipeline(version: Int, name: String!)`. A stable sort by
 * parameter index puts each method's arguments in declaration order (they are grouped per
 * method when the schema is built, so methods do not mix).
 */
function argumentsInDeclarationOrder(): void {
  getMetadataStorage().params.sort((a, b) => a.index - b.index);
}

/** The whole schema, every root field behind its declared permission and audited. */
export async function createSchema(): Promise<GraphQLSchema> {
  argumentsInDeclarationOrder();
  // Validation is ours (typed domain errors listing every problem), not class-validator's.
  const schema = await buildSchema({ resolvers, validate: false, emitSchemaFile: false, pubSub: noTopics });
  return applyOperationLayer(schema);
}
