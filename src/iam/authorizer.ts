import type { EntityManager } from 'typeorm';
import type { AuthorizerStats, Metrics } from '../platform/metrics/metrics';
import { AccessDeniedError } from './access-denied-error';
import type { IamChanges } from './iam-changes';
import { principalKey, type Principal } from './identity/principal';
import { loadPrincipalSnapshot } from './policies/principal-policies';
import {
  AccountAuthorizer,
  type AccountSnapshot,
  type Evaluation,
  type EvaluationOptions,
  type RequestContext,
} from './policy/account-authorizer';
import type { PolicyDocument } from './policy/policy-document';

export interface AuthorizationRequest {
  action: string;
  resource: string;
  context: RequestContext;
}

export { AccessDeniedError } from './access-denied-error';

/** Reads what one principal reaches (src/iam/policies/principal-policies.ts). */
export type PrincipalLoader = (accountId: string, principalKey: string) => Promise<AccountSnapshot>;

export interface AuthorizerOptions {
  /** Most principals kept compiled at once (least recently used go first). */
  maxPrincipals?: number;
  /** Most policy statements kept compiled across them (a principal's statements weigh it). */
  maxStatements?: number;
  /** Replaces the loader (tests: to make a change race a build). */
  load?: PrincipalLoader;
  /** Where load times go (hits and misses are counted here and read at scrape time). */
  metrics?: Metrics;
}

/**
 * Bounds for a 24 GiB server. A loaded principal reaching ~10 policies costs about 50–60 KB
 * (bench/authz.ts: its Casbin enforcers ~9 KB each, compiled statements, parsed documents),
 * so 50,000 principals stay within about 3 GiB; 1,000,000 statements cap principals that
 * reach unusually many.
 */
export const DEFAULT_MAX_PRINCIPALS = 50_000;
export const DEFAULT_MAX_STATEMENTS = 1_000_000;

/**
 * The account root may do anything inside its own account (DESIGN §5), within the account's
 * guardrails; a role session has its role's permissions within its session policy.
 */
function optionsOf(principal: Principal): EvaluationOptions {
  return { root: principal.type === 'ROOT', sessionPolicy: principal.role?.sessionPolicy };
}

interface CompiledPrincipal {
  authorizer: AccountAuthorizer;
  /** Lower-cased condition keys that any statement the principal reaches uses. */
  conditionKeys: Set<string>;
  /** Policy statements compiled: the entry's weight against `maxStatements`. */
  statements: number;
}

interface Entry {
  key: string;
  accountId: string;
  building: Promise<CompiledPrincipal>;
  /** Set once built and kept: the hot path reads it without awaiting. */
  compiled?: CompiledPrincipal;
  /** Asked since eviction last passed it: it gets a second chance (CLOCK). */
  used: boolean;
}

/**
 * Decides IAM requests. Each principal (account + principal key) gets its own AccountAuthorizer,
 * built on first use from just the policies it reaches, kept in a bounded cache (the least
 * recently used leave first, approximately), and dropped — with every other principal of its account — whenever IamChanges reports
 * a write there (on this instance at once, on others through NOTIFY). An IAM write thus costs
 * the next request of each principal of the account one small load, not a rebuild of the
 * whole account.
 *
 * An entry is its own generation: a change deletes the account's entries, including builds in
 * flight, and a finished build is kept only if its entry is still the one in the cache, so a
 * build that raced a change is never kept (its waiters, which asked before the change was
 * visible, still get its answer).
 */
export class Authorizer {
  /** Account id → principal key → entry: found without building a key, dropped per account. */
  private readonly accounts = new Map<string, Map<string, Entry>>();
  /**
   * Every entry, in insertion order (a Set's). Eviction approximates least-recently-used as
   * CLOCK does: a hit only marks its entry, and eviction moves marked entries to the back
   * instead of dropping them — re-inserting on every hit would cost the hot path two writes.
   */
  private readonly clock = new Set<Entry>();
  private statements = 0;
  private readonly maxPrincipals: number;
  private readonly maxStatements: number;
  private readonly load: PrincipalLoader;
  private readonly metrics: Metrics | undefined;
  /** Plain numbers on the hot path; /metrics reads them through `stats`. */
  private hits = 0;
  private misses = 0;
  /** Benchmarks only (bench/api.ts): allow everything, to measure what evaluation costs. */
  private benchmarkBypass = false;

  constructor(
    /** The pool's manager: loads never read inside a unit of work, whose writes may roll back. */
    manager: EntityManager,
    changes: IamChanges,
    options: AuthorizerOptions = {},
  ) {
    this.maxPrincipals = options.maxPrincipals ?? DEFAULT_MAX_PRINCIPALS;
    this.maxStatements = options.maxStatements ?? DEFAULT_MAX_STATEMENTS;
    this.load = options.load ?? ((accountId, key) => loadPrincipalSnapshot(manager, accountId, key));
    this.metrics = options.metrics;
    changes.onChange((accountId) => {
      if (accountId === undefined) this.clear();
      else this.dropAccount(accountId);
    });
  }

  /** Not reachable through configuration or the API: only bench/support/bench-server.ts calls it. */
  setBenchmarkBypass(on: boolean): void {
    this.benchmarkBypass = on;
  }

  get bypassed(): boolean {
    return this.benchmarkBypass;
  }

  async evaluate(principal: Principal, request: AuthorizationRequest): Promise<Evaluation> {
    if (this.benchmarkBypass) return { decision: 'ALLOWED', matchedStatements: [] };
    const key = principalKey(principal);
    const { authorizer } = await this.forPrincipal(principal.accountId, key);
    return authorizer.evaluate(key, request.action, request.resource, request.context, optionsOf(principal));
  }

  async isAllowed(principal: Principal, request: AuthorizationRequest): Promise<boolean> {
    if (this.benchmarkBypass) return true;
    const key = principalKey(principal);
    const { authorizer } = await this.forPrincipal(principal.accountId, key);
    return authorizer.isAllowed(key, request.action, request.resource, request.context, optionsOf(principal));
  }

  /** Throws ACCESS_DENIED naming principal, action and resource unless allowed. */
  async authorize(principal: Principal, request: AuthorizationRequest): Promise<void> {
    if (this.benchmarkBypass) return;
    const evaluation = await this.evaluate(principal, request);
    if (evaluation.decision !== 'ALLOWED') {
      throw new AccessDeniedError(
        principal,
        request.action,
        request.resource,
        evaluation.decision === 'EXPLICIT_DENY',
      );
    }
  }

  /**
   * Whether any statement that can decide for `principal` — its policies, boundary and
   * guardrails, and its session policy — uses a condition key starting with `prefix`, so that
   * costly context (resource tags) is loaded only when it can matter.
   */
  async usesConditionKeyPrefix(principal: Principal, prefix: string): Promise<boolean> {
    const { conditionKeys } = await this.forPrincipal(principal.accountId, principalKey(principal));
    for (const key of conditionKeys) if (key.startsWith(prefix)) return true;
    const session = principal.role?.sessionPolicy;
    return session !== undefined && sessionKeysOf(session).some((key) => key.startsWith(prefix));
  }

  /** Resolves once loaded authorizers finished building their rule subsets (tests, benches). */
  async settled(): Promise<void> {
    await Promise.all([...this.clock].map((e) => e.compiled?.authorizer.settled()));
  }

  /** Whether the principal's authorizer is loaded (for tests). */
  isCached(accountId: string, key: string): boolean {
    return this.accounts.get(accountId)?.get(key)?.compiled !== undefined;
  }

  /** What the cache holds (for tests and benches). */
  get cacheSize(): { principals: number; statements: number } {
    return { principals: this.clock.size, statements: this.statements };
  }

  /** Cache hits and misses since start, and what the cache holds (for /metrics). */
  get stats(): AuthorizerStats {
    return { hits: this.hits, misses: this.misses, ...this.cacheSize };
  }

  private forPrincipal(accountId: string, key: string): CompiledPrincipal | Promise<CompiledPrincipal> {
    let account = this.accounts.get(accountId);
    const hit = account?.get(key);
    if (hit) {
      this.hits += 1;
      hit.used = true;
      return hit.compiled ?? hit.building;
    }
    this.misses += 1;
    const started = performance.now();
    const building = this.load(accountId, key).then(compile(key));
    const entry: Entry = { key, accountId, building, used: false };
    if (!account) this.accounts.set(accountId, (account = new Map()));
    account.set(key, entry);
    this.clock.add(entry);
    this.evict();
    building.then(
      (compiled) => {
        this.metrics?.observeAuthorizerLoad((performance.now() - started) / 1000);
        if (!this.clock.has(entry)) return;
        entry.compiled = compiled;
        this.statements += compiled.statements;
        this.evict();
      },
      () => this.remove(entry),
    );
    return building;
  }

  /** Drops entries not used lately until both bounds hold (the newest entry included). */
  private evict(): void {
    while (this.clock.size > this.maxPrincipals || this.statements > this.maxStatements) {
      const oldest = this.clock.values().next();
      if (oldest.done) return;
      const entry = oldest.value;
      if (entry.used) {
        // Terminates: each entry is moved at most once before every entry is unmarked.
        entry.used = false;
        this.clock.delete(entry);
        this.clock.add(entry);
      } else this.remove(entry);
    }
  }

  /** Forgets `entry` if it is still cached (a no-op for one already dropped or replaced). */
  private remove(entry: Entry): void {
    if (!this.clock.delete(entry)) return;
    if (entry.compiled) this.statements -= entry.compiled.statements;
    const account = this.accounts.get(entry.accountId);
    if (account?.get(entry.key) === entry) account.delete(entry.key);
    if (account?.size === 0) this.accounts.delete(entry.accountId);
  }

  private dropAccount(accountId: string): void {
    for (const entry of this.accounts.get(accountId)?.values() ?? []) {
      this.clock.delete(entry);
      if (entry.compiled) this.statements -= entry.compiled.statements;
    }
    this.accounts.delete(accountId);
  }

  private clear(): void {
    this.accounts.clear();
    this.clock.clear();
    this.statements = 0;
  }
}

function compile(key: string): (snapshot: AccountSnapshot) => Promise<CompiledPrincipal> {
  return async (snapshot) => ({
    authorizer: await AccountAuthorizer.build(snapshot, { principal: key }),
    conditionKeys: new Set(conditionKeysOf(snapshot.policies.map((p) => p.document))),
    statements: snapshot.policies.reduce((n, p) => n + p.document.statements.length, 0),
  });
}

function conditionKeysOf(documents: PolicyDocument[]): string[] {
  return documents.flatMap((d) => d.statements.flatMap((s) => s.conditions.map((c) => c.key.toLowerCase())));
}

// A session's policy document lives as long as its principal: compute its keys once.
const sessionConditionKeys = new WeakMap<PolicyDocument, string[]>();
function sessionKeysOf(document: PolicyDocument): string[] {
  let keys = sessionConditionKeys.get(document);
  if (!keys) sessionConditionKeys.set(document, (keys = conditionKeysOf([document])));
  return keys;
}
