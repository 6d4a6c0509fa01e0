import { describe, expect, it } from 'vitest';
import { builtInActionTypes } from '../../../src/pipelines/declaration/action-types';
import { createBuiltInProviders, findProvider } from '../../../src/engine/providers/registry';
import { TenantRoots } from '../../../src/engine/providers/tenant-roots';
import { WebhookSecrets } from '../../../src/engine/providers/webhook-secrets';

describe('built-in provider registry', () => {
  const providers = createBuiltInProviders({
    webhookSecrets: new WebhookSecrets('k'),
    webhookAllowHosts: [],
    deployRoots: new TenantRoots([]),
    gitLocalRoots: new TenantRoots([]),
  });

  it('finds each provider by its exact type', () => {
    for (const [category, provider] of [
      ['Source', 'Git'],
      ['Build', 'Shell'],
      ['Test', 'Shell'],
      ['Deploy', 'Directory'],
      ['Invoke', 'Webhook'],
    ]) {
      const type = { category, owner: 'Sluice', provider, version: '1' };
      expect(findProvider(providers, type)?.type).toEqual(type);
    }
    expect(
      findProvider(providers, { category: 'Build', owner: 'Sluice', provider: 'shell', version: '1' }),
    ).toBeUndefined();
    expect(
      findProvider(providers, { category: 'Build', owner: 'Custom', provider: 'Shell', version: '1' }),
    ).toBeUndefined();
  });

  it('covers only types the declaration validator knows', () => {
    const known = builtInActionTypes.map((t) => JSON.stringify(t.id));
    for (const provider of providers) {
      const { category, owner, provider: name, version } = provider.type;
      expect(known).toContain(JSON.stringify({ category, owner, provider: name, version }));
    }
  });
});
