import { DeployDirectoryProvider } from './deploy-directory';
import { GitSourceProvider } from './git-source';
import type { ActionProvider, ActionTypeKey } from './provider';
import { ShellProvider } from './shell';
import { WebhookInvokeProvider } from './webhook-invoke';

/**
 * The built-in providers that need nothing but their job context (DESIGN §7). Not here:
 * Approval/Manual (no job: it waits for a person) and Invoke/Pipeline (it starts an
 * execution, so it needs the engine's services, not only a context).
 */
export function createBuiltInProviders(options: {
  webhookSecret: string;
  gitCacheDir?: string;
}): ActionProvider[] {
  return [
    new GitSourceProvider({ cacheDir: options.gitCacheDir }),
    new ShellProvider('Build'),
    new ShellProvider('Test'),
    new DeployDirectoryProvider(),
    new WebhookInvokeProvider({ secret: options.webhookSecret }),
  ];
}

/** The provider for exactly this type (ids are case-sensitive, as in CodePipeline). */
export function findProvider(
  providers: readonly ActionProvider[],
  type: ActionTypeKey,
): ActionProvider | undefined {
  return providers.find(
    (provider) =>
      provider.type.category === type.category &&
      provider.type.owner === type.owner &&
      provider.type.provider === type.provider &&
      provider.type.version === type.version,
  );
}
