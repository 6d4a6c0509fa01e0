import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { callerOf, type GraphQLContext } from '../../graphql/context';
import { Permission } from '../../graphql/permission';
import { CreatedAccountType, PrincipalObject, type PrincipalTypeEnum, SessionType } from '../iam.types';
import type { Principal } from './principal';

export function toPrincipalObject(p: Omit<Principal, 'sessionId'>): PrincipalObject {
  return { arn: p.arn, accountId: p.accountId, type: p.type as PrincipalTypeEnum, userName: p.userName };
}

/** Signing in, and who am I. */
@Resolver()
export class IdentityResolver {
  @Mutation(() => SessionType, {
    description: 'Signs in with a password; user name "root" is the account root',
  })
  @Permission.public('signin:Login')
  async login(
    @Arg('accountId', () => String) accountId: string,
    @Arg('userName', () => String) userName: string,
    @Arg('password', () => String) password: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<SessionType> {
    const principal = await ctx.services.identities.login(accountId, userName, password, ctx.sourceIp);
    return { ...ctx.services.tokens.issue(principal), principal: toPrincipalObject(principal) };
  }

  @Mutation(() => SessionType, { description: 'Exchanges an access key for a session token' })
  @Permission.public('sts:GetSessionToken')
  async getSessionToken(
    @Arg('accessKeyId', () => String) accessKeyId: string,
    @Arg('secretAccessKey', () => String) secretAccessKey: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<SessionType> {
    const principal = await ctx.services.identities.signInWithAccessKey(
      accessKeyId,
      secretAccessKey,
      ctx.sourceIp,
    );
    return { ...ctx.services.tokens.issue(principal), principal: toPrincipalObject(principal) };
  }

  @Query(() => PrincipalObject)
  @Permission.authenticated('sts:GetCallerIdentity')
  callerIdentity(@Ctx() ctx: GraphQLContext): PrincipalObject {
    return toPrincipalObject(callerOf(ctx));
  }

  @Mutation(() => CreatedAccountType, {
    description: 'Creates a tenant account (platform administrators only)',
  })
  @Permission.iam('organizations:CreateAccount', () => '*', { platformOnly: true })
  async createAccount(
    @Arg('name', () => String) name: string,
    @Arg('rootPassword', () => String, { nullable: true }) rootPassword: string | undefined,
    @Ctx() ctx: GraphQLContext,
  ): Promise<CreatedAccountType> {
    return ctx.services.identities.createAccount(name, rootPassword ?? undefined);
  }
}
