import { Ctx, Query, Resolver } from 'type-graphql';
import { callerOf, type GraphQLContext } from '../graphql/context';
import { Permission } from '../graphql/permission';

/**
 * The caller's account's Invoke/Webhook signing secret, for the services its webhooks call to
 * verify `x-sluice-signature`. Its own IAM action, outside `codepipeline:Get*`, so read-only
 * access to pipelines does not include reading a secret.
 */
@Resolver()
export class WebhookSecretResolver {
  @Query(() => String, {
    description:
      "The HMAC-SHA256 key this account's Invoke/Webhook requests are signed with (x-sluice-signature)",
  })
  @Permission.iam('codepipeline:ReadWebhookSigningSecret', () => '*')
  webhookSigningSecret(@Ctx() ctx: GraphQLContext): string {
    return ctx.services.webhookSecrets.forAccount(callerOf(ctx).accountId);
  }
}
