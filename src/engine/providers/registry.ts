import { DeployDirectoryProvider } from './deploy-directory';
import { GitSourceProvider } from './git-source';
import type { ActionProvider, ActionTypeKey } from './provider';
import { ShellProvider } from './shell';
import type { TenantRoots } from './tenant-roots';
import { WebhookInvokeProvider } from './webhook-invoke';
import type { WebhookSecrets } from './webhook-secrets';

export interface BuiltInProviderOptions {
  /** Each account's Invoke/Webhook signing secret. */
  webhookSecrets: WebhookSecrets;
  /** `host` / `host:port` webhooks may reach although they resolve to private addresses. */
  webhookAllowHosts: readonly string[];
  /** Where Deploy/Directory may write, per account. */
  deployRoots: TenantRoots;
  /** Where Source/Git may read local repositories from, per account. */
  gitLocalRoots: TenantRoots;
  gitCacheDir?: string;
}

/**
 * The built-in providers that need nothing but their job context (DESIGN §7). Not here:
 * Approval/Manual (no job: it waits for a person) and Invoke/Pipeline (it starts an
 * execution, so it needs the engine's services, not only a context).
 */
export function createBuiltInProviders(options: BuiltInProviderOptions): ActionProvider[] {
  return [
    new GitSourceProvider({ cacheDir: options.gitCacheDir, localRoots: options.gitLocalRoots }),
    new ShellProvider('Build'),
    new ShellProvider('Test'),
    new DeployDirectoryProvider({ roots: options.deployRoots }),
    new WebhookInvokeProvider({ secrets: options.webhookSecrets, allowHosts: options.webhookAllowHosts }),
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
