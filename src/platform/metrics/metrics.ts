import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Labels of one GraphQL operation, each from a bounded set (src/graphql/request-metrics.ts). */
export interface RequestLabels {
  /** A root field name of the schema, `multiple`, or `unknown`: never client-chosen text. */
  operation: string;
  type: 'query' | 'mutation' | 'subscription' | 'unknown';
  /** `ok`, or the first error's code, from a fixed list. */
  outcome: string;
}

export interface AuthorizerStats {
  hits: number;
  misses: number;
  principals: number;
  statements: number;
}

export interface PoolUse {
  total: number;
  idle: number;
  waiting: number;
}

/**
 * What the gauges and the authorizer's counters read at scrape time, so the modules keep plain
 * numbers and pay nothing per request (src/platform/metrics/service-metrics.ts wires them).
 */
export interface MetricSources {
  auditQueueDepth(): number;
  authorizer(): AuthorizerStats;
  /** Pipelines marked dirty, waiting for an engine to reconcile them (one indexed count). */
  engineQueueDepth(): Promise<number>;
  /** Jobs waiting for a worker (one indexed count). */
  queuedJobs(): Promise<number>;
  subscriptions(): { events: number; logs: number };
  /** Live events buffered for event subscribers that have not read them yet. */
  subscriptionBuffers(): { total: number; max: number };
  dbPool(): PoolUse | undefined;
}

export interface MetricsOptions {
  /** prom-client's process metrics (memory, CPU, event-loop lag, GC); off with SLUICE_METRICS=off. */
  processMetrics: boolean;
}

/** Latencies from a millisecond to a minute: GraphQL calls, audit batches, reconciles, dispatch. */
const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Job dispatch waits for a free worker: up to an hour is worth telling apart. */
const DISPATCH_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/**
 * This process's Prometheus metrics (docs/operations.md lists every one). A registry of its
 * own, not prom-client's global one, so several servers in one process (tests) never collide.
 *
 * No label ever carries tenant data (account ids, pipeline or user names): labels come from
 * fixed sets, so the number of series stays bounded whatever clients send.
 */
export class Metrics {
  readonly registry = new Registry();
  private sources: MetricSources | undefined;
  private readonly requestDuration: Histogram<'operation' | 'type' | 'outcome'>;
  private readonly auditFlushDuration: Histogram<'outcome'>;
  private readonly auditEventsWritten: Counter;
  private readonly auditEventsFailed: Counter;
  private readonly authorizerLoadDuration: Histogram;
  private readonly reconcileDuration: Histogram<'outcome'>;
  private readonly jobDispatchLatency: Histogram;

  constructor(options: MetricsOptions = { processMetrics: true }) {
    const registers = [this.registry];
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'sluice_' });
    this.requestDuration = new Histogram({
      name: 'sluice_graphql_request_duration_seconds',
      help: 'GraphQL operations, HTTP and WebSocket, by root field, type and outcome (ok or the error code)',
      labelNames: ['operation', 'type', 'outcome'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.auditFlushDuration = new Histogram({
      name: 'sluice_audit_flush_duration_seconds',
      help: "One group-commit batch of the audit writer's queue, written in one statement",
      labelNames: ['outcome'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.auditEventsWritten = new Counter({
      name: 'sluice_audit_events_written_total',
      help: "Audit events the writer's queue committed (reads, refused calls; a mutation's event commits with it)",
      registers,
    });
    this.auditEventsFailed = new Counter({
      name: 'sluice_audit_events_failed_total',
      help: 'Audit events whose batch failed to commit (their calls failed with INTERNAL)',
      registers,
    });
    this.authorizerLoadDuration = new Histogram({
      name: 'sluice_authorizer_load_duration_seconds',
      help: "Loading and compiling one principal's policies into the authorizer's cache",
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: 'sluice_engine_reconcile_duration_seconds',
      help: 'One pipeline reconciled by the engine: claim, decide and commit, in one transaction',
      labelNames: ['outcome'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.jobDispatchLatency = new Histogram({
      name: 'sluice_job_dispatch_latency_seconds',
      help: 'How long a job waited queued before a worker claimed it',
      buckets: DISPATCH_BUCKETS,
      registers,
    });
    this.gauges(registers);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** Where the gauges read from; until called they report zero. */
  watch(sources: MetricSources): void {
    this.sources = sources;
  }

  observeRequest(labels: RequestLabels, seconds: number): void {
    this.requestDuration.observe(labels, seconds);
  }

  observeAuditFlush(events: number, seconds: number, ok: boolean): void {
    this.auditFlushDuration.observe({ outcome: ok ? 'ok' : 'failed' }, seconds);
    (ok ? this.auditEventsWritten : this.auditEventsFailed).inc(events);
  }

  observeAuthorizerLoad(seconds: number): void {
    this.authorizerLoadDuration.observe(seconds);
  }

  observeReconcile(seconds: number, ok: boolean): void {
    this.reconcileDuration.observe({ outcome: ok ? 'ok' : 'failed' }, seconds);
  }

  observeJobDispatch(waitedSeconds: number): void {
    this.jobDispatchLatency.observe(Math.max(0, waitedSeconds));
  }

  /** Metrics read from the modules at scrape time. */
  private gauges(registers: Registry[]): void {
    const sources = (): MetricSources | undefined => this.sources;
    // First: prom-client runs the collects in registration order, and the counts below borrow
    // pool connections; read after them, the pool would show the scrape's own queries waiting.
    new Gauge({
      name: 'sluice_db_pool_connections',
      help: 'Database pool of this process: open connections (total), idle ones, and queries waiting for one',
      labelNames: ['state'],
      registers,
      collect() {
        const pool = sources()?.dbPool() ?? { total: 0, idle: 0, waiting: 0 };
        this.set({ state: 'total' }, pool.total);
        this.set({ state: 'idle' }, pool.idle);
        this.set({ state: 'waiting' }, pool.waiting);
      },
    });
    new Gauge({
      name: 'sluice_audit_queue_depth',
      help: 'Audit events queued for the next group-commit batch',
      registers,
      collect() {
        this.set(sources()?.auditQueueDepth() ?? 0);
      },
    });
    const authorizer = (): AuthorizerStats =>
      sources()?.authorizer() ?? { hits: 0, misses: 0, principals: 0, statements: 0 };
    new Counter({
      name: 'sluice_authorizer_cache_hits_total',
      help: 'Authorization checks that found their principal compiled in the cache',
      registers,
      collect() {
        this.reset();
        this.inc(authorizer().hits);
      },
    });
    new Counter({
      name: 'sluice_authorizer_cache_misses_total',
      help: "Authorization checks that had to load their principal's policies",
      registers,
      collect() {
        this.reset();
        this.inc(authorizer().misses);
      },
    });
    new Gauge({
      name: 'sluice_authorizer_cache_principals',
      help: 'Principals compiled in the authorizer cache',
      registers,
      collect() {
        this.set(authorizer().principals);
      },
    });
    new Gauge({
      name: 'sluice_authorizer_cache_statements',
      help: 'Policy statements compiled in the authorizer cache (its weight)',
      registers,
      collect() {
        this.set(authorizer().statements);
      },
    });
    new Gauge({
      name: 'sluice_engine_queue_depth',
      help: 'Pipelines with something to decide, waiting for an engine (all instances)',
      registers,
      async collect() {
        this.set(await counted(sources()?.engineQueueDepth()));
      },
    });
    new Gauge({
      name: 'sluice_jobs_queued',
      help: 'Jobs waiting for a worker (all instances)',
      registers,
      async collect() {
        this.set(await counted(sources()?.queuedJobs()));
      },
    });
    new Gauge({
      name: 'sluice_subscriptions_open',
      help: 'GraphQL subscriptions this process serves, by kind: events (pipeline and account events) or logs',
      labelNames: ['kind'],
      registers,
      collect() {
        const open = sources()?.subscriptions() ?? { events: 0, logs: 0 };
        this.set({ kind: 'events' }, open.events);
        this.set({ kind: 'logs' }, open.logs);
      },
    });
    new Gauge({
      name: 'sluice_subscription_buffered_events',
      help: 'Live events buffered for event subscribers that have not read them yet, all together',
      registers,
      collect() {
        this.set(sources()?.subscriptionBuffers().total ?? 0);
      },
    });
    new Gauge({
      name: 'sluice_subscription_buffered_events_max',
      help: 'The most live events buffered for one event subscriber (cut off past 1,000)',
      registers,
      collect() {
        this.set(sources()?.subscriptionBuffers().max ?? 0);
      },
    });
  }
}

/** A count read from the database, or NaN when it could not be (a scrape never fails for it). */
async function counted(count: Promise<number> | undefined): Promise<number> {
  if (!count) return 0;
  try {
    return await count;
  } catch {
    return Number.NaN;
  }
}
