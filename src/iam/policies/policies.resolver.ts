import { GraphQLJSON } from 'graphql-scalars';
import { Arg, Ctx, Int, Mutation, Query, Resolver } from 'type-graphql';
import { callerOf, itemFilterOf, type GraphQLContext } from '../../graphql/context';
import { paginateFiltered, type Connection } from '../../platform/pagination';
import { Permission } from '../../graphql/permission';
import { arn } from '../arn';
import { groupArn, userArn } from '../iam-resources';
import {
  ContextEntryInput,
  EvaluationResultType,
  InlinePolicyType,
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

/** Changing a user's policies is decided with its boundary as `iam:PermissionsBoundary`. */
const userBoundary = { holder: 'user' as const, name: (a: Record<string, unknown>) => String(a.userName) };

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

  @Mutation(() => Boolean)
  @Permission.iam('iam:AttachUserPolicy', userArn, { permissionsBoundary: userBoundary })
  async attachUserPolicy(
    @Arg('userName', () => String) userName: string,
    @Arg('policyArn', () => String) policyArn: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.policies.attachPolicy(callerOf(ctx).accountId, 'user', userName, policyArn);
    return true;
  }

  @Mutation(() => Boolean)
  @Permission.iam('iam:DetachUserPolicy', userArn, { permissionsBoundary: userBoundary })
  async detachUserPolicy(
    @Arg('userName', () => String) userName: string,
    @Arg('policyArn', () => String) policyArn: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.policies.detachPolicy(callerOf(ctx).accountId, 'user', userName, policyArn);
    return true;
  }

  @Mutation(() => Boolean)
  @Permission.iam('iam:AttachGroupPolicy', groupArn)
  async attachGroupPolicy(
    @Arg('groupName', () => String) groupName: string,
    @Arg('policyArn', () => String) policyArn: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.policies.attachPolicy(callerOf(ctx).accountId, 'group', groupName, policyArn);
    return true;
  }

  @Mutation(() => Boolean)
  @Permission.iam('iam:DetachGroupPolicy', groupArn)
  async detachGroupPolicy(
    @Arg('groupName', () => String) groupName: string,
    @Arg('policyArn', () => String) policyArn: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.policies.detachPolicy(callerOf(ctx).accountId, 'group', groupName, policyArn);
    return true;
  }

  @Query(() => [PolicyType])
  @Permission.iam('iam:ListAttachedUserPolicies', userArn)
  async attachedUserPolicies(
    @Arg('userName', () => String) userName: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PolicyType[]> {
    return (await ctx.services.policies.attachedPolicies(callerOf(ctx).accountId, 'user', userName)).map(
      toPolicy,
    );
  }

  @Query(() => [PolicyType])
  @Permission.iam('iam:ListAttachedGroupPolicies', groupArn)
  async attachedGroupPolicies(
    @Arg('groupName', () => String) groupName: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PolicyType[]> {
    return (await ctx.services.policies.attachedPolicies(callerOf(ctx).accountId, 'group', groupName)).map(
      toPolicy,
    );
  }

  @Mutation(() => Boolean, { description: 'Creates or replaces an inline policy of the user' })
  @Permission.iam('iam:PutUserPolicy', userArn, { permissionsBoundary: userBoundary })
  async putUserPolicy(
    @Arg('userName', () => String) userName: string,
    @Arg('policyName', () => String) policyName: string,
    @Arg('policyDocument', () => GraphQLJSON) policyDocument: unknown,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.policies.putInlinePolicy(
      callerOf(ctx).accountId,
      'user',
      userName,
      policyName,
      policyDocument,
    );
    return true;
  }

  @Mutation(() => Boolean)
  @Permission.iam('iam:DeleteUserPolicy', userArn, { permissionsBoundary: userBoundary })
  async deleteUserPolicy(
    @Arg('userName', () => String) userName: string,
    @Arg('policyName', () => String) policyName: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.policies.deleteInlinePolicy(callerOf(ctx).accountId, 'user', userName, policyName);
    return true;
  }

  @Mutation(() => Boolean, { description: 'Creates or replaces an inline policy of the group' })
  @Permission.iam('iam:PutGroupPolicy', groupArn)
  async putGroupPolicy(
    @Arg('groupName', () => String) groupName: string,
    @Arg('policyName', () => String) policyName: string,
    @Arg('policyDocument', () => GraphQLJSON) policyDocument: unknown,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.policies.putInlinePolicy(
      callerOf(ctx).accountId,
      'group',
      groupName,
      policyName,
      policyDocument,
    );
    return true;
  }

  @Mutation(() => Boolean)
  @Permission.iam('iam:DeleteGroupPolicy', groupArn)
  async deleteGroupPolicy(
    @Arg('groupName', () => String) groupName: string,
    @Arg('policyName', () => String) policyName: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.policies.deleteInlinePolicy(callerOf(ctx).accountId, 'group', groupName, policyName);
    return true;
  }

  @Query(() => [InlinePolicyType])
  @Permission.iam('iam:ListUserPolicies', userArn)
  async userPolicies(
    @Arg('userName', () => String) userName: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<InlinePolicyType[]> {
    const inline = await ctx.services.policies.inlinePolicies(callerOf(ctx).accountId, 'user', userName);
    return inline.map((p) => ({ policyName: p.name, document: p.document }));
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
