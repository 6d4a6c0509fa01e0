import type { Enforcer } from 'casbin';
import { RuleRegistry } from './casbin-model';
import {
  compileDocument,
  compileStatement,
  statementApplies,
  type CompiledStatement,
} from './compiled-statement';
import { LruCache } from './lru-cache';
import type { PolicyDocument } from './policy-document';
import {
  loadEnforcer,
  principalRule,
  PrincipalEnforcer,
  type LayerDecision,
  type PrincipalRule,
} from './principal-enforcer';
import type { RequestContext } from './request-context';

export type { RequestContext } from './request-context';

/**
 * IAM evaluation for one account, with Casbin as the engine (DESIGN §5): every statement is a
 * `p` rule (see policies/model.conf), principals reach policies through `g` links, and the
 * effect is "some allow and no deny". The account enforcer holds every rule and binding; each
 * user or role also gets an enforcer holding only the rules it reaches, since Casbin scans
 * rules linearly (and each request only the rules that can apply to it: PrincipalEnforcer).
 * Built from a snapshot and immutable: when the account's IAM data changes, build a new one
 * and swap it in. A snapshot may also hold just what one principal reaches
 * (`BuildOptions.principal`, src/iam/policies/principal-policies.ts).
 *
 * `evaluate` takes the decision from Casbin (`enforceExSync` tells an explicit Deny from no
 * Allow) and lists matched statements with a second pass over the principal's compiled
 * statements; session policies are evaluated by that pass too (they arrive per request, and
 * Casbin enforcers are built asynchronously).
 */

/** One policy as it applies in the account: a managed or customer policy, or an inline one. */
export interface PolicySource {
  /** Unique within the account: a policy ARN, or e.g. `inline:user/<userId>/<policyName>`. */
  id: string;
  arn: string;
  name: string;
  document: PolicyDocument;
}

/**
 * `member` holds `of`: `{member:'user:AIDA1', of:'group:AGPA9'}`, `{member:'user:AIDA1',
 * of:'<policy source id>'}`, `{member:'group:AGPA9', of:'<policy source id>'}`.
 */
export interface Binding {
  member: string;
  of: string;
}

export interface AccountSnapshot {
  accountId: string;
  policies: PolicySource[];
  bindings: Binding[];
  /**
   * Permissions boundaries: `{member: 'user:AIDA1', of: '<policy source id>'}`. A principal
   * with a boundary may do only what the boundary allows too; a boundary naming a source
   * that is not in `policies` allows nothing.
   */
  boundaries?: Binding[];
  /**
   * The account's guardrails (service control policies) as policy source ids, or undefined for
   * an account without any (uncapped). With guardrails, every principal of the account, its
   * root included, may do only what some guardrail allows and none denies.
   */
  guardrails?: string[];
}

export type Decision = 'ALLOWED' | 'EXPLICIT_DENY' | 'IMPLICIT_DENY';

/**
 * The layers of IAM's evaluation logic, in the order a request passes them: explicit deny
 * anywhere first, then the account's guardrails, the principal's permissions boundary, the
 * session policy, and the identity policies.
 */
export type EvaluationLayer = 'guardrails' | 'boundary' | 'session' | 'identity';
export const EVALUATION_LAYERS: readonly EvaluationLayer[] = [
  'guardrails',
  'boundary',
  'session',
  'identity',
];

export interface BuildOptions {
  /**
   * The snapshot holds only what this principal key reaches (its policies, groups and layers),
   * and only that key — or keys reaching no policy — will be asked about: the whole-account
   * enforcer, which only other keys (a group's) need, is not built. Asking such a key throws.
   */
  principal?: string;
}

export interface EvaluationOptions {
  /** The session's policy (assumed-role sessions): narrows, never widens. */
  sessionPolicy?: PolicyDocument;
  /** The account root: its identity layer allows everything; guardrails still cap it. */
  root?: boolean;
}

export interface MatchedStatement {
  sourcePolicyId: string;
  sourcePolicyArn: string;
  sourcePolicyName: string;
  statementIndex: number;
  sid?: string;
  effect: 'Allow' | 'Deny';
  /** Which layer the statement's policy belongs to (set in evaluations). */
  layer?: EvaluationLayer;
}

export interface Evaluation {
  decision: Decision;
  /** The Deny statements that matched for EXPLICIT_DENY, the Allow statements for ALLOWED, else none. */
  matchedStatements: MatchedStatement[];
  /** For a denial: the first layer (in evaluation order) that denied. */
  deniedBy?: EvaluationLayer;
}

/** The member key the account's guardrails are bound to. */
const GUARDRAILS_KEY = 'guardrails:';
const boundaryKey = (principalKey: string): string => `boundary:${principalKey}`;

/** How a session policy shows up in `matchedStatements`. */
export const SESSION_POLICY_SOURCE = { id: 'session', arn: '', name: 'SessionPolicy' } as const;

// Casbin's default role manager follows at most 10 levels; the explanation pass does the same.
const MAX_MEMBERSHIP_DEPTH = 10;
const PRINCIPAL_CACHE_SIZE = 1_000;

// Holds no rule and no link: it answers "no" to everything, for any registry, so all share one.
let sharedEmpty: Promise<Enforcer> | undefined;
function sharedEmptyEnforcer(): Promise<Enforcer> {
  if (!sharedEmpty) {
    const building = loadEnforcer(new RuleRegistry(), [], []);
    // A failed build is not kept: the next build tries again (and reports its own failure).
    building.catch(() => {
      if (sharedEmpty === building) sharedEmpty = undefined;
    });
    sharedEmpty = building;
  }
  return sharedEmpty;
}

interface CompiledSource {
  source: PolicySource;
  statements: CompiledStatement[];
}

interface StatementMatches {
  allows: MatchedStatement[];
  denies: MatchedStatement[];
}

interface LayerResult extends StatementMatches {
  allowed: boolean;
}

// Session policies arrive per request; each document object is compiled once (documents are
// treated as immutable once parsed, like the snapshot's).
const sessionCache = new WeakMap<PolicyDocument, CompiledStatement[]>();

export class AccountAuthorizer {
  /** Reachable policies of keys that are not principals of the snapshot (groups, strangers). */
  private readonly otherSources = new LruCache<string, CompiledSource[]>(PRINCIPAL_CACHE_SIZE);

  private constructor(
    readonly accountId: string,
    /**
     * Every rule and every binding of the account: the reference, and the fallback for keys
     * that are not principals. Not built for a one-principal snapshot (BuildOptions.principal).
     */
    private readonly accountEnforcer: Enforcer | undefined,
    /** Per principal: enforcers holding only the rules of the policies it reaches. */
    private readonly principalEnforcers: ReadonlyMap<string, PrincipalEnforcer>,
    /** Rules nobody reaches: the answer for a key with no bindings (a user with no policies). */
    private readonly emptyEnforcer: Enforcer,
    private readonly principalSources: ReadonlyMap<string, CompiledSource[]>,
    private readonly sources: ReadonlyMap<string, CompiledSource>,
    private readonly memberships: ReadonlyMap<string, readonly string[]>,
    /** Principal keys that have a permissions boundary. */
    private readonly bounded: ReadonlySet<string>,
    private readonly hasGuardrails: boolean,
  ) {}

  static async build(snapshot: AccountSnapshot, options: BuildOptions = {}): Promise<AccountAuthorizer> {
    const registry = new RuleRegistry();
    const sources = new Map<string, CompiledSource>();
    const rulesBySource = new Map<string, PrincipalRule[]>();
    for (const source of snapshot.policies) {
      if (sources.has(source.id)) throw new Error(`Duplicate policy source id ${source.id}`);
      const { document } = source;
      const statements = document.statements.map((statement, index) =>
        compileStatement(statement, index, document.version),
      );
      sources.set(source.id, { source, statements });
      rulesBySource.set(
        source.id,
        document.statements.map((statement, index) =>
          principalRule(
            registry.encode(source.id, statement, document.version, statements[index]),
            statements[index],
          ),
        ),
      );
    }

    const memberships = new Map<string, string[]>();
    const links: [string, string][] = [];
    const targets = new Set<string>();
    // Boundaries and guardrails are layers of their own: each is reached through a key no
    // principal can have (`boundary:<principal key>`, `guardrails:`), so the same Casbin rules
    // and matchers decide them, but never as part of a principal's identity policies.
    const bounded = new Set<string>();
    const layerBindings: Binding[] = [];
    for (const { member, of } of snapshot.boundaries ?? []) {
      bounded.add(member);
      layerBindings.push({ member: boundaryKey(member), of });
    }
    for (const of of snapshot.guardrails ?? []) layerBindings.push({ member: GUARDRAILS_KEY, of });
    for (const { member, of } of [...snapshot.bindings, ...layerBindings]) {
      const list = memberships.get(member) ?? [];
      if (list.includes(of)) continue;
      list.push(of);
      memberships.set(member, list);
      links.push([member, of]);
      targets.add(of);
    }

    const accountEnforcer =
      options.principal === undefined
        ? await loadEnforcer(
            registry,
            [...rulesBySource.values()].flat().map((r) => r.rule),
            links,
          )
        : undefined;
    const empty = await sharedEmptyEnforcer();

    // Casbin's cost is linear in the rules it scans, so each principal (a member that nothing
    // is a member of: a user or a role) gets an enforcer with only the rules it can reach,
    // shared by principals that reach the same policies (typically, the members of a group).
    const principalSources = new Map<string, CompiledSource[]>();
    const principalsBySet = new Map<string, string[]>();
    for (const member of memberships.keys()) {
      if (targets.has(member)) continue;
      const reached = reachableSources(member, memberships, sources);
      principalSources.set(member, reached);
      const key = reached.map(({ source }) => source.id).join('\n');
      const sharing = principalsBySet.get(key);
      if (sharing) sharing.push(member);
      else principalsBySet.set(key, [member]);
    }
    const principalEnforcers = new Map<string, PrincipalEnforcer>();
    for (const principals of principalsBySet.values()) {
      const reached = principalSources.get(principals[0]) ?? [];
      const rules = reached.flatMap(({ source }) => rulesBySource.get(source.id) ?? []);
      // Links go straight to the policies: reachability was resolved just above, with the
      // same depth limit as Casbin's role manager (the account enforcer keeps the real graph).
      const direct = principals.flatMap((principal) =>
        reached.map(({ source }): [string, string] => [principal, source.id]),
      );
      const enforcer = await PrincipalEnforcer.create(registry, rules, direct);
      for (const principal of principals) principalEnforcers.set(principal, enforcer);
    }

    return new AccountAuthorizer(
      snapshot.accountId,
      accountEnforcer,
      principalEnforcers,
      empty,
      principalSources,
      sources,
      memberships,
      bounded,
      snapshot.guardrails !== undefined,
    );
  }

  /**
   * Decides whether `principalKey` (e.g. `user:AIDA123`, `role:AROA1`) may perform `action` on
   * `resourceArn`, and explains the decision, passing the layers as IAM does: an explicit Deny
   * in any layer wins; otherwise every layer present must allow — the guardrails, the
   * boundary, the session policy and the identity policies — and the first that does not is
   * the one that denied.
   */
  evaluate(
    principalKey: string,
    action: string,
    resourceArn: string,
    context: RequestContext,
    options: EvaluationOptions = {},
  ): Evaluation {
    const folded = action.toLowerCase();
    const layers: [EvaluationLayer, LayerResult][] = [];
    if (this.hasGuardrails)
      layers.push(['guardrails', this.layerOf(GUARDRAILS_KEY, folded, resourceArn, context)]);
    if (!options.root && this.bounded.has(principalKey))
      layers.push(['boundary', this.layerOf(boundaryKey(principalKey), folded, resourceArn, context)]);
    if (options.sessionPolicy) {
      const matches = matchStatements([sessionSource(options.sessionPolicy)], folded, resourceArn, context);
      layers.push([
        'session',
        { ...matches, allowed: matches.denies.length === 0 && matches.allows.length > 0 },
      ]);
    }
    layers.push([
      'identity',
      options.root
        ? { allowed: true, allows: [], denies: [] }
        : this.layerOf(principalKey, folded, resourceArn, context),
    ]);

    // Explanations list the identity policies' statements first, then the layers that cap them.
    const explained = [...layers].reverse();
    const denying = layers.find(([, layer]) => layer.denies.length > 0);
    if (denying) {
      return {
        decision: 'EXPLICIT_DENY',
        matchedStatements: explained.flatMap(([name, layer]) =>
          layer.denies.map((m) => ({ ...m, layer: name })),
        ),
        deniedBy: denying[0],
      };
    }
    const refusing = layers.find(([, layer]) => !layer.allowed);
    if (refusing) return { decision: 'IMPLICIT_DENY', matchedStatements: [], deniedBy: refusing[0] };
    return {
      decision: 'ALLOWED',
      matchedStatements: explained.flatMap(([name, layer]) =>
        layer.allows.map((m) => ({ ...m, layer: name })),
      ),
    };
  }

  /** The hot-path form of `evaluate`: same decision, no explanation. */
  isAllowed(
    principalKey: string,
    action: string,
    resourceArn: string,
    context: RequestContext,
    options: EvaluationOptions = {},
  ): boolean {
    const folded = action.toLowerCase();
    if (!options.root && !this.decide(principalKey, folded, resourceArn, context).allowed) return false;
    if (this.hasGuardrails && !this.decide(GUARDRAILS_KEY, folded, resourceArn, context).allowed)
      return false;
    if (!options.root && this.bounded.has(principalKey)) {
      const key = boundaryKey(principalKey);
      if (!this.decide(key, folded, resourceArn, context).allowed) return false;
    }
    if (!options.sessionPolicy) return true;
    let sessionAllows = false;
    for (const statement of sessionStatements(options.sessionPolicy)) {
      if (!statementApplies(statement, folded, resourceArn, context)) continue;
      if (statement.effect === 'Deny') return false;
      sessionAllows = true;
    }
    return sessionAllows;
  }

  /** One layer decided by Casbin (`enforceExSync` tells an explicit Deny from no Allow), explained. */
  private layerOf(key: string, action: string, resourceArn: string, context: RequestContext): LayerResult {
    const { allowed, explicitDeny } = this.decide(key, action, resourceArn, context);
    const matches = matchStatements(this.sourcesOf(key), action, resourceArn, context);
    if (explicitDeny && matches.denies.length === 0) {
      // The two passes use the same matchers; a disagreement is a bug, never a reason to allow.
      throw new Error(`Casbin reported a Deny for ${key} that the explanation pass did not find`);
    }
    return { allowed, allows: allowed ? matches.allows : [], denies: explicitDeny ? matches.denies : [] };
  }

  /** Resolves once the rule subsets being built are ready (for tests and benches). */
  async settled(): Promise<void> {
    await Promise.all([...new Set(this.principalEnforcers.values())].map((e) => e.settled()));
  }

  /** Casbin's decision for one layer's key; `action` lower-cased. */
  private decide(key: string, action: string, resourceArn: string, context: RequestContext): LayerDecision {
    const own = this.principalEnforcers.get(key);
    if (own) return own.decide(key, action, resourceArn, context);
    let enforcer = this.emptyEnforcer;
    if (this.sourcesOf(key).length > 0) {
      if (!this.accountEnforcer) {
        throw new Error(`This authorizer was built for one principal; ${key} is not it`);
      }
      enforcer = this.accountEnforcer;
    }
    const [allowed, rule] = enforcer.enforceExSync(key, action, resourceArn, context);
    // With this effect, Casbin reports the deciding rule: a Deny when one matched.
    return { allowed, explicitDeny: !allowed && rule.length > 0 };
  }

  /** The policies `principalKey` reaches through its bindings (directly or via groups). */
  private sourcesOf(principalKey: string): CompiledSource[] {
    return (
      this.principalSources.get(principalKey) ??
      this.otherSources.getOrCompute(principalKey, () =>
        reachableSources(principalKey, this.memberships, this.sources),
      )
    );
  }
}

/** Breadth-first over bindings, as deep as Casbin's role manager looks (the key itself included). */
function reachableSources(
  key: string,
  memberships: ReadonlyMap<string, readonly string[]>,
  sources: ReadonlyMap<string, CompiledSource>,
): CompiledSource[] {
  const found: CompiledSource[] = [];
  const seen = new Set<string>([key]);
  let frontier = [key];
  for (let depth = 0; depth <= MAX_MEMBERSHIP_DEPTH && frontier.length > 0; depth++) {
    const next: string[] = [];
    for (const name of frontier) {
      const source = sources.get(name);
      if (source) found.push(source);
      if (depth === MAX_MEMBERSHIP_DEPTH) continue;
      for (const of of memberships.get(name) ?? []) {
        if (seen.has(of)) continue;
        seen.add(of);
        next.push(of);
      }
    }
    frontier = next;
  }
  return found;
}

function sessionSource(document: PolicyDocument): CompiledSource {
  return { source: { ...SESSION_POLICY_SOURCE, document }, statements: sessionStatements(document) };
}

function sessionStatements(document: PolicyDocument): CompiledStatement[] {
  let statements = sessionCache.get(document);
  if (!statements) {
    statements = compileDocument(document);
    sessionCache.set(document, statements);
  }
  return statements;
}

/** `action` lower-cased. The explanation pass, using the same matchers as the Casbin rules. */
function matchStatements(
  sources: readonly CompiledSource[],
  action: string,
  resource: string,
  context: RequestContext,
): StatementMatches {
  const matches: StatementMatches = { allows: [], denies: [] };
  for (const { source, statements } of sources) {
    for (const statement of statements) {
      if (!statementApplies(statement, action, resource, context)) continue;
      const matched: MatchedStatement = {
        sourcePolicyId: source.id,
        sourcePolicyArn: source.arn,
        sourcePolicyName: source.name,
        statementIndex: statement.index,
        ...(statement.sid !== undefined ? { sid: statement.sid } : {}),
        effect: statement.effect,
      };
      (statement.effect === 'Deny' ? matches.denies : matches.allows).push(matched);
    }
  }
  return matches;
}
