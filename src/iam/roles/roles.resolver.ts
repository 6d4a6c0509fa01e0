import { GraphQLJSON } from 'graphql-scalars';
import { Arg, Ctx, Int, Mutation, Query, Resolver } from 'type-graphql';
import { callerOf, itemFilterOf, type GraphQLContext } from '../../graphql/context';
import { Permission } from '../../graphql/permission';
import { paginateFiltered, type Connection } from '../../platform/pagination';
import { arn } from '../arn';
import { roleArn } from '../iam-resources';
import { InlinePolicyType, PolicyType } from '../iam.types';
import { toPolicy } from '../policies/policies.resolver';
import type { RoleEntity } from './role.entity';
import { RoleConnection, RoleType } from './role.types';

/** Changing a role's policies is decided with its boundary as `iam:PermissionsBoundary`. */
const roleBoundary = { holder: 'role' as const, name: (a: Record<string, unknown>) => String(a.roleName) };

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

  @Mutation(() => Boolean)
  @Permission.iam('iam:AttachRolePolicy', roleArn, { permissionsBoundary: roleBoundary })
  async attachRolePolicy(
    @Arg('roleName', () => String) roleName: string,
    @Arg('policyArn', () => String) policyArn: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.policies.attachPolicy(callerOf(ctx).accountId, 'role', roleName, policyArn);
    return true;
  }

  @Mutation(() => Boolean)
  @Permission.iam('iam:DetachRolePolicy', roleArn, { permissionsBoundary: roleBoundary })
  async detachRolePolicy(
    @Arg('roleName', () => String) roleName: string,
    @Arg('policyArn', () => String) policyArn: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.policies.detachPolicy(callerOf(ctx).accountId, 'role', roleName, policyArn);
    return true;
  }

  @Query(() => [PolicyType])
  @Permission.iam('iam:ListAttachedRolePolicies', roleArn)
  async attachedRolePolicies(
    @Arg('roleName', () => String) roleName: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PolicyType[]> {
    return (await ctx.services.policies.attachedPolicies(callerOf(ctx).accountId, 'role', roleName)).map(
      toPolicy,
    );
  }

  @Query(() => [InlinePolicyType])
  @Permission.iam('iam:ListRolePolicies', roleArn)
  async rolePolicies(
    @Arg('roleName', () => String) roleName: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<InlinePolicyType[]> {
    const inline = await ctx.services.policies.inlinePolicies(callerOf(ctx).accountId, 'role', roleName);
    return inline.map((p) => ({ policyName: p.name, document: p.document }));
  }

  @Mutation(() => Boolean, { description: 'Creates or replaces an inline policy of the role' })
  @Permission.iam('iam:PutRolePolicy', roleArn, { permissionsBoundary: roleBoundary })
  async putRolePolicy(
    @Arg('roleName', () => String) roleName: string,
    @Arg('policyName', () => String) policyName: string,
    @Arg('policyDocument', () => GraphQLJSON) policyDocument: unknown,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.policies.putInlinePolicy(
      callerOf(ctx).accountId,
      'role',
      roleName,
      policyName,
      policyDocument,
    );
    return true;
  }

  @Mutation(() => Boolean)
  @Permission.iam('iam:DeleteRolePolicy', roleArn, { permissionsBoundary: roleBoundary })
  async deleteRolePolicy(
    @Arg('roleName', () => String) roleName: string,
    @Arg('policyName', () => String) policyName: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.policies.deleteInlinePolicy(callerOf(ctx).accountId, 'role', roleName, policyName);
    return true;
  }
}
