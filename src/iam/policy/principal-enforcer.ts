import type { Enforcer } from 'casbin';
import { newIamEnforcer, type CasbinRule, type RuleRegistry } from './casbin-model';
import {
  actionMatches,
  resourceMatches,
  type CompiledStatement,
  type ResourceMatcher,
  type ActionMatcher,
} from './compiled-statement';
import type { RequestContext } from './request-context';

/**
 * A set of a principal's rules: a bit mask of their indexes when there are at most MASK_BITS
 * rules (no allocation per request), else the indexes as `i,j,`.
 */
type RuleSetKey = number | string;
const MASK_BITS = 30;

/**
 * A map holding at most `capacity` entries, the oldest inserted leaving first. Hits do not
 * reorder (unlike LruCache): these caches are small and hot, and a hit must cost one lookup.
 */
class BoundedMap<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(private readonly capacity: number) {}

  get(key: K): V | undefined {
    return this.entries.get(key);
  }

  set(key: K, value: V): void {
    if (this.entries.size >= this.capacity && !this.entries.has(key)) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, value);
  }
}

/** A `p` rule and the matchers of the statement it encodes. */
export interface PrincipalRule {
  rule: CasbinRule;
  actions: ActionMatcher;
  resources: ResourceMatcher;
  conditional: boolean;
}

export function principalRule(rule: CasbinRule, statement: CompiledStatement): PrincipalRule {
  return {
    rule,
    actions: statement.actions,
    resources: statement.resources,
    conditional: statement.condition !== undefined,
  };
}

/** One layer's answer from Casbin: allowed, or not — and then whether a Deny matched. */
export interface LayerDecision {
  allowed: boolean;
  explicitDeny: boolean;
}

/** Actions remembered per principal: the server checks a few dozen distinct ones. */
const ACTIONS_PER_PRINCIPAL = 256;
/** Answers remembered per principal, by the set of unconditional rules that applied. */
const ANSWERS_PER_PRINCIPAL = 256;
/** Rule-subset enforcers per principal: each is ~9 KB, so memory stays bounded. */
const SUBSETS_PER_PRINCIPAL = 16;

/**
 * Casbin decides for the principals that reach one set of policies — without scanning every
 * rule on every request. Casbin evaluates its matcher once per rule (a few µs each, on top of
 * ~3 µs a call), and a principal may reach hundreds of rules; but the matcher is a conjunction
 * (`g(...) && iamActionMatch(...) && iamResourceMatch(...) && iamCondition(...)`), so a rule
 * whose action or resource does not match the request cannot match, and leaving it out
 * changes nothing. Per request the rules that apply are picked with the very functions the
 * matcher calls (`actionMatches`, `resourceMatches`), like an index before a scan:
 *
 * - when none of the picked rules has a condition, every one of them matches, so Casbin's
 *   answer depends on that set alone: it is asked once per set and its answer remembered;
 * - otherwise Casbin decides the request with an enforcer holding just the picked rules, or
 *   until that is ready (Casbin builds enforcers asynchronously, so subsets are built on first
 *   sight) the enforcer holding all of them. Both give the same answer.
 */
export class PrincipalEnforcer {
  /** Folded action → indexes of the rules whose Action/NotAction matches it. */
  private readonly byAction = new BoundedMap<string, number[]>(ACTIONS_PER_PRINCIPAL);
  /** The rules that applied (all unconditional) → Casbin's answer. */
  private readonly answers = new BoundedMap<RuleSetKey, LayerDecision>(ANSWERS_PER_PRINCIPAL);
  private readonly subsets = new Subsets();

  private constructor(
    private readonly registry: RuleRegistry,
    private readonly rules: readonly PrincipalRule[],
    private readonly links: [string, string][],
    /** Every rule the principals reach. */
    private readonly all: Enforcer,
  ) {}

  static async create(
    registry: RuleRegistry,
    rules: readonly PrincipalRule[],
    links: [string, string][],
  ): Promise<PrincipalEnforcer> {
    const all = await loadEnforcer(
      registry,
      rules.map((r) => r.rule),
      links,
    );
    return new PrincipalEnforcer(registry, rules, links, all);
  }

  /** Casbin's decision for `key` (one of the principals), `action` lower-cased. */
  decide(key: string, action: string, resource: string, context: RequestContext): LayerDecision {
    // The hot path: a bit mask, unless the principals reach too many rules for one.
    const small = this.rules.length <= MASK_BITS;
    let mask = 0;
    let list = '';
    let conditional = false;
    for (const i of this.rulesFor(action)) {
      const rule = this.rules[i];
      if (!resourceMatches(rule.resources, resource, context)) continue;
      if (small) mask |= 1 << i;
      else list += `${i},`;
      conditional ||= rule.conditional;
    }
    const applying: RuleSetKey = small ? mask : list;
    if (!conditional) {
      const known = this.answers.get(applying);
      if (known) return known;
    }
    const enforcer =
      (conditional ? this.subsets.get(applying, () => this.subset(applying)) : undefined) ?? this.all;
    const [allowed, matched] = enforcer.enforceExSync(key, action, resource, context);
    // With this effect Casbin reports the deciding rule: a Deny when one matched.
    const decision = { allowed, explicitDeny: !allowed && matched.length > 0 };
    if (!conditional) this.answers.set(applying, decision);
    return decision;
  }

  /** Resolves once the subsets being built are ready (for tests and benches). */
  async settled(): Promise<void> {
    await this.subsets.settled();
  }

  private rulesFor(action: string): number[] {
    let picked = this.byAction.get(action);
    if (!picked) {
      picked = [];
      for (let i = 0; i < this.rules.length; i++) {
        if (actionMatches(this.rules[i].actions, action)) picked.push(i);
      }
      this.byAction.set(action, picked);
    }
    return picked;
  }

  /** An enforcer holding the rules `key` names. */
  private subset(key: RuleSetKey): Promise<Enforcer> {
    const picked =
      typeof key === 'number'
        ? this.rules.map((_, i) => i).filter((i) => (key & (1 << i)) !== 0)
        : key.split(',').filter(Boolean).map(Number);
    return loadEnforcer(
      this.registry,
      picked.map((i) => this.rules[i].rule),
      this.links,
    );
  }
}

/** Enforcers of rule subsets, built in the background on first use, at most SUBSETS_PER_PRINCIPAL. */
class Subsets {
  private readonly ready = new Map<RuleSetKey, Enforcer>();
  private readonly pending = new Map<RuleSetKey, Promise<void>>();

  /** The enforcer for `key` if built; else undefined, and it is built (within the bound). */
  get(key: RuleSetKey, build: () => Promise<Enforcer>): Enforcer | undefined {
    const enforcer = this.ready.get(key);
    if (enforcer || this.pending.has(key)) return enforcer;
    if (this.ready.size + this.pending.size >= SUBSETS_PER_PRINCIPAL) return undefined;
    this.pending.set(
      key,
      build().then(
        (built) => {
          this.ready.set(key, built);
          this.pending.delete(key);
        },
        // Casbin accepted these very rules in the enforcer holding them all; should it refuse
        // a subset, the broader enforcer keeps answering for it: the same answers, slower.
        () => undefined,
      ),
    );
    return undefined;
  }

  async settled(): Promise<void> {
    await Promise.all(this.pending.values());
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
