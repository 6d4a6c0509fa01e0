import { openLogStreams } from '../../events/events.resolver';
import type { Services } from '../../services';
import { poolUse } from '../db/database';
import type { MetricSources } from './metrics';

/** What each gauge of `Metrics` reads, from the services of one process. */
export function metricSourcesOf(services: Services): MetricSources {
  return {
    auditQueueDepth: () => services.audit.queueDepth,
    authorizer: () => services.authorizer.stats,
    engineQueueDepth: () => services.engine.queueDepth(),
    queuedJobs: () => services.jobs.queuedCount(),
    subscriptions: () => ({ events: services.events.subscriberCount, logs: openLogStreams(services) }),
    subscriptionBuffers: () => services.events.bufferDepths(),
    dbPool: () => poolUse(services.dataSource),
  };
}
