import { GraphQLJSON } from 'graphql-scalars';
import { Arg, Ctx, Int, Mutation, Query, Resolver } from 'type-graphql';
import { callerOf, itemFilterOf, type GraphQLContext } from '../../graphql/context';
import { Permission } from '../../graphql/permission';
import { paginateFiltered, type Connection } from '../../platform/pagination';
import { arn } from '../arn';
import { roleArn } from '../iam-resources';
import type { RoleEntity } from './role.entity';
import { RoleConnection, RoleType } from './role.types';

export function toRole(r: RoleEntity): RoleType {
  return {
    roleName: r.name,
    roleId: r.id,
    arn: arn.role(r.accountId, r.name),
    assumeRolePolicyDocument: r.assumeRolePolicy,
    maxSessionDuration: r.maxSessionDuration,
    createDate: r.createdAt,
    permissionsBoundary: r.permissionsBoundaryArn,
  };
}

/** IAM roles, their trust policies and their permissions (attached and inline policies). */
@Resolver(() => RoleType)
export class RolesResolver {
  @Mutation(() => RoleType)
  @Permission.iam('iam:CreateRole', roleArn, { permissionsBoundary: { arg: 'permissionsBoundary' } })
  async createRole(
    @Arg('roleName', () => String) roleName: string,
    @Arg('assumeRolePolicyDocument', () => GraphQLJSON) assumeRolePolicyDocument: unknown,
    @Arg('maxSessionDuration', () => Int, { nullable: true }) maxSessionDuration: number | undefined,
    @Arg('permissionsBoundary', () => String, { nullable: true }) permissionsBoundary: string | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<RoleType> {
    return toRole(
      await ctx.services.boundaries.createRole(
        callerOf(ctx).accountId,
        roleName,
        assumeRolePolicyDocument,
        maxSessionDuration ?? undefined,
        permissionsBoundary ?? undefined,
      ),
    );
  }

  @Mutation(() => Boolean, { description: 'Deletes the role with its attached and inline policies' })
  @Permission.iam('iam:DeleteRole', roleArn)
  async deleteRole(
    @Arg('roleName', () => String) roleName: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.roles.deleteRole(callerOf(ctx).accountId, roleName);
    return true;
  }

  @Query(() => RoleType)
  @Permission.iam('iam:GetRole', roleArn)
  async role(@Arg('roleName', () => String) roleName: string, @Ctx() ctx: GraphQLContext): Promise<RoleType> {
    return toRole(await ctx.services.roles.getRole(callerOf(ctx).accountId, roleName));
  }

  @Query(() => RoleConnection)
  @Permission.list('iam:ListRoles')
  async roles(
    @Arg('first', () => Int, { nullable: true }) first: number | undefined,
    @Arg('after', () => String, { nullable: true }) after: string | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Connection<RoleType>> {
    const visible = itemFilterOf(ctx);
    const roles = (await ctx.services.roles.listRoles(callerOf(ctx).accountId)).map(toRole);
    return paginateFiltered(
      roles,
      (r) => r.roleName,
      (r) => visible(r.arn),
      first,
      after,
    );
  }

  @Mutation(() => Boolean, { description: "Replaces the role's trust policy" })
  @Permission.iam('iam:UpdateAssumeRolePolicy', roleArn)
  async updateAssumeRolePolicy(
    @Arg('roleName', () => String) roleName: string,
    @Arg('policyDocument', () => GraphQLJSON) policyDocument: unknown,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.roles.updateAssumeRolePolicy(callerOf(ctx).accountId, roleName, policyDocument);
    return true;
  }
}
