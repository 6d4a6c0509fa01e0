import { AccessDeniedError } from './access-denied-error';
import type { IamChanges } from './iam-changes';
import { principalKey, type Principal } from './identity/principal';
import type { PolicyService } from './policies/policy.service';
import {
  AccountAuthorizer,
  type Evaluation,
  type EvaluationOptions,
  type RequestContext,
} from './policy/account-authorizer';

export { AccessDeniedError } from './access-denied-error';

export interface AuthorizationRequest {
  action: string;
  resource: string;
  context: RequestContext;
}

/**
 * The account root may do anything inside its own account (DESIGN §5), within the account's
 * guardrails; a role session has its role's permissions within its session policy.
 */
function optionsOf(principal: Principal): EvaluationOptions {
  return { root: principal.type === 'ROOT', sessionPolicy: principal.role?.sessionPolicy };
}

interface CompiledAccount {
  authorizer: AccountAuthorizer;
  /** Lower-cased condition keys that any of the account's statements use. */
  conditionKeys: Set<string>;
}

/**
 * Decides IAM requests. One Casbin-backed AccountAuthorizer per account, built from the
 * account's policies on first use and dropped whenever IamChanges reports a write there
 * (on this instance at once, on others through NOTIFY).
 */
export class Authorizer {
  private readonly accounts = new Map<string, Promise<CompiledAccount>>();
  /** Bumped on every invalidation so a build that raced a change is not cached. */
  private generation = 0;
  /** Benchmarks only (bench/api.ts): allow everything, to measure what evaluation costs. */
  private benchmarkBypass = false;

  constructor(
    private readonly policies: PolicyService,
    changes: IamChanges,
  ) {
    changes.onChange((accountId) => {
      this.generation++;
      if (accountId === undefined) this.accounts.clear();
      else this.accounts.delete(accountId);
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
    const { authorizer } = await this.forAccount(principal.accountId);
    return authorizer.evaluate(
      principalKey(principal),
      request.action,
      request.resource,
      request.context,
      optionsOf(principal),
    );
  }

  async isAllowed(principal: Principal, request: AuthorizationRequest): Promise<boolean> {
    if (this.benchmarkBypass) return true;
    const { authorizer } = await this.forAccount(principal.accountId);
    return authorizer.isAllowed(
      principalKey(principal),
      request.action,
      request.resource,
      request.context,
      optionsOf(principal),
    );
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

  /** Condition keys used anywhere in the account's policies, to load costly context lazily. */
  async usesConditionKeyPrefix(accountId: string, prefix: string): Promise<boolean> {
    for (const key of (await this.forAccount(accountId)).conditionKeys)
      if (key.startsWith(prefix)) return true;
    return false;
  }

  private async forAccount(accountId: string): Promise<CompiledAccount> {
    const cached = this.accounts.get(accountId);
    if (cached) return cached;
    const generation = this.generation;
    const building = this.policies.snapshot(accountId).then(async (snapshot) => ({
      authorizer: await AccountAuthorizer.build(snapshot),
      conditionKeys: new Set(
        snapshot.policies.flatMap((p) =>
          p.document.statements.flatMap((s) => s.conditions.map((c) => c.key.toLowerCase())),
        ),
      ),
    }));
    this.accounts.set(accountId, building);
    building.then(
      () => {
        if (generation !== this.generation && this.accounts.get(accountId) === building)
          this.accounts.delete(accountId);
      },
      () => this.accounts.delete(accountId),
    );
    return building;
  }
}
