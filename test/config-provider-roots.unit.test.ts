import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config';

/** SLUICE_DEPLOY_ROOTS, SLUICE_GIT_LOCAL_ROOTS and SLUICE_WEBHOOK_ALLOW_HOSTS. */
describe('provider boundary settings', () => {
  it('default to a deploy folder per account in the data folder, no local Git, no private webhook hosts', () => {
    const config = loadConfig({ SLUICE_DATA_DIR: '/var/lib/sluice' });
    expect(config.deployRoots).toEqual([path.join('/var/lib/sluice', 'deployments', '<account id>')]);
    expect(config.gitLocalRoots).toEqual([]);
    expect(config.webhookAllowHosts).toEqual([]);
  });

  it('read comma lists', () => {
    const config = loadConfig({
      SLUICE_DEPLOY_ROOTS: '/srv/www/<account id>, /srv/shared/',
      SLUICE_GIT_LOCAL_ROOTS: '/srv/git',
      SLUICE_WEBHOOK_ALLOW_HOSTS: 'Hooks.Internal:8443, 10.0.0.5,[fd00::1]:80',
    });
    expect(config.deployRoots).toEqual(['/srv/www/<account id>', '/srv/shared/']);
    expect(config.gitLocalRoots).toEqual(['/srv/git']);
    expect(config.webhookAllowHosts).toEqual(['hooks.internal:8443', '10.0.0.5', '[fd00::1]:80']);
  });

  it('refuse relative folders and malformed hosts, naming the variable', () => {
    expect(() => loadConfig({ SLUICE_DEPLOY_ROOTS: 'deployments' })).toThrow(
      'Invalid configuration: SLUICE_DEPLOY_ROOTS must list absolute paths, got "deployments"',
    );
    expect(() => loadConfig({ SLUICE_GIT_LOCAL_ROOTS: '/srv/git,repos' })).toThrow(/SLUICE_GIT_LOCAL_ROOTS/);
    expect(() => loadConfig({ SLUICE_WEBHOOK_ALLOW_HOSTS: 'http://hooks.internal' })).toThrow(
      'Invalid configuration: SLUICE_WEBHOOK_ALLOW_HOSTS must list host or host:port items, got "http://hooks.internal"',
    );
  });
});
