import { BadInputError, LimitExceededError, NotFoundError } from '../../platform/errors';
import { arn, parseArn } from '../arn';
import type { Authorizer } from '../authorizer';
import type { IdentityService } from '../identity/identity.service';
import type { Principal } from '../identity/principal';
import type { Decision, MatchedStatement, RequestContext } from '../policy/account-authorizer';
import type { Db } from '../../platform/db/unit-of-work';

const MAX_PAIRS = 1000;

export interface SimulationRequest {
  policySourceArn: string;
  actionNames: string[];
  resourceArns: string[];
  context: { key: string; values: string[] }[];
}

export interface SimulationResult {
  actionName: string;
  resourceArn: string;
  decision: Decision;
  matchedStatements: MatchedStatement[];
}

/** simulatePrincipalPolicy: the same evaluation requests get, for a user chosen by ARN. */
export class PolicySimulator {
  constructor(
    private readonly db: Db,
    private readonly identities: IdentityService,
    private readonly authorizer: Authorizer,
  ) {}

  async simulate(accountId: string, request: SimulationRequest): Promise<SimulationResult[]> {
    const principal = await this.principalOf(accountId, request.policySourceArn);
    if (!request.actionNames.length) {
      throw BadInputError.of('Simulation', [
        { path: 'actionNames', message: 'must name at least one action' },
      ]);
    }
    const resources = request.resourceArns.length ? request.resourceArns : ['*'];
    if (request.actionNames.length * resources.length > MAX_PAIRS) {
      throw new LimitExceededError(
        'simulationPairs',
        `A simulation evaluates at most ${MAX_PAIRS} action × resource pairs`,
      );
    }
    const context: RequestContext = { 'aws:principalarn': principal.arn, 'aws:principalaccount': accountId };
    if (principal.userName) context['aws:username'] = principal.userName;
    if (principal.userId) context['aws:userid'] = principal.userId;
    for (const entry of request.context) {
      context[entry.key.toLowerCase()] = entry.values.length === 1 ? entry.values[0] : entry.values;
    }
    const results: SimulationResult[] = [];
    for (const actionName of request.actionNames) {
      for (const resourceArn of resources) {
        const evaluation = await this.authorizer.evaluate(principal, {
          action: actionName,
          resource: resourceArn,
          context,
        });
        results.push({ actionName, resourceArn, ...evaluation });
      }
    }
    return results;
  }

  private async principalOf(accountId: string, policySourceArn: string): Promise<Principal> {
    const parsed = parseArn(policySourceArn);
    const notFound = new NotFoundError(`No user or account root ${policySourceArn} in account ${accountId}`);
    if (!parsed || parsed.service !== 'iam' || parsed.account !== accountId) throw notFound;
    if (parsed.resource === 'root') {
      return { type: 'ROOT', arn: arn.root(accountId), accountId, sessionId: 'simulation' };
    }
    if (!parsed.resource.startsWith('user/')) throw notFound;
    const user = await this.identities.findUser(this.db.manager, accountId, parsed.resource.slice(5));
    if (!user) throw notFound;
    return {
      type: 'USER',
      arn: arn.user(accountId, user.name),
      accountId,
      userId: user.id,
      userName: user.name,
      sessionId: 'simulation',
    };
  }
}
