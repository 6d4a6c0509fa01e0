import { BadInputError, LimitExceededError, NotFoundError } from '../../platform/errors';
import { arn, parseArn, SHARED_ACCOUNT } from '../arn';
import type { Authorizer } from '../authorizer';
import type { IdentityService } from '../identity/identity.service';
import type { Principal } from '../identity/principal';
import { principalContext } from '../identity/principal-context';
import {
  AccountAuthorizer,
  type Decision,
  type EvaluationLayer,
  type MatchedStatement,
  type PolicySource,
  type RequestContext,
} from '../policy/account-authorizer';
import { parsePolicyDocument } from '../policy/policy-document';
import type { RoleService } from '../roles/role.service';
import type { Db } from '../../platform/db/unit-of-work';
import type { IamNames } from '../iam-names';

const MAX_PAIRS = 1000;
const MAX_CUSTOM_POLICIES = 20;

export interface SimulationRequest {
  policySourceArn: string;
  actionNames: string[];
  resourceArns: string[];
  context: { key: string; values: string[] }[];
}

export interface CustomSimulationRequest {
  /** Identity policies, as documents (JSON objects or text). */
  policyInputList: unknown[];
  /** A permissions boundary to cap them with, as IAM's SimulateCustomPolicy takes it. */
  permissionsBoundaryPolicyInputList: unknown[];
  actionNames: string[];
  resourceArns: string[];
  context: { key: string; values: string[] }[];
}

export interface SimulationResult {
  actionName: string;
  resourceArn: string;
  decision: Decision;
  matchedStatements: MatchedStatement[];
  deniedBy?: EvaluationLayer;
  /** Why the decision was made without consulting policies (a resource of another account). */
  reason?: string;
}

/**
 * simulatePrincipalPolicy and simulateCustomPolicy: the same evaluation requests get — guardrails,
 * permissions boundary and identity policies — explained per action × resource with the
 * statements that decided and the layer that denied.
 */
export class PolicySimulator {
  constructor(
    private readonly db: Db,
    private readonly identities: IdentityService,
    private readonly roles: RoleService,
    private readonly authorizer: Authorizer,
    private readonly names: IamNames,
    private readonly region: string,
  ) {}

  /** For a user, the account root, a role or a role session (without its session policy) of `accountId`. */
  async simulate(accountId: string, request: SimulationRequest): Promise<SimulationResult[]> {
    const principal = await this.principalOf(accountId, request.policySourceArn);
    const resources = pairs(request.actionNames, request.resourceArns);
    const context = contextOf(principal, this.region, request.context);
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

  /** Policies given inline, evaluated alone (no guardrails, as IAM's SimulateCustomPolicy). */
  async simulateCustom(request: CustomSimulationRequest): Promise<SimulationResult[]> {
    const resources = pairs(request.actionNames, request.resourceArns);
    if (!request.policyInputList.length) {
      throw BadInputError.of('Simulation', [
        { path: 'policyInputList', message: 'must hold at least one policy' },
      ]);
    }
    if (
      request.policyInputList.length > MAX_CUSTOM_POLICIES ||
      request.permissionsBoundaryPolicyInputList.length > 1
    ) {
      throw BadInputError.of('Simulation', [
        {
          path: 'policyInputList',
          message: `takes at most ${MAX_CUSTOM_POLICIES} policies, and permissionsBoundaryPolicyInputList at most one`,
        },
      ]);
    }
    const sources = (list: unknown[], field: string, prefix: string): PolicySource[] =>
      list.map((input, index) => {
        const id = `${prefix}${index + 1}`;
        return { id, arn: '', name: `${field}[${index}]`, document: parseAt(input, `${field}[${index}]`) };
      });
    const identity = sources(request.policyInputList, 'policyInputList', 'policy-input-');
    const boundary = sources(
      request.permissionsBoundaryPolicyInputList,
      'permissionsBoundaryPolicyInputList',
      'boundary-input-',
    );
    const key = 'simulated:principal';
    const authorizer = await AccountAuthorizer.build({
      accountId: SHARED_ACCOUNT,
      policies: [...identity, ...boundary],
      bindings: identity.map((s) => ({ member: key, of: s.id })),
      boundaries: boundary.map((s) => ({ member: key, of: s.id })),
    });
    const context: RequestContext = {};
    for (const entry of request.context) {
      context[entry.key.toLowerCase()] = entry.values.length === 1 ? entry.values[0] : entry.values;
    }
    return request.actionNames.flatMap((actionName) =>
      resources.map((resourceArn) => ({
        actionName,
        resourceArn,
        ...authorizer.evaluate(key, actionName, resourceArn, context),
      })),
    );
  }

  private async principalOf(accountId: string, policySourceArn: string): Promise<Principal> {
    const sessionId = 'simulation';
    const known = await this.identities.principalOfArn(
      this.db.manager,
      accountId,
      policySourceArn,
      sessionId,
    );
    if (known) return known;
    // A role (arn:…:iam::<acct>:role/<name>) or one of its sessions (arn:…:sts::<acct>:assumed-role/<name>/<session>).
    const parsed = parseArn(policySourceArn);
    const roleName =
      parsed?.account === accountId && parsed.service === 'iam' && parsed.resource.startsWith('role/')
        ? parsed.resource.slice(5)
        : parsed?.account === accountId &&
            parsed.service === 'sts' &&
            parsed.resource.startsWith('assumed-role/')
          ? parsed.resource.split('/')[1]
          : undefined;
    const role = roleName ? await this.roles.findRole(this.db.manager, accountId, roleName) : null;
    if (!role || !parsed) {
      throw new NotFoundError(
        `No user, role, role session or account root ${policySourceArn} in account ${accountId}`,
      );
    }
    const roleArn = arn.role(accountId, role.name);
    const sessionName =
      parsed.service === 'sts' ? (parsed.resource.split('/')[2] ?? 'simulation') : 'simulation';
    return {
      type: 'ASSUMED_ROLE',
      arn:
        parsed.service === 'sts'
          ? `arn:sluice:sts::${accountId}:assumed-role/${role.name}/${sessionName}`
          : roleArn,
      accountId,
      role: {
        roleId: role.id,
        roleName: role.name,
        roleArn,
        sessionName,
        sourceIdentity: roleArn,
        issuedBy: roleArn,
        createdAt: new Date().toISOString(),
      },
      sessionId,
    };
  }
}

function pairs(actionNames: string[], resourceArns: string[]): string[] {
  if (!actionNames.length) {
    throw BadInputError.of('Simulation', [{ path: 'actionNames', message: 'must name at least one action' }]);
  }
  const resources = resourceArns.length ? resourceArns : ['*'];
  if (actionNames.length * resources.length > MAX_PAIRS) {
    throw new LimitExceededError(
      'simulationPairs',
      `A simulation evaluates at most ${MAX_PAIRS} action × resource pairs`,
    );
  }
  return resources;
}

function contextOf(
  principal: Principal,
  region: string,
  entries: { key: string; values: string[] }[],
): RequestContext {
  const context = principalContext(principal, region);
  for (const entry of entries) {
    context[entry.key.toLowerCase()] = entry.values.length === 1 ? entry.values[0] : entry.values;
  }
  return context;
}

function parseAt(input: unknown, path: string): ReturnType<typeof parsePolicyDocument> {
  try {
    return parsePolicyDocument(input);
  } catch (error) {
    if (error instanceof BadInputError) {
      throw BadInputError.of(
        'Simulation',
        error.problems.map((p) => ({ path: p.path ? `${path}.${p.path}` : path, message: p.message })),
      );
    }
    throw error;
  }
}

/** The account of an ARN naming another account's resource, else undefined (`*`, own, shared). */
function foreignAccountOf(accountId: string, resourceArn: string): string | undefined {
  const account = parseArn(resourceArn)?.account;
  return account && account !== accountId && account !== SHARED_ACCOUNT ? account : undefined;
}
