import { Arg, Ctx, Int, Mutation, Query, Resolver } from 'type-graphql';
import { callerOf, itemFilterOf, type GraphQLContext } from '../graphql/context';
import { Permission } from '../graphql/permission';
import { authorizeFurther } from '../graphql/permission-layer';
import { arn } from '../iam/arn';
import type { Connection } from '../platform/pagination';
import { declarationFromInput, PipelineDeclarationInput } from './declaration/declaration.inputs';
import type { RolePassCheck } from './pipeline.service';
import { PipelineConnection, PipelineType, TagInput, TagType } from './pipeline.types';

type Env = { accountId: string; region: string };
const byName = (a: { name: string }, env: Env): string => arn.pipeline(env.region, env.accountId, a.name);
const byDeclaration = (a: { pipeline: PipelineDeclarationInput }, env: Env): string =>
  arn.pipeline(env.region, env.accountId, a.pipeline.name);
const byResource = (a: { resourceArn: string }): string => a.resourceArn;

/**
 * Naming a role in a declaration lets the pipeline act with it, so the caller must be allowed
 * to pass each one (`iam:PassRole`, as CodePipeline requires), beyond the field's own action.
 */
const passRoles =
  (ctx: GraphQLContext): RolePassCheck =>
  async (roleArns) => {
    for (const roleArn of roleArns) await authorizeFurther(ctx, 'iam:PassRole', roleArn);
  };

/** Pipeline definitions and their tags. */
@Resolver(() => PipelineType)
export class PipelineResolver {
  @Mutation(() => PipelineType)
  @Permission.iam<{ pipeline: PipelineDeclarationInput; tags?: TagInput[] | null }>(
    'codepipeline:CreatePipeline',
    byDeclaration,
    { requestTags: (a) => a.tags },
  )
  async createPipeline(
    @Arg('pipeline', () => PipelineDeclarationInput) pipeline: PipelineDeclarationInput,
    @Arg('tags', () => [TagInput], { nullable: true }) tags: TagInput[] | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PipelineType> {
    return ctx.services.pipelines.create(
      callerOf(ctx),
      declarationFromInput(pipeline),
      tags ?? [],
      passRoles(ctx),
    );
  }

  @Query(() => PipelineType, { description: 'The current version, or the given one' })
  @Permission.iam('codepipeline:GetPipeline', byName)
  async pipeline(
    @Arg('name', () => String) name: string,
    @Arg('version', () => Int, { nullable: true }) version: number | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PipelineType> {
    return ctx.services.pipelines.get(callerOf(ctx).accountId, name, version);
  }

  @Mutation(() => PipelineType, {
    description: 'Writes version + 1; a stale declaration.version is a CONFLICT',
  })
  @Permission.iam('codepipeline:UpdatePipeline', byDeclaration)
  async updatePipeline(
    @Arg('pipeline', () => PipelineDeclarationInput) pipeline: PipelineDeclarationInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PipelineType> {
    return ctx.services.pipelines.update(callerOf(ctx), declarationFromInput(pipeline), passRoles(ctx));
  }

  @Mutation(() => Boolean)
  @Permission.iam('codepipeline:DeletePipeline', byName)
  async deletePipeline(
    @Arg('name', () => String) name: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.pipelines.delete(callerOf(ctx).accountId, name);
    return true;
  }

  @Query(() => PipelineConnection, { description: 'Pipelines the caller may list, by name' })
  @Permission.list('codepipeline:ListPipelines')
  async pipelines(
    @Arg('first', () => Int, { nullable: true }) first: number | undefined,
    @Arg('after', () => String, { nullable: true }) after: string | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Connection<PipelineType>> {
    return ctx.services.pipelines.list(callerOf(ctx).accountId, itemFilterOf(ctx), first, after);
  }

  @Mutation(() => Boolean)
  @Permission.iam<{ resourceArn: string; tags: TagInput[] }>('codepipeline:TagResource', byResource, {
    requestTags: (a) => a.tags,
  })
  async tagResource(
    @Arg('resourceArn', () => String) resourceArn: string,
    @Arg('tags', () => [TagInput]) tags: TagInput[],
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.tags.tag(callerOf(ctx).accountId, resourceArn, tags);
    return true;
  }

  @Mutation(() => Boolean)
  @Permission.iam<{ resourceArn: string; tagKeys: string[] }>('codepipeline:UntagResource', byResource, {
    requestTags: (a) => a.tagKeys.map((key) => ({ key })),
  })
  async untagResource(
    @Arg('resourceArn', () => String) resourceArn: string,
    @Arg('tagKeys', () => [String]) tagKeys: string[],
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.tags.untag(callerOf(ctx).accountId, resourceArn, tagKeys);
    return true;
  }

  @Query(() => [TagType])
  @Permission.iam('codepipeline:ListTagsForResource', byResource)
  async listTagsForResource(
    @Arg('resourceArn', () => String) resourceArn: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<TagType[]> {
    return ctx.services.tags.list(callerOf(ctx).accountId, resourceArn);
  }
}
