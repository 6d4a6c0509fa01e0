import type { Enforcer } from 'casbin';
import { newIamEnforcer, type CasbinRule, type RuleRegistry } from './casbin-model';
import { actionMatches, type ActionMatcher } from './compiled-statement';
import { LruCache } from './lru-cache';

/** A `p` rule and the Action/NotAction matcher of the statement it encodes. */
export interface PrincipalRule {
  rule: CasbinRule;
  actions: ActionMatcher;
}

/** Actions remembered per principal: the server checks a few dozen distinct ones. */
const ACTIONS_PER_PRINCIPAL = 256;
/** Rule subsets per principal: each is a Casbin enforcer (~9 KB), so memory stays bounded. */
const SUBSETS_PER_PRINCIPAL = 16;

/**
 * The Casbin enforcers of the principals that reach one set of policies. Casbin evaluates its
 * matcher once per rule on every request (about 2–3 µs a rule, on top of ~3 µs a call), and a
 * principal may reach hundreds of rules. A rule whose Action/NotAction does not match the
 * request's action cannot match — the matcher is a conjunction with `iamActionMatch`, the same
 * function as `actionMatches` — so an enforcer holding only the rules whose action matches
 * decides exactly as the one holding all of them. Those subsets are built on the first request
 * for an action; Casbin builds enforcers asynchronously, so until one is ready the enforcer
 * holding every rule answers.
 */
export class PrincipalEnforcer {
  /** Folded action → the enforcer that decides it (a subset, `all` or `empty`). */
  private readonly byAction = new LruCache<string, Enforcer>(ACTIONS_PER_PRINCIPAL);
  /** Picked rule indexes (joined) → their enforcer. */
  private readonly subsets = new Map<string, Enforcer>();
  private readonly pending = new Map<string, Promise<void>>();

  private constructor(
    private readonly registry: RuleRegistry,
    private readonly rules: readonly PrincipalRule[],
    private readonly links: [string, string][],
    /** Every rule the principals reach. */
    readonly all: Enforcer,
    private readonly empty: Enforcer,
  ) {}

  static async create(
    registry: RuleRegistry,
    rules: readonly PrincipalRule[],
    links: [string, string][],
    empty: Enforcer,
  ): Promise<PrincipalEnforcer> {
    const all = await loadEnforcer(
      registry,
      rules.map((r) => r.rule),
      links,
    );
    return new PrincipalEnforcer(registry, rules, links, all, empty);
  }

  /** The enforcer to ask about `action` (lower-cased). */
  forAction(action: string): Enforcer {
    const known = this.byAction.get(action);
    if (known) return known;
    const picked: number[] = [];
    for (let i = 0; i < this.rules.length; i++) {
      if (actionMatches(this.rules[i].actions, action)) picked.push(i);
    }
    if (picked.length === this.rules.length) return this.remember(action, this.all);
    if (picked.length === 0) return this.remember(action, this.empty);
    const key = picked.join(',');
    const subset = this.subsets.get(key);
    if (subset) return this.remember(action, subset);
    if (!this.pending.has(key) && this.subsets.size + this.pending.size < SUBSETS_PER_PRINCIPAL) {
      this.pending.set(key, this.buildSubset(key, picked));
    }
    return this.all;
  }

  /** Resolves once the subsets being built are ready (for tests and benches). */
  async settled(): Promise<void> {
    await Promise.all(this.pending.values());
  }

  private remember(action: string, enforcer: Enforcer): Enforcer {
    this.byAction.set(action, enforcer);
    return enforcer;
  }

  private async buildSubset(key: string, picked: number[]): Promise<void> {
    try {
      const rules = picked.map((i) => this.rules[i].rule);
      this.subsets.set(key, await loadEnforcer(this.registry, rules, this.links));
    } catch {
      // Casbin accepted these very rules in `all`; should it refuse a subset, `all` keeps
      // answering for it: the same decisions, only slower.
      this.subsets.set(key, this.all);
    } finally {
      this.pending.delete(key);
    }
  }
}

/** A fresh enforcer over model.conf holding `rules` and the grouping `links`. */
export async function loadEnforcer(
  registry: RuleRegistry,
  rules: CasbinRule[],
  links: [string, string][],
): Promise<Enforcer> {
  const enforcer = await newIamEnforcer(registry);
  // Both calls refuse the whole batch if one rule is a duplicate; ours are unique by
  // construction (source id + statement index, deduplicated bindings).
  if (rules.length > 0 && !(await enforcer.addPolicies(rules))) {
    throw new Error('Casbin refused the account rules');
  }
  if (links.length > 0 && !(await enforcer.addGroupingPolicies(links))) {
    throw new Error('Casbin refused the account bindings');
  }
  return enforcer;
}
