import type { EntityManager } from 'typeorm';
import { arn, parseArn } from '../iam/arn';
import type { Authorizer } from '../iam/authorizer';
import type { IdentityService } from '../iam/identity/identity.service';
import type { Principal } from '../iam/identity/principal';
import type { StsService } from '../iam/sts/sts.service';
import { DomainError } from '../platform/errors';
import {
  engineRequestContext,
  type Acting,
  type ActingRequest,
  type Actor,
  type InvokeDecision,
  type InvokePermission,
} from './invoke-permission';

const START = 'codepipeline:StartPipelineExecution';
const PIPELINE_NAME = /^[A-Za-z0-9.@\-_]{1,100}$/;

/** Tags of an IAM principal or a resource, by ARN (`aws:PrincipalTag/…`, `aws:ResourceTag/…`). */
export type TagsOf = (accountId: string, resourceArn: string) => Promise<Record<string, string>>;

/**
 * Pipeline service roles (CodePipeline's `roleArn`, pipeline and action level). An action acts as:
 * - a session of its own `roleArn`, started by the pipeline's principal — which may be a role
 *   of another account whose trust policy admits that principal;
 * - else a session of the pipeline's `roleArn`, started by the pipeline's author;
 * - else the pipeline's author: the principal that last changed it (the author of its current
 *   version), so a user who may update pipeline A but not start pipeline B cannot make A
 *   start B for them.
 * The pipeline's principal is the session of the pipeline's role when it has one, else the
 * author. Sessions are started as assumeRole would (StsService.startSession: the starter's
 * policies and the role's trust policy, decided now, when the action starts, so a role deleted
 * or a trust withdrawn stops the next action), but never leave the engine: no token is issued.
 * A principal acts only inside its own account: another account's pipeline can be started
 * only through a role there.
 */
export class ServiceRolePermission implements InvokePermission {
  constructor(
    private readonly authorizer: Authorizer,
    private readonly identities: IdentityService,
    private readonly sts: StsService,
    private readonly region: string,
    private readonly tagsOf: TagsOf,
  ) {}

  async actingPrincipal(tx: EntityManager, request: ActingRequest): Promise<Acting> {
    const author = await this.author(tx, request.accountId, request.pipelineName);
    if ('refused' in author) return author;
    const pipelineRole = request.pipelineRoleArn ?? undefined;
    const pipeline = pipelineRole
      ? await this.session(author, pipelineRole, request, 'the pipeline role')
      : author;
    if ('refused' in pipeline) return pipeline;
    const actionRole = request.actionRoleArn ?? undefined;
    // The pipeline's own role named again on an action: its session already is that role.
    if (!actionRole || (pipelineRole && sameRole(actionRole, pipelineRole))) return pipeline;
    return this.session(pipeline, actionRole, request, "the action's role");
  }

  async mayStart(
    tx: EntityManager,
    acting: Actor,
    invoker: { accountId: string; pipelineName: string; pipelineExecutionId: string },
    target: string,
  ): Promise<InvokeDecision> {
    const targetArn = target.startsWith('arn:')
      ? target
      : arn.pipeline(this.region, invoker.accountId, target);
    const parsed = parseArn(targetArn);
    if (
      !parsed ||
      parsed.partition !== 'sluice' ||
      parsed.service !== 'codepipeline' ||
      parsed.region !== this.region ||
      !PIPELINE_NAME.test(parsed.resource)
    ) {
      return { allowed: false, reason: `${target} is not a pipeline ARN of region ${this.region}` };
    }
    const principal = acting.principal;
    if (parsed.account !== principal.accountId) {
      return {
        allowed: false,
        reason:
          `${acting.describedAs} acts in account ${principal.accountId} only: a pipeline of account ` +
          `${parsed.account} can be started through a role of that account in the action's roleArn`,
      };
    }
    const pipelineName = parsed.resource;
    const triggerDetail = principal.role
      ? principal.arn
      : `arn:pipeline-execution:${invoker.pipelineName}/${invoker.pipelineExecutionId}`;
    // The account root too: its account's guardrails cap it.
    const context = engineRequestContext(principal, this.region);
    const tagOwner = principal.role?.roleArn ?? principal.arn;
    if (await this.authorizer.usesConditionKeyPrefix(principal, 'aws:principaltag/')) {
      for (const [key, value] of Object.entries(await this.tagsOf(principal.accountId, tagOwner)))
        context[`aws:principaltag/${key.toLowerCase()}`] = value;
    }
    if (await this.authorizer.usesConditionKeyPrefix(principal, 'aws:resourcetag/')) {
      for (const [key, value] of Object.entries(await this.tagsOf(parsed.account, targetArn)))
        context[`aws:resourcetag/${key.toLowerCase()}`] = value;
    }
    const allowed = await this.authorizer.isAllowed(principal, {
      action: START,
      resource: targetArn,
      context,
    });
    return allowed
      ? { allowed: true, accountId: parsed.account, pipelineName, triggerDetail }
      : {
          allowed: false,
          reason: `${acting.describedAs} is not authorized to perform ${START} on ${targetArn}`,
        };
  }

  /** The principal that last changed the pipeline, as it is now. */
  private async author(tx: EntityManager, accountId: string, pipelineName: string): Promise<Acting> {
    const rows: { created_by: string }[] = await tx.query(
      `SELECT v.created_by FROM pipelines p
         JOIN pipeline_versions v ON v.account_id = p.account_id AND v.pipeline_name = p.name AND v.version = p.version
        WHERE p.account_id = $1 AND p.name = $2`,
      [accountId, pipelineName],
    );
    const author = rows[0]?.created_by;
    if (!author) return { refused: `pipeline ${pipelineName} has no recorded author` };
    const principal = await this.identities.principalOfArn(tx, accountId, author, 'engine');
    if (!principal) {
      // A role session that changed the pipeline is not one the engine can act as later: its
      // session policy and expiry are gone with its token.
      return {
        refused: author.startsWith(`arn:sluice:sts::${accountId}:assumed-role/`)
          ? `pipeline ${pipelineName} was last changed by the role session ${author}, which cannot act for it later: a user or the account root must update it`
          : `${author}, who last changed pipeline ${pipelineName}, no longer exists`,
      };
    }
    return { principal, describedAs: `${principal.arn}, who last changed pipeline ${pipelineName},` };
  }

  /** A session of `roleArn` started by `starter` for this execution, or why not. */
  private async session(
    starter: Actor,
    roleArn: string,
    request: ActingRequest,
    which: string,
  ): Promise<Acting> {
    // 2–64 characters of [\w+=,.@-]: pipeline names and execution ids are made of those.
    const roleSessionName = `sluice-${request.pipelineName.slice(0, 48)}-${request.pipelineExecutionId.slice(0, 8)}`;
    try {
      const session = await this.sts.startSession(
        starter.principal,
        { roleArn, roleSessionName },
        engineRequestContext(starter.principal, this.region),
        undefined,
        { rootActsAsAccount: true },
      );
      const principal: Principal = { ...session, sessionId: 'engine' };
      return { principal, describedAs: principal.arn };
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      // The ACCESS_DENIED message itself: it says nothing of whether the role exists or what
      // its trust policy says, which is the role owner's business.
      return { refused: `could not assume ${which} ${roleArn}: ${error.message}` };
    }
  }
}

/** Role names are unique without regard to case. */
function sameRole(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
