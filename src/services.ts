import path from 'node:path';
import type { DataSource } from 'typeorm';
import { ArtifactLinks } from './artifacts/artifact-links';
import { ArtifactStore } from './artifacts/artifact-store';
import { DeclarationCache } from './engine/declaration-cache';
import { Engine } from './engine/engine';
import { ExecutionStarter } from './engine/execution-starter';
import { ExecutionStore } from './engine/execution-store';
import { PipelineReconciler } from './engine/pipeline-reconciler';
import { ServiceRolePermission } from './engine/service-role-permission';
import { TenantRoots } from './engine/providers/tenant-roots';
import { loadWebhookServerKey, WebhookSecrets } from './engine/providers/webhook-secrets';
import { EventFeed } from './events/event-feed';
import { EventRetention } from './events/event-retention';
import { EventSequencer } from './events/event-sequencer';
import { Outbox } from './events/outbox';
import { ExecutionService } from './executions/execution.service';
import { JobQueue } from './jobs/job-queue';
import { AuditLookup } from './audit/audit-lookup';
import { AuditRetention } from './audit/audit-retention';
import { AuditSealer } from './audit/audit-sealer';
import { AuditValidator } from './audit/audit-validator';
import { AuditWriter } from './audit/audit-writer';
import { DigestWatermarks } from './audit/digest-watermarks';
import type { Config } from './config';
import { Authorizer } from './iam/authorizer';
import { IamChanges } from './iam/iam-changes';
import { iamNamesOf, type IamNames } from './iam/iam-names';
import { IdentityService } from './iam/identity/identity.service';
import { SecretHasher } from './iam/identity/secrets';
import { SessionResolver } from './iam/identity/session-resolver';
import { SignInThrottle } from './iam/identity/sign-in-throttle';
import { TokenService } from './iam/identity/token.service';
import { PolicySimulator } from './iam/policies/policy-simulator';
import { PolicyService } from './iam/policies/policy.service';
import { RoleService } from './iam/roles/role.service';
import { StsService } from './iam/sts/sts.service';
import { PermissionsBoundaries } from './iam/boundaries/permissions-boundaries';
import { AccountGuardrails } from './iam/guardrails/account-guardrails';
import { DecisionLog } from './iam/decisions/decision-log';
import { PipelineService } from './pipelines/pipeline.service';
import type { Notifications } from './platform/db/notifications';
import { Db } from './platform/db/unit-of-work';
import type { Logger } from './platform/logger';
import { Metrics } from './platform/metrics/metrics';
import { metricSourcesOf } from './platform/metrics/service-metrics';
import { TagService } from './tags/tag.service';

/** Every service of one process, wired once (the composition root's half that GraphQL uses). */
export interface Services {
  config: Config;
  audit: AuditWriter;
  auditLookup: AuditLookup;
  auditValidator: AuditValidator;
  auditSealer: AuditSealer;
  auditRetention: AuditRetention;
  dataSource: DataSource;
  db: Db;
  tokens: TokenService;
  sessions: SessionResolver;
  identities: IdentityService;
  policies: PolicyService;
  roles: RoleService;
  sts: StsService;
  boundaries: PermissionsBoundaries;
  guardrails: AccountGuardrails;
  decisions: DecisionLog;
  iamNames: IamNames;
  simulator: PolicySimulator;
  authorizer: Authorizer;
  tags: TagService;
  pipelines: PipelineService;
  executions: ExecutionService;
  jobs: JobQueue;
  engine: Engine;
  artifacts: ArtifactStore;
  artifactLinks: ArtifactLinks;
  /** Where each account's Deploy/Directory and Source/Git actions may touch the server's disk. */
  deployRoots: TenantRoots;
  gitLocalRoots: TenantRoots;
  /** Each account's Invoke/Webhook signing secret. */
  webhookSecrets: WebhookSecrets;
  /** Where execution state changes append their events (src/events/outbox.ts). */
  outbox: Outbox;
  /** This process's LISTEN connection (absent in tests that build services without one). */
  notifications?: Notifications;
  /** IAM writes and their invalidations (subscriptions compare its generation). */
  iamChanges: IamChanges;
  /** Numbers committed outbox rows in commit order (any instance may run it; they take turns). */
  eventSequencer: EventSequencer;
  /** This process's reader of numbered events, fanning them out to its subscriptions. */
  events: EventFeed;
  eventRetention: EventRetention;
  /** This process's Prometheus metrics (served at /metrics, docs/operations.md). */
  metrics: Metrics;
}

export async function createServices(
  config: Config,
  dataSource: DataSource,
  notifications: Notifications | undefined,
  logger: Logger,
): Promise<Services> {
  const metrics = new Metrics({ processMetrics: config.metrics.enabled });
  const db = new Db(dataSource);
  const changes = new IamChanges(db, notifications);
  const tags = new TagService(db, config.region);
  const identities = new IdentityService(
    db,
    changes,
    new SignInThrottle(dataSource),
    new SecretHasher(config.scryptLogN),
    tags,
  );
  const roles = new RoleService(db, changes, tags);
  const policies = new PolicyService(db, changes, identities, roles);
  const iamNames = iamNamesOf(db, identities, policies, roles);
  const authorizer = new Authorizer(dataSource.manager, changes, { metrics });
  const tokens = await TokenService.create({
    dataSource,
    keyFile: config.signingKeyFile,
    dataDir: config.dataDir,
    trustedKeys: config.trustedKeys,
    ttlSeconds: config.tokenTtlSeconds,
  });
  const decisions = new DecisionLog(dataSource);
  const sts = new StsService(
    db,
    roles,
    authorizer,
    tokens,
    (account, principalArn) => tags.tagMap(account, principalArn),
    decisions,
  );
  const outbox = new Outbox();
  const store = new ExecutionStore(outbox, config.region);
  const starter = new ExecutionStarter(store);
  const artifacts = new ArtifactStore(path.join(config.dataDir, 'artifacts'));
  const jobs = new JobQueue(
    dataSource,
    { leaseSeconds: config.jobLeaseSeconds, maxAttempts: 3 },
    store,
    metrics,
  );
  const invokePermission = new ServiceRolePermission(
    authorizer,
    identities,
    sts,
    config.region,
    (account, resource) => tags.tagMap(account, resource),
  );
  const reconciler = new PipelineReconciler(new DeclarationCache(), starter, jobs, invokePermission, store);
  const deployRoots = new TenantRoots(config.deployRoots);
  const gitLocalRoots = new TenantRoots(config.gitLocalRoots);
  const audit = new AuditWriter(dataSource, logger, metrics);
  const digestWatermarks = new DigestWatermarks(path.join(config.dataDir, 'audit-digest-watermarks.json'));
  const auditSealer = new AuditSealer(
    dataSource,
    tokens,
    digestWatermarks,
    logger,
    config.auditDigestSeconds,
  );
  const services: Services = {
    config,
    audit,
    auditLookup: new AuditLookup(dataSource),
    auditValidator: new AuditValidator(dataSource, tokens, digestWatermarks, config.auditDigestSeconds),
    auditSealer,
    auditRetention: new AuditRetention(
      dataSource,
      auditSealer,
      logger,
      config.auditRetentionDays,
      config.region,
    ),
    dataSource,
    db,
    tokens,
    sessions: new SessionResolver(tokens, identities, changes),
    identities,
    policies,
    roles,
    sts,
    boundaries: new PermissionsBoundaries(db, changes, identities, roles, policies),
    guardrails: new AccountGuardrails(db, changes, policies),
    decisions,
    iamNames,
    simulator: new PolicySimulator(db, identities, roles, authorizer, iamNames, config.region),
    authorizer,
    tags,
    pipelines: new PipelineService(db, tags, starter, config.region, undefined, (accountId) => ({
      deploy: deployRoots.forAccount(accountId),
      gitLocal: gitLocalRoots.forAccount(accountId),
    })),
    executions: new ExecutionService(db, starter, jobs),
    jobs,
    engine: new Engine(dataSource, reconciler, jobs, notifications, logger, store, {
      sweepMs: 1000,
      metrics,
    }),
    artifacts,
    artifactLinks: new ArtifactLinks(dataSource, tokens, artifacts),
    deployRoots,
    gitLocalRoots,
    webhookSecrets: new WebhookSecrets(loadWebhookServerKey(config.webhookSecret, config.dataDir)),
    outbox,
    notifications,
    iamChanges: changes,
    eventSequencer: new EventSequencer(dataSource, notifications, logger),
    events: new EventFeed(dataSource, notifications, logger),
    eventRetention: new EventRetention(dataSource, logger, config.eventRetentionDays),
    metrics,
  };
  metrics.watch(metricSourcesOf(services));
  return services;
}
