import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';

/** SLUICE_METRICS and SLUICE_METRICS_LISTEN (docs/operations.md). */
describe('metrics settings', () => {
  it('default to /metrics on the main port, behind a token', () => {
    expect(loadConfig({}).metrics).toEqual({ enabled: true, listen: undefined });
  });

  it('read off, and a listen address with an IPv4, a name or a bracketed IPv6 host', () => {
    expect(loadConfig({ SLUICE_METRICS: 'off' }).metrics).toEqual({ enabled: false, listen: undefined });
    expect(loadConfig({ SLUICE_METRICS_LISTEN: '127.0.0.1:9464' }).metrics.listen).toEqual({
      host: '127.0.0.1',
      port: 9464,
    });
    expect(loadConfig({ SLUICE_METRICS_LISTEN: 'metrics.internal:0' }).metrics.listen).toEqual({
      host: 'metrics.internal',
      port: 0,
    });
    expect(loadConfig({ SLUICE_METRICS_LISTEN: '[::1]:9464' }).metrics.listen).toEqual({
      host: '::1',
      port: 9464,
    });
  });

  it('refuse malformed values and a listener with metrics off, naming the variable', () => {
    expect(() => loadConfig({ SLUICE_METRICS: 'yes' })).toThrow(/SLUICE_METRICS must be one of on, off/);
    for (const listen of [
      '9464',
      '127.0.0.1',
      ':9464',
      '127.0.0.1:99999',
      'http://127.0.0.1:9464',
      '::1:9464',
    ])
      expect(() => loadConfig({ SLUICE_METRICS_LISTEN: listen }), listen).toThrow(
        /SLUICE_METRICS_LISTEN must be host:port/,
      );
    expect(() => loadConfig({ SLUICE_METRICS: 'off', SLUICE_METRICS_LISTEN: '127.0.0.1:9464' })).toThrow(
      /SLUICE_METRICS_LISTEN is set while SLUICE_METRICS=off/,
    );
  });
});
