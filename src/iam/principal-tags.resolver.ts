import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { callerOf, type GraphQLContext } from '../graphql/context';
import { Permission, type ResourceEnv } from '../graphql/permission';
import { TagInput, TagType } from '../pipelines/pipeline.types';
import { roleArn, userArn } from './iam-resources';

/** The caller's account and the stored spelling of the user or role ARN the arguments name. */
async function canonical(
  ctx: GraphQLContext,
  arnOf: (env: ResourceEnv) => string,
): Promise<{ accountId: string; target: string }> {
  const accountId = callerOf(ctx).accountId;
  const target = await ctx.services.iamNames.canonicalArn(
    accountId,
    arnOf({ accountId, region: ctx.services.config.region }),
  );
  return { accountId, target };
}

/**
 * Tags of IAM users and roles (TagUser, TagRole, …): what `aws:PrincipalTag/<key>` reads when
 * they call, e.g. in a trust policy's conditions. Addressed by name, stored on the canonical ARN.
 */
@Resolver()
export class PrincipalTagsResolver {
  @Mutation(() => Boolean)
  @Permission.iam<{ roleName: string; tags: TagInput[] }>('iam:TagRole', roleArn, {
    requestTags: (a) => a.tags,
  })
  async tagRole(
    @Arg('roleName', () => String) roleName: string,
    @Arg('tags', () => [TagInput]) tags: TagInput[],
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    const { accountId, target } = await canonical(ctx, (env) => roleArn({ roleName }, env));
    await ctx.services.tags.tagPrincipal(accountId, target, tags);
    return true;
  }

  @Mutation(() => Boolean)
  @Permission.iam<{ roleName: string; tagKeys: string[] }>('iam:UntagRole', roleArn, {
    requestTags: (a) => a.tagKeys.map((key) => ({ key })),
  })
  async untagRole(
    @Arg('roleName', () => String) roleName: string,
    @Arg('tagKeys', () => [String]) tagKeys: string[],
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    const { accountId, target } = await canonical(ctx, (env) => roleArn({ roleName }, env));
    await ctx.services.tags.untagPrincipal(accountId, target, tagKeys);
    return true;
  }

  @Query(() => [TagType])
  @Permission.iam('iam:ListRoleTags', roleArn)
  async roleTags(
    @Arg('roleName', () => String) roleName: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<TagType[]> {
    const { accountId, target } = await canonical(ctx, (env) => roleArn({ roleName }, env));
    return ctx.services.tags.principalTags(accountId, target);
  }

  @Mutation(() => Boolean)
  @Permission.iam<{ userName: string; tags: TagInput[] }>('iam:TagUser', userArn, {
    requestTags: (a) => a.tags,
  })
  async tagUser(
    @Arg('userName', () => String) userName: string,
    @Arg('tags', () => [TagInput]) tags: TagInput[],
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    const { accountId, target } = await canonical(ctx, (env) => userArn({ userName }, env));
    await ctx.services.tags.tagPrincipal(accountId, target, tags);
    return true;
  }

  @Mutation(() => Boolean)
  @Permission.iam<{ userName: string; tagKeys: string[] }>('iam:UntagUser', userArn, {
    requestTags: (a) => a.tagKeys.map((key) => ({ key })),
  })
  async untagUser(
    @Arg('userName', () => String) userName: string,
    @Arg('tagKeys', () => [String]) tagKeys: string[],
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    const { accountId, target } = await canonical(ctx, (env) => userArn({ userName }, env));
    await ctx.services.tags.untagPrincipal(accountId, target, tagKeys);
    return true;
  }

  @Query(() => [TagType])
  @Permission.iam('iam:ListUserTags', userArn)
  async userTags(
    @Arg('userName', () => String) userName: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<TagType[]> {
    const { accountId, target } = await canonical(ctx, (env) => userArn({ userName }, env));
    return ctx.services.tags.principalTags(accountId, target);
  }
}
