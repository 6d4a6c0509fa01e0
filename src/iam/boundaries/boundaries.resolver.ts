import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';
import { callerOf, type GraphQLContext } from '../../graphql/context';
import { Permission } from '../../graphql/permission';
import { roleArn, userArn } from '../iam-resources';

const userBoundary = { holder: 'user' as const, name: (a: Record<string, unknown>) => String(a.userName) };
const roleBoundary = { holder: 'role' as const, name: (a: Record<string, unknown>) => String(a.roleName) };

/**
 * Permissions boundaries of users and roles. Setting one is decided with the new boundary as
 * `iam:PermissionsBoundary`; removing one with the current one, so a delegated administrator
 * can be denied removing the boundary it must keep.
 */
@Resolver()
export class BoundariesResolver {
  @Mutation(() => Boolean, {
    description: "Sets the user's permissions boundary (a managed or customer policy ARN)",
  })
  @Permission.iam('iam:PutUserPermissionsBoundary', userArn, {
    permissionsBoundary: { arg: 'permissionsBoundary' },
  })
  async putUserPermissionsBoundary(
    @Arg('userName', () => String) userName: string,
    @Arg('permissionsBoundary', () => String) permissionsBoundary: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.boundaries.set(callerOf(ctx).accountId, 'user', userName, permissionsBoundary);
    return true;
  }

  @Mutation(() => Boolean)
  @Permission.iam('iam:DeleteUserPermissionsBoundary', userArn, { permissionsBoundary: userBoundary })
  async deleteUserPermissionsBoundary(
    @Arg('userName', () => String) userName: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.boundaries.set(callerOf(ctx).accountId, 'user', userName, null);
    return true;
  }

  @Mutation(() => Boolean, {
    description: "Sets the role's permissions boundary (a managed or customer policy ARN)",
  })
  @Permission.iam('iam:PutRolePermissionsBoundary', roleArn, {
    permissionsBoundary: { arg: 'permissionsBoundary' },
  })
  async putRolePermissionsBoundary(
    @Arg('roleName', () => String) roleName: string,
    @Arg('permissionsBoundary', () => String) permissionsBoundary: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.boundaries.set(callerOf(ctx).accountId, 'role', roleName, permissionsBoundary);
    return true;
  }

  @Mutation(() => Boolean)
  @Permission.iam('iam:DeleteRolePermissionsBoundary', roleArn, { permissionsBoundary: roleBoundary })
  async deleteRolePermissionsBoundary(
    @Arg('roleName', () => String) roleName: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.boundaries.set(callerOf(ctx).accountId, 'role', roleName, null);
    return true;
  }
}
