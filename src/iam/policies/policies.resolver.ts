import { GraphQLJSON } from 'graphql-scalars';
import { Arg, Ctx, Int, Mutation, Query, Resolver } from 'type-graphql';
import { callerOf, itemFilterOf, type GraphQLContext } from '../../graphql/context';
import { paginateFiltered, type Connection } from '../../platform/pagination';
import { Permission } from '../../graphql/permission';
import { arn } from '../arn';
import {
  ContextEntryInput,
  EvaluationResultType,
  PolicyConnection,
  PolicyScopeEnum,
  PolicyType,
} from '../iam.types';
import type { PolicyView } from './policy.service';
import { toEvaluationResult } from './simulation.resolver';

export function toPolicy(p: PolicyView): PolicyType {
  return {
    arn: p.arn,
    name: p.name,
    description: p.description,
    document: p.document,
    isManaged: p.isManaged,
    createDate: p.createdAt,
    updateDate: p.updatedAt,
  };
}

/** Policies, attachments, inline policies and the policy simulator. */
@Resolver()
export class PoliciesResolver {
  @Mutation(() => PolicyType, {
    description: 'policyDocument: an IAM policy document, as an object or a JSON string',
  })
  @Permission.iam<{ policyName: string }>('iam:CreatePolicy', (a, env) =>
    arn.policy(env.accountId, a.policyName),
  )
  async createPolicy(
    @Arg('policyName', () => String) policyName: string,
    @Arg('policyDocument', () => GraphQLJSON) policyDocument: unknown,
    @Arg('description', () => String, { nullable: true }) description: string | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PolicyType> {
    const policies = ctx.services.policies;
    return toPolicy(
      await policies.createPolicy(
        callerOf(ctx).accountId,
        policyName,
        policyDocument,
        description ?? undefined,
      ),
    );
  }

  @Mutation(() => Boolean, { description: 'The policy must be detached from every user and group first' })
  @Permission.iam<{ policyArn: string }>('iam:DeletePolicy', (a) => a.policyArn)
  async deletePolicy(
    @Arg('policyArn', () => String) policyArn: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.policies.deletePolicy(callerOf(ctx).accountId, policyArn);
    return true;
  }

  @Query(() => PolicyType)
  @Permission.iam<{ policyArn: string }>('iam:GetPolicy', (a) => a.policyArn)
  async policy(
    @Arg('policyArn', () => String) policyArn: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PolicyType> {
    return toPolicy(await ctx.services.policies.getPolicy(callerOf(ctx).accountId, policyArn));
  }

  @Query(() => PolicyConnection, { description: 'Customer-managed and managed policies, by ARN' })
  @Permission.list('iam:ListPolicies')
  async policies(
    @Arg('scope', () => PolicyScopeEnum, { nullable: true }) scope: PolicyScopeEnum | undefined,
    @Arg('first', () => Int, { nullable: true }) first: number | undefined,
    @Arg('after', () => String, { nullable: true }) after: string | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Connection<PolicyType>> {
    const visible = itemFilterOf(ctx);
    const all = await ctx.services.policies.listPolicies(
      callerOf(ctx).accountId,
      scope ?? PolicyScopeEnum.ALL,
    );
    return paginateFiltered(
      all.map(toPolicy),
      (p) => p.arn,
      (p) => visible(p.arn),
      first,
      after,
    );
  }

  @Query(() => [EvaluationResultType], {
    description:
      'How the policies of a user, role, role session or the root of the caller’s account decide each action on each resource, with its guardrails and permissions boundary',
  })
  @Permission.iam<{ policySourceArn: string }>('iam:SimulatePrincipalPolicy', (a) => a.policySourceArn)
  async simulatePrincipalPolicy(
    @Arg('policySourceArn', () => String) policySourceArn: string,
    @Arg('actionNames', () => [String]) actionNames: string[],
    @Arg('resourceArns', () => [String], { nullable: true }) resourceArns: string[] | undefined,
    @Arg('contextEntries', () => [ContextEntryInput], { nullable: true })
    contextEntries: ContextEntryInput[] | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<EvaluationResultType[]> {
    const results = await ctx.services.simulator.simulate(callerOf(ctx).accountId, {
      policySourceArn,
      actionNames,
      resourceArns: resourceArns ?? ['*'],
      context: (contextEntries ?? []).map((e) => ({ key: e.contextKeyName, values: e.contextKeyValues })),
    });
    return results.map(toEvaluationResult);
  }
}
