import { GraphQLJSON } from 'graphql-scalars';
import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { callerOf, type GraphQLContext } from '../../graphql/context';
import { Permission, type ResourceEnv } from '../../graphql/permission';
import { arn } from '../arn';
import { InlinePolicyType, PolicyType } from '../iam.types';
import type { PolicyHolderType } from './policy.entity';
import { toPolicy } from './policies.resolver';

type Args = Record<string, unknown>;

/**
 * The policy fields every policy holder has, as IAM names them per holder: attach/detach
 * managed policies (`attachUserPolicy`, …), list them (`attachedUserPolicies`), put/delete
 * inline policies (`putUserPolicy`, …) and list them (`userPolicies`). Changing a user's or
 * role's policies is decided with its boundary as `iam:PermissionsBoundary`.
 */
function holderPoliciesResolver(holder: PolicyHolderType): new () => object {
  const Holder = holder.charAt(0).toUpperCase() + holder.slice(1);
  const nameArg = `${holder}Name`;
  const nameOf = (a: Args): string => String(a[nameArg]);
  const target = (a: Args, env: ResourceEnv): string => arn[holder](env.accountId, nameOf(a));
  const changes = holder === 'group' ? {} : { permissionsBoundary: { holder, name: nameOf } };

  @Resolver()
  class HolderPoliciesResolver {
    @Mutation(() => Boolean, { name: `attach${Holder}Policy` })
    @Permission.iam(`iam:Attach${Holder}Policy`, target, changes)
    async attach(
      @Arg(nameArg, () => String) name: string,
      @Arg('policyArn', () => String) policyArn: string,
      @Ctx() ctx: GraphQLContext,
    ): Promise<boolean> {
      await ctx.services.policies.attachPolicy(callerOf(ctx).accountId, holder, name, policyArn);
      return true;
    }

    @Mutation(() => Boolean, { name: `detach${Holder}Policy` })
    @Permission.iam(`iam:Detach${Holder}Policy`, target, changes)
    async detach(
      @Arg(nameArg, () => String) name: string,
      @Arg('policyArn', () => String) policyArn: string,
      @Ctx() ctx: GraphQLContext,
    ): Promise<boolean> {
      await ctx.services.policies.detachPolicy(callerOf(ctx).accountId, holder, name, policyArn);
      return true;
    }

    @Query(() => [PolicyType], { name: `attached${Holder}Policies` })
    @Permission.iam(`iam:ListAttached${Holder}Policies`, target)
    async attached(
      @Arg(nameArg, () => String) name: string,
      @Ctx() ctx: GraphQLContext,
    ): Promise<PolicyType[]> {
      return (await ctx.services.policies.attachedPolicies(callerOf(ctx).accountId, holder, name)).map(
        toPolicy,
      );
    }

    @Mutation(() => Boolean, {
      name: `put${Holder}Policy`,
      description: `Creates or replaces an inline policy of the ${holder}`,
    })
    @Permission.iam(`iam:Put${Holder}Policy`, target, changes)
    async putInline(
      @Arg(nameArg, () => String) name: string,
      @Arg('policyName', () => String) policyName: string,
      @Arg('policyDocument', () => GraphQLJSON) policyDocument: unknown,
      @Ctx() ctx: GraphQLContext,
    ): Promise<boolean> {
      await ctx.services.policies.putInlinePolicy(
        callerOf(ctx).accountId,
        holder,
        name,
        policyName,
        policyDocument,
      );
      return true;
    }

    @Mutation(() => Boolean, { name: `delete${Holder}Policy` })
    @Permission.iam(`iam:Delete${Holder}Policy`, target, changes)
    async deleteInline(
      @Arg(nameArg, () => String) name: string,
      @Arg('policyName', () => String) policyName: string,
      @Ctx() ctx: GraphQLContext,
    ): Promise<boolean> {
      await ctx.services.policies.deleteInlinePolicy(callerOf(ctx).accountId, holder, name, policyName);
      return true;
    }

    @Query(() => [InlinePolicyType], { name: `${holder}Policies` })
    @Permission.iam(`iam:List${Holder}Policies`, target)
    async inline(
      @Arg(nameArg, () => String) name: string,
      @Ctx() ctx: GraphQLContext,
    ): Promise<InlinePolicyType[]> {
      const inline = await ctx.services.policies.inlinePolicies(callerOf(ctx).accountId, holder, name);
      return inline.map((p) => ({ policyName: p.name, document: p.document }));
    }
  }
  return HolderPoliciesResolver;
}

export const UserPoliciesResolver = holderPoliciesResolver('user');
export const GroupPoliciesResolver = holderPoliciesResolver('group');
export const RolePoliciesResolver = holderPoliciesResolver('role');
