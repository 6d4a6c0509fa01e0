import DataLoader from 'dataloader';
import type { Principal } from '../iam/identity/principal';
import type { Logger } from '../platform/logger';
import type { Services } from '../services';

/** Per-request state handed to every resolver. */
export interface GraphQLContext {
  requestId: string;
  sourceIp: string;
  userAgent: string | undefined;
  /** `http://host:port` the client reached us at, for links it can follow (artifact downloads). */
  origin: string;
  /** Bearer token from the Authorization header or graphql-ws connectionParams. */
  token: string | undefined;
  services: Services;
  logger: Logger;
  /** Set by the permission layer before any non-public resolver runs. */
  principal?: Principal;
  /** Set by the permission layer for list fields: may the caller see this item? */
  permits?: (arn: string) => Promise<boolean>;
  /** Per-request memo of resource tags (condition key aws:ResourceTag/<k>). */
  resourceTags?: Map<string, Promise<Record<string, string>>>;
  /** Other accounts whose audit trails also record this call (assumeRole: the role's account). */
  auditAlsoIn?: Set<string>;
  /** Per-request DataLoaders, by name (see loaderOf). */
  loaders?: Map<string, unknown>;
  /**
   * Over WebSocket only: closes the whole connection with a close code and reason (at most 123
   * bytes). Subscriptions use it to cut off a subscriber that fell behind (4008, with the
   * SubscriberTooSlowError message saying where to resume); a stream failing with
   * SubscriberTooSlowError gets the same without calling it.
   */
  closeConnection?: (code: number, reason: string) => void;
}

/** The caller of a resolver behind a non-public permission declaration. */
export function callerOf(ctx: GraphQLContext): Principal {
  if (!ctx.principal) throw new Error('permission layer did not run for this field');
  return ctx.principal;
}

/** The item filter of a resolver behind a `list` permission declaration. */
export function itemFilterOf(ctx: GraphQLContext): (arn: string) => Promise<boolean> {
  if (!ctx.permits) throw new Error('permission layer did not set a list filter for this field');
  return ctx.permits;
}

/**
 * A DataLoader made once per request under `name`, so field resolvers of list items batch
 * their reads into one query instead of one per item.
 */
export function loaderOf<K, V>(
  ctx: GraphQLContext & { loaders?: Map<string, unknown> },
  name: string,
  batch: (keys: readonly K[]) => Promise<V[]>,
): DataLoader<K, V> {
  ctx.loaders ??= new Map();
  let loader = ctx.loaders.get(name) as DataLoader<K, V> | undefined;
  if (!loader) {
    loader = new DataLoader<K, V>(batch);
    ctx.loaders.set(name, loader);
  }
  return loader;
}
