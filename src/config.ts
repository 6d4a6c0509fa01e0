import path from 'node:path';
import type { SandboxSetting } from './engine/sandbox/job-sandbox';
import { derivedUidBase, uidBaseMax, uidBaseMin } from './engine/sandbox/slot-uids';

/** Typed, validated configuration read once from the environment (DESIGN §2). */
export interface Config {
  port: number;
  host: string;
  databaseUrl: string | undefined;
  dataDir: string;
  adminPassword: string | undefined;
  region: string;
  workerConcurrency: number;
  nodeEnv: 'development' | 'production' | 'test';
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** PEM file with the token-signing private key; generated into the data folder when unset. */
  signingKeyFile: string | undefined;
  /** Token lifetime in seconds (≤ 3600, DESIGN §5). */
  tokenTtlSeconds: number;
  /** PEM public-key files or folders of them whose keys verify tokens and audit digests (other instances). */
  trustedKeys: string[];
  /** Proxies of our own in front (0: none): the caller is X-Forwarded-For's entry that many hops from the right. */
  trustProxyHops: number;
  /** Largest accepted HTTP request body. */
  maxBodyBytes: number;
  /** Connections in the database pool of one process. */
  dbPoolSize: number;
  /** Seconds between signed digests of each account's audit chain head. */
  auditDigestSeconds: number;
  /** Days audit events are kept before retention prunes them. */
  auditRetentionDays: number;
  /** How long execution events are kept for replay (afterSequence). */
  eventRetentionDays: number;
  /** How long a claimed job stays a worker's without a heartbeat. */
  jobLeaseSeconds: number;
  /** log2 of scrypt's N for password and secret-key hashes (17: OWASP's recommendation). */
  scryptLogN: number;
  /** Key Invoke/Webhook actions sign requests with; generated into the data folder when unset. */
  webhookSecret: string | undefined;
  /** How job processes are isolated (SLUICE_SANDBOX) and, as root, the first slot uid. */
  sandbox: { setting: SandboxSetting; uidBase: number };
  /** Job folders: outside the 0700 data folder, so slot uids can reach their own. */
  workDir: string;
  /** Folders Deploy/Directory may deploy under; `<account id>` is replaced per account. */
  deployRoots: string[];
  /** Folders Source/Git may read local repositories (paths, file://) from; none by default. */
  gitLocalRoots: string[];
  /** `host` or `host:port` Invoke/Webhook may call although they resolve to private addresses. */
  webhookAllowHosts: string[];
  /**
   * Browser origins (`scheme://host[:port]`) whose pages may open the GraphQL WebSocket, or `*`
   * for any. Upgrades without an Origin (CLIs, Node clients) and same-origin ones always pass.
   */
  allowedOrigins: '*' | string[];
  /** Seconds between WebSocket pings; a socket that missed the previous pong is dropped. */
  wsPingSeconds: number;
  /** `/metrics` (docs/operations.md): off, on the main port behind a token, or on a listener of its own. */
  metrics: MetricsConfig;
}

/**
 * SLUICE_METRICS=off serves no metrics at all. Otherwise, without SLUICE_METRICS_LISTEN,
 * `/metrics` is on the main port for principals of the platform account allowed
 * `sluice:GetMetrics`; with it, `/metrics` is served without a token on that address only
 * (loopback or a private network), and the main port answers 404 so it is never exposed twice.
 */
export interface MetricsConfig {
  enabled: boolean;
  listen: { host: string; port: number } | undefined;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`Invalid configuration: ${variable} ${message}`);
  }
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max)
    throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

/** SLUICE_TRUST_PROXY: a hop count. "true" (trust every hop) is refused: it lets any client choose its own address. */
function proxyHops(env: Env): number {
  const raw = env.SLUICE_TRUST_PROXY?.trim().toLowerCase();
  if (raw === 'false') return 0;
  if (raw === 'true') {
    throw new ConfigError(
      'SLUICE_TRUST_PROXY',
      'no longer trusts every proxy: give the number of proxies of yours in front of Sluice (0: none, 1: one reverse proxy)',
    );
  }
  return integer(env, 'SLUICE_TRUST_PROXY', 0, 0, 32);
}

/** A comma-separated list of absolute paths; unset or empty: `fallback`. */
function absolutePaths(env: Env, name: string, fallback: string[]): string[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const items = raw
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  const relative = items.find((item) => !path.isAbsolute(item));
  if (relative !== undefined) throw new ConfigError(name, `must list absolute paths, got "${relative}"`);
  return items.map((item) => path.normalize(item));
}

/** A comma-separated list of `host` or `host:port` (IPv6 in brackets), lower-cased. */
function hostList(env: Env, name: string): string[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return [];
  const items = raw
    .split(',')
    .map((item) => item.trim().toLowerCase())
    .filter(Boolean);
  const invalid = items.find((item) => !/^(?:\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::\d{1,5})?$/.test(item));
  if (invalid !== undefined)
    throw new ConfigError(name, `must list host or host:port items, got "${invalid}"`);
  return items;
}

/**
 * SLUICE_ALLOWED_ORIGINS: `*`, or a comma list of origins, each normalized as browsers send
 * it (lower-case scheme and host, default port dropped) so it compares with `Origin` as text.
 */
function originList(env: Env): '*' | string[] {
  const raw = env.SLUICE_ALLOWED_ORIGINS;
  if (raw === undefined || raw.trim() === '') return [];
  if (raw.trim() === '*') return '*';
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
    .map((item) => {
      let url: URL | undefined;
      try {
        url = new URL(item);
      } catch {
        url = undefined;
      }
      const bare = url && url.pathname === '/' && !url.search && !url.hash && !url.username && !url.password;
      if (!url || !/^https?:$/.test(url.protocol) || !bare || item.includes('*')) {
        throw new ConfigError(
          'SLUICE_ALLOWED_ORIGINS',
          `must be * or list origins like https://console.example.com (scheme, host, optional port; no path), got "${item}"`,
        );
      }
      return url.origin;
    });
}

export function loadConfig(env: Env = process.env): Config {
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL', 'must be a postgres:// or postgresql:// URL');
  }
  const region = env.SLUICE_REGION || 'local';
  if (!/^[a-z0-9-]{1,32}$/.test(region)) {
    throw new ConfigError('SLUICE_REGION', `must be lower-case letters, digits and dashes, got "${region}"`);
  }
  const adminPassword = env.SLUICE_ADMIN_PASSWORD || undefined;
  if (adminPassword !== undefined && adminPassword.length < 8) {
    throw new ConfigError('SLUICE_ADMIN_PASSWORD', 'must be at least 8 characters long');
  }
  const nodeEnv = oneOf(env, 'NODE_ENV', ['development', 'production', 'test'] as const, 'development');
  return {
    port: integer(env, 'PORT', 4000, 0, 65535),
    host: env.SLUICE_HOST || '0.0.0.0',
    databaseUrl,
    dataDir: path.resolve(env.SLUICE_DATA_DIR || '.sluice'),
    adminPassword,
    region,
    workerConcurrency: integer(env, 'SLUICE_WORKER_CONCURRENCY', 4, 0, 256),
    nodeEnv,
    logLevel: oneOf(
      env,
      'SLUICE_LOG_LEVEL',
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const,
      nodeEnv === 'test' ? 'warn' : 'info',
    ),
    signingKeyFile: env.SLUICE_SIGNING_KEY_FILE || undefined,
    tokenTtlSeconds: integer(env, 'SLUICE_TOKEN_TTL_SECONDS', 3600, 60, 3600),
    trustedKeys: (env.SLUICE_TRUSTED_KEYS ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean)
      .map((item) => path.resolve(item)),
    trustProxyHops: proxyHops(env),
    maxBodyBytes: integer(env, 'SLUICE_MAX_BODY_BYTES', 1_048_576, 1024, 100 * 1_048_576),
    dbPoolSize: integer(env, 'SLUICE_DB_POOL_SIZE', 20, 2, 500),
    auditDigestSeconds: integer(env, 'SLUICE_AUDIT_DIGEST_SECONDS', 60, 1, 3600),
    auditRetentionDays: integer(env, 'SLUICE_AUDIT_RETENTION_DAYS', 365, 1, 36500),
    eventRetentionDays: integer(env, 'SLUICE_EVENT_RETENTION_DAYS', 7, 1, 3650),
    webhookSecret: env.SLUICE_WEBHOOK_SECRET || undefined,
    deployRoots: absolutePaths(env, 'SLUICE_DEPLOY_ROOTS', [
      path.join(path.resolve(env.SLUICE_DATA_DIR || '.sluice'), 'deployments', '<account id>'),
    ]),
    gitLocalRoots: absolutePaths(env, 'SLUICE_GIT_LOCAL_ROOTS', []),
    webhookAllowHosts: hostList(env, 'SLUICE_WEBHOOK_ALLOW_HOSTS'),
    allowedOrigins: originList(env),
    wsPingSeconds: integer(env, 'SLUICE_WS_PING_SECONDS', 30, 1, 3600),
    metrics: metricsConfig(env),
    jobLeaseSeconds: integer(env, 'SLUICE_JOB_LEASE_SECONDS', 60, 3, 3600),
    scryptLogN: integer(env, 'SLUICE_SCRYPT_LOG_N', 17, 14, 20),
    sandbox: {
      setting: oneOf(env, 'SLUICE_SANDBOX', ['auto', 'bwrap', 'uid', 'none'] as const, 'auto'),
      uidBase: integer(
        env,
        'SLUICE_SANDBOX_UID_BASE',
        derivedUidBase(path.resolve(env.SLUICE_DATA_DIR || '.sluice')),
        uidBaseMin,
        uidBaseMax,
      ),
    },
    workDir: workFolder(env),
  };
}

/** SLUICE_METRICS (`on` | `off`) and SLUICE_METRICS_LISTEN (`host:port`, IPv6 in brackets). */
function metricsConfig(env: Env): MetricsConfig {
  const enabled = oneOf(env, 'SLUICE_METRICS', ['on', 'off'] as const, 'on') === 'on';
  const raw = env.SLUICE_METRICS_LISTEN?.trim();
  if (!raw) return { enabled, listen: undefined };
  if (!enabled)
    throw new ConfigError('SLUICE_METRICS_LISTEN', 'is set while SLUICE_METRICS=off: unset one of them');
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw);
  const port = match ? Number(match[2]) : Number.NaN;
  if (!match || port > 65535)
    throw new ConfigError(
      'SLUICE_METRICS_LISTEN',
      `must be host:port, such as 127.0.0.1:9464 or [::1]:9464, got "${raw}"`,
    );
  return { enabled, listen: { host: match[1].replace(/^\[(.*)\]$/, '$1'), port } };
}

/**
 * SLUICE_WORK_DIR, outside the data folder: that one is 0700, and a job running as its slot's
 * uid could not reach its own folder through it (nor should the data folder hold a job's).
 */
function workFolder(env: Env): string {
  const dataDir = path.resolve(env.SLUICE_DATA_DIR || '.sluice');
  const workDir = path.resolve(env.SLUICE_WORK_DIR || `${dataDir}-work`);
  const inside = (outer: string, inner: string) => {
    const relative = path.relative(outer, inner);
    return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
  };
  if (inside(dataDir, workDir) || inside(workDir, dataDir)) {
    throw new ConfigError(
      'SLUICE_WORK_DIR',
      `must be outside SLUICE_DATA_DIR (${dataDir}) and not contain it, got "${workDir}"`,
    );
  }
  return workDir;
}

/** Variables holding secrets: read once, then gone from the environment (see forgetSecrets). */
export const secretVariables = [
  'DATABASE_URL',
  'SLUICE_ADMIN_PASSWORD',
  'SLUICE_WEBHOOK_SECRET',
  'SLUICE_SECRET_ACCESS_KEY',
  'TEST_DATABASE_URL',
] as const;

/**
 * Deletes the secret variables from `env` once the configuration holds them, so no child
 * process inherits them (the embedded PostgreSQL, git, anything a library spawns).
 * /proc/<pid>/environ keeps showing what the process started with: jobs cannot read it
 * (another uid, or a /proc of their own), and nothing else should run as the server's user.
 */
export function forgetSecrets(env: Record<string, string | undefined> = process.env): void {
  for (const name of secretVariables) delete env[name];
}
