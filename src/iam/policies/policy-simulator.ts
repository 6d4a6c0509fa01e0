import { BadInputError, LimitExceededError, NotFoundError } from '../../platform/errors';
import { parseArn, SHARED_ACCOUNT } from '../arn';
import type { Authorizer } from '../authorizer';
import type { IdentityService } from '../identity/identity.service';
import type { Principal } from '../identity/principal';
import type { Decision, MatchedStatement, RequestContext } from '../policy/account-authorizer';
import type { Db } from '../../platform/db/unit-of-work';
import type { IamNames } from '../iam-names';

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
  /** Why the decision was made without consulting policies (a resource of another account). */
  reason?: string;
}

/** simulatePrincipalPolicy: the same evaluation requests get, for a user chosen by ARN. */
export class PolicySimulator {
  constructor(
    private readonly db: Db,
    private readonly identities: IdentityService,
    private readonly authorizer: Authorizer,
    private readonly names: IamNames,
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
        const foreign = foreignAccountOf(accountId, resourceArn);
        if (foreign !== undefined) {
          // A real request is refused at the account boundary before any policy is read.
          results.push({
            actionName,
            resourceArn,
            decision: 'IMPLICIT_DENY',
            matchedStatements: [],
            reason: `The resource is in account ${foreign}; a principal acts only inside its own account (${accountId})`,
          });
          continue;
        }
        const evaluation = await this.authorizer.evaluate(principal, {
          action: actionName,
          // As the permission layer does: decided on the entity's canonical ARN.
          resource: await this.names.canonicalArn(accountId, resourceArn),
          context,
        });
        results.push({ actionName, resourceArn, ...evaluation });
      }
    }
    return results;
  }

  private async principalOf(accountId: string, policySourceArn: string): Promise<Principal> {
    const principal = await this.identities.principalOfArn(
      this.db.manager,
      accountId,
      policySourceArn,
      'simulation',
    );
    if (!principal)
      throw new NotFoundError(`No user or account root ${policySourceArn} in account ${accountId}`);
    return principal;
  }
}

/** The account of an ARN naming another account's resource, else undefined (`*`, own, shared). */
function foreignAccountOf(accountId: string, resourceArn: string): string | undefined {
  const account = parseArn(resourceArn)?.account;
  return account && account !== accountId && account !== SHARED_ACCOUNT ? account : undefined;
}
