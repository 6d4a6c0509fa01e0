import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Principal } from '../identity/principal';
import type { Evaluation, MatchedStatement } from '../policy/account-authorizer';

/** What an administrator sees of one denial: the same explanation the simulator gives. */
export interface DecisionExplanation {
  decisionId: string;
  time: string;
  principalArn: string;
  action: string;
  resource: string;
  decision: Evaluation['decision'];
  deniedBy?: string;
  matchedStatements: MatchedStatement[];
  /** Why no policy was consulted (a resource of another account). */
  reason?: string;
}

const RETENTION_DAYS = 7;
/** Old explanations are swept once every this many denials, by the instance recording them. */
const SWEEP_EVERY = 500;

/**
 * The one writer of `authorization_decisions`. Written on the pool, outside any unit of work: a
 * denial inside a mutation rolls the mutation back, and its explanation must survive that.
 */
export class DecisionLog {
  private recorded = 0;

  constructor(private readonly dataSource: DataSource) {}

  async record(
    principal: Principal,
    action: string,
    resource: string,
    outcome: Pick<Evaluation, 'decision' | 'deniedBy' | 'matchedStatements'> & { reason?: string },
  ): Promise<string> {
    const decisionId = randomUUID();
    const explanation: DecisionExplanation = {
      decisionId,
      time: new Date().toISOString(),
      principalArn: principal.arn,
      action,
      resource,
      decision: outcome.decision,
      ...(outcome.deniedBy ? { deniedBy: outcome.deniedBy } : {}),
      matchedStatements: outcome.matchedStatements,
      ...(outcome.reason ? { reason: outcome.reason } : {}),
    };
    await this.dataSource.query(
      `INSERT INTO authorization_decisions (account_id, id, principal_arn, action, resource, explanation)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [principal.accountId, decisionId, principal.arn, action, resource, JSON.stringify(explanation)],
    );
    if (++this.recorded % SWEEP_EVERY === 0) await this.sweep();
    return decisionId;
  }

  /** The explanation of a denial in `accountId`; undefined for another account's or an unknown id. */
  async find(accountId: string, decisionId: string): Promise<DecisionExplanation | undefined> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(decisionId)) return undefined;
    const rows: { explanation: DecisionExplanation }[] = await this.dataSource.query(
      'SELECT explanation FROM authorization_decisions WHERE account_id = $1 AND id = $2',
      [accountId, decisionId],
    );
    return rows[0]?.explanation;
  }

  async sweep(): Promise<void> {
    await this.dataSource.query(
      `DELETE FROM authorization_decisions WHERE created_at < now() - make_interval(days => $1)`,
      [RETENTION_DAYS],
    );
  }
}
