import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context';
import { Permission } from '../../graphql/permission';
import { PLATFORM_ACCOUNT_ID } from '../arn';
import { PolicyType } from '../iam.types';
import { toPolicy } from '../policies/policies.resolver';

/** The target of a guardrail call, as AWS Organizations names accounts. */
const accountTarget = (a: { accountId: string }): string =>
  `arn:sluice:organizations::${PLATFORM_ACCOUNT_ID}:account/${a.accountId}`;

/** Account guardrails (service control policies), for the platform administrators. */
@Resolver()
export class GuardrailsResolver {
  @Mutation(() => Boolean, {
    description:
      'Caps every principal of the account, its root included, with a policy of the platform account or a managed one',
  })
  @Permission.iam('organizations:AttachPolicy', accountTarget, {
    platformOnly: true,
    platformCrossAccount: true,
  })
  async attachAccountGuardrail(
    @Arg('accountId', () => String) accountId: string,
    @Arg('policyArn', () => String) policyArn: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.guardrails.attach(accountId, policyArn);
    return true;
  }

  @Mutation(() => Boolean)
  @Permission.iam('organizations:DetachPolicy', accountTarget, {
    platformOnly: true,
    platformCrossAccount: true,
  })
  async detachAccountGuardrail(
    @Arg('accountId', () => String) accountId: string,
    @Arg('policyArn', () => String) policyArn: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<boolean> {
    await ctx.services.guardrails.detach(accountId, policyArn);
    return true;
  }

  @Query(() => [PolicyType], {
    description: "The account's guardrails (GuardrailFullAccess until others are attached)",
  })
  @Permission.iam('organizations:ListPoliciesForTarget', accountTarget, {
    platformOnly: true,
    platformCrossAccount: true,
  })
  async accountGuardrails(
    @Arg('accountId', () => String) accountId: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PolicyType[]> {
    return (await ctx.services.guardrails.list(accountId)).map(toPolicy);
  }
}
