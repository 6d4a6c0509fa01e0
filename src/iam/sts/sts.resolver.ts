import { GraphQLJSON } from 'graphql-scalars';
import { Arg, Ctx, Int, Mutation, Resolver } from 'type-graphql';
import { callerOf, type GraphQLContext } from '../../graphql/context';
import { Permission } from '../../graphql/permission';
import { conditionContext } from '../../graphql/permission-layer';
import { SessionType } from '../iam.types';
import { toPrincipalObject } from '../identity/identity.resolver';

interface AssumeRoleArgs {
  roleArn: string;
}

/** STS: sessions of roles, in this account or another. */
@Resolver()
export class StsResolver {
  @Mutation(() => SessionType, {
    description:
      "Starts a session of a role (here or in another account) acting with the role's permissions only",
  })
  @Permission.resourcePolicy<AssumeRoleArgs>('sts:AssumeRole', (args) => args.roleArn)
  async assumeRole(
    @Arg('roleArn', () => String) roleArn: string,
    @Arg('roleSessionName', () => String) roleSessionName: string,
    @Arg('externalId', () => String, { nullable: true }) externalId: string | undefined,
    @Arg('durationSeconds', () => Int, { nullable: true }) durationSeconds: number | undefined,
    @Arg('policy', () => GraphQLJSON, { nullable: true }) policy: unknown,
    @Ctx() ctx: GraphQLContext,
  ): Promise<SessionType> {
    const caller = callerOf(ctx);
    const { principal, token } = await ctx.services.sts.assumeRole(
      caller,
      {
        roleArn,
        roleSessionName,
        externalId: externalId ?? undefined,
        durationSeconds: durationSeconds ?? undefined,
        policy: policy ?? undefined,
      },
      await conditionContext(ctx, caller, roleArn, undefined),
      // The role's account records the attempt too, whatever its outcome.
      (accountId) => (ctx.auditAlsoIn ??= new Set()).add(accountId),
    );
    return { ...token, principal: toPrincipalObject(principal) };
  }
}
