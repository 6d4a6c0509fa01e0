import { Arg, Ctx, FieldResolver, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { callerOf, itemFilterOf, loaderOf, type GraphQLContext } from '../../graphql/context';
import { paginateFiltered, type Connection } from '../../platform/pagination';
import { Permission } from '../../graphql/permission';
import { arn } from '../arn';
import { groupArn, userArn } from '../iam-resources';
import { AccessKeyType, GroupConnection, GroupType, UserConnection, UserType } from '../iam.types';
import type { GroupEntity } from './group.entity';
import type { UserEntity } from './user.entity';

export function toUser(u: UserEntity): UserType {
  return {
    userName: u.name,
    userId: u.id,
    arn: arn.user(u.accountId, u.name),
    createDate: u.createdAt,
    hasPassword: u.passwordHash !== null,
    permissionsBoundary: u.permissionsBoundaryArn,
    accountId: u.accountId,
  };
}

export function toGroup(g: GroupEntity): GroupType {
  return {
    groupName: g.name,
    groupId: g.id,
    arn: arn.group(g.accountId, g.name),
    createDate: g.createdAt,
    accountId: g.accountId,
  };
}

/** IAM users and their access keys. */
@Resolver(() => UserType)
export class UsersResolver {
  @Mutation(() => UserType)
  @Permission.iam('iam:CreateUser', userArn, { permissionsBoundary: { arg: 'permissionsBoundary' } })
  async createUser(
    @Arg('userName', () => String) userName: string,
    @Arg('password', () => String, { nullable: true }) password: string | undefined,
    @Arg('permissionsBoundary', () => String, {
      nullable: true,
      description: 'A policy ARN that caps what the user may do, whatever its policies grant',
    })
    permissionsBoundary: string | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<UserType> {
    return toUser(
      await ctx.services.boundaries.createUser(
        callerOf(ctx).accountId,
        userName,
        password ?? undefined,
        permissionsBoundary ?? undefined,
      ),
    );
  }

  @Mutation(() => Boolean, { description: 'Deletes the user with its access keys, memberships and policies' })
  @Permission.iam('iam:DeleteUser', userArn)
  async deleteUser(
    @Arg('userName', () => String) userName: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.identities.deleteUser(callerOf(ctx).accountId, userName);
    return true;
  }

  @Query(() => UserType)
  @Permission.iam('iam:GetUser', userArn)
  async user(@Arg('userName', () => String) userName: string, @Ctx() ctx: GraphQLContext): Promise<UserType> {
    return toUser(await ctx.services.identities.getUser(callerOf(ctx).accountId, userName));
  }

  @Query(() => UserConnection, { description: 'Users of the caller’s account that it may list, by name' })
  @Permission.list('iam:ListUsers')
  async users(
    @Arg('first', () => Int, { nullable: true }) first: number | undefined,
    @Arg('after', () => String, { nullable: true }) after: string | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Connection<UserType>> {
    const visible = itemFilterOf(ctx);
    const users = (await ctx.services.identities.listUsers(callerOf(ctx).accountId)).map(toUser);
    return paginateFiltered(
      users,
      (u) => u.userName,
      (u) => visible(u.arn),
      first,
      after,
    );
  }

  @Mutation(() => AccessKeyType, { description: 'The secret is in this answer only; store it now' })
  @Permission.iam('iam:CreateAccessKey', userArn)
  async createAccessKey(
    @Arg('userName', () => String) userName: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<AccessKeyType> {
    const key = await ctx.services.identities.createAccessKey(callerOf(ctx).accountId, userName);
    return {
      accessKeyId: key.accessKeyId,
      secretAccessKey: key.secretAccessKey,
      userName: key.userName,
      createDate: key.createdAt,
    };
  }

  @Mutation(() => Boolean)
  @Permission.iam('iam:DeleteAccessKey', userArn)
  async deleteAccessKey(
    @Arg('userName', () => String) userName: string,
    @Arg('accessKeyId', () => String) accessKeyId: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.identities.deleteAccessKey(callerOf(ctx).accountId, userName, accessKeyId);
    return true;
  }

  @Query(() => [AccessKeyType])
  @Permission.iam('iam:ListAccessKeys', userArn)
  async accessKeys(
    @Arg('userName', () => String) userName: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<AccessKeyType[]> {
    const keys = await ctx.services.identities.listAccessKeys(callerOf(ctx).accountId, userName);
    return keys.map((k) => ({ accessKeyId: k.id, secretAccessKey: null, userName, createDate: k.createdAt }));
  }
}

/** IAM groups and membership. */
@Resolver(() => GroupType)
export class GroupsResolver {
  @Mutation(() => GroupType)
  @Permission.iam('iam:CreateGroup', groupArn)
  async createGroup(
    @Arg('groupName', () => String) groupName: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<GroupType> {
    return toGroup(await ctx.services.identities.createGroup(callerOf(ctx).accountId, groupName));
  }

  @Mutation(() => Boolean, { description: 'The group must have no members and no policies' })
  @Permission.iam('iam:DeleteGroup', groupArn)
  async deleteGroup(
    @Arg('groupName', () => String) groupName: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.identities.deleteGroup(callerOf(ctx).accountId, groupName);
    return true;
  }

  @Mutation(() => Boolean)
  @Permission.iam('iam:AddUserToGroup', groupArn)
  async addUserToGroup(
    @Arg('groupName', () => String) groupName: string,
    @Arg('userName', () => String) userName: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.identities.addUserToGroup(callerOf(ctx).accountId, groupName, userName);
    return true;
  }

  @Mutation(() => Boolean)
  @Permission.iam('iam:RemoveUserFromGroup', groupArn)
  async removeUserFromGroup(
    @Arg('groupName', () => String) groupName: string,
    @Arg('userName', () => String) userName: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.identities.removeUserFromGroup(callerOf(ctx).accountId, groupName, userName);
    return true;
  }

  @Query(() => GroupConnection)
  @Permission.list('iam:ListGroups')
  async groups(
    @Arg('first', () => Int, { nullable: true }) first: number | undefined,
    @Arg('after', () => String, { nullable: true }) after: string | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Connection<GroupType>> {
    const visible = itemFilterOf(ctx);
    const groups = (await ctx.services.identities.listGroups(callerOf(ctx).accountId)).map(toGroup);
    return paginateFiltered(
      groups,
      (g) => g.groupName,
      (g) => visible(g.arn),
      first,
      after,
    );
  }

  /** Members of every listed group, loaded in one query per request. */
  @FieldResolver(() => [UserType])
  async members(@Root() group: GroupType, @Ctx() ctx: GraphQLContext): Promise<UserType[]> {
    const loader = loaderOf<string, UserEntity[]>(ctx, 'groupMembers', async (ids) => {
      const members = await ctx.services.identities.groupMembers(group.accountId, ids);
      return ids.map((id) => members.get(id) ?? []);
    });
    return (await loader.load(group.groupId)).map(toUser);
  }
}
