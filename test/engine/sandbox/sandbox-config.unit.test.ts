import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config';

describe('sandbox configuration', () => {
  it('defaults: auto, job folders beside the data folder, a uid base derived from it', () => {
    const config = loadConfig({ SLUICE_DATA_DIR: '/srv/sluice/data' });
    expect(config.sandbox.setting).toBe('auto');
    expect(config.workDir).toBe('/srv/sluice/data-work');
    expect(config.sandbox.uidBase % 1000).toBe(0);
    expect(config.sandbox.uidBase).toBeGreaterThanOrEqual(1_000_000_000);
    // The same data folder, the same uids (leftovers stay attributable); another one, others.
    expect(loadConfig({ SLUICE_DATA_DIR: '/srv/sluice/data' }).sandbox.uidBase).toBe(config.sandbox.uidBase);
    expect(loadConfig({ SLUICE_DATA_DIR: '/srv/other/data' }).sandbox.uidBase).not.toBe(
      config.sandbox.uidBase,
    );
  });

  it('takes explicit values', () => {
    const config = loadConfig({
      SLUICE_DATA_DIR: '/srv/sluice/data',
      SLUICE_WORK_DIR: '/scratch/jobs',
      SLUICE_SANDBOX: 'uid',
      SLUICE_SANDBOX_UID_BASE: '500000',
    });
    expect(config).toMatchObject({ workDir: '/scratch/jobs', sandbox: { setting: 'uid', uidBase: 500_000 } });
  });

  it('refuses bad values, naming the variable', () => {
    const refused = (env: Record<string, string>) => {
      try {
        loadConfig({ SLUICE_DATA_DIR: '/srv/sluice/data', ...env });
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as ConfigError).message;
      }
      return undefined;
    };
    expect(refused({ SLUICE_SANDBOX: 'docker' })).toMatch(
      /SLUICE_SANDBOX must be one of auto, bwrap, uid, none/,
    );
    expect(refused({ SLUICE_SANDBOX_UID_BASE: '0' })).toMatch(/SLUICE_SANDBOX_UID_BASE must be between/);
    expect(refused({ SLUICE_SANDBOX_UID_BASE: '4294967295' })).toMatch(
      /SLUICE_SANDBOX_UID_BASE must be between/,
    );
    expect(refused({ SLUICE_WORK_DIR: '/srv/sluice/data/work' })).toMatch(
      /SLUICE_WORK_DIR must be outside SLUICE_DATA_DIR/,
    );
    expect(refused({ SLUICE_WORK_DIR: '/srv/sluice' })).toMatch(/SLUICE_WORK_DIR must be outside/);
  });
});
