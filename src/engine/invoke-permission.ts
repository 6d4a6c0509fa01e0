import type { EntityManager } from 'typeorm';
import { arn, parseArn } from '../iam/arn';
import type { Authorizer } from '../iam/authorizer';
import type { IdentityService } from '../iam/identity/identity.service';
import type { RequestContext } from '../iam/policy/request-context';

/** The answer for one Invoke/Pipeline action: the pipeline it may start, or why not (PERMISSION_ERROR). */
export type InvokeDecision = { allowed: true; pipelineName: string } | { allowed: false; reason: string };

/** What the reconciler asks before an Invoke/Pipeline action starts another pipeline. */
export interface InvokePermission {
  mayStart(
    tx: EntityManager,
    callerAccountId: string,
    callerPipelineName: string,
    /** `PipelineName` as resolved: a pipeline name, or a pipeline ARN. */
    target: string,
  ): Promise<InvokeDecision>;
}

const action = 'codepipeline:StartPipelineExecution';

/**
 * Until pipelines have service roles, a pipeline acts with the authority of the principal that
 * last changed it: the author of its current version (`pipeline_versions.created_by`). So a
 * user who may update pipeline A but not start pipeline B cannot make A start B for them.
 * The check runs when the action starts, against the author's policies as they are then (a
 * permission removed later is no longer used); a principal that no longer exists is refused.
 * A target in another account is refused whatever the policies say: a principal acts only
 * inside its own account. The request has no source address (no caller is connected), so
 * an Allow that needs `aws:SourceIp` does not apply, and a Deny on `NotIpAddress` does.
 */
export class PipelineAuthorPermission implements InvokePermission {
  constructor(
    private readonly authorizer: Authorizer,
    private readonly identities: IdentityService,
    private readonly region: string,
    private readonly resourceTags: (
      accountId: string,
      resourceArn: string,
    ) => Promise<Record<string, string>>,
  ) {}

  async mayStart(
    tx: EntityManager,
    callerAccountId: string,
    callerPipelineName: string,
    target: string,
  ): Promise<InvokeDecision> {
    const targetArn = target.startsWith('arn:') ? target : arn.pipeline(this.region, callerAccountId, target);
    const parsed = parseArn(targetArn);
    if (
      !parsed ||
      parsed.partition !== 'sluice' ||
      parsed.service !== 'codepipeline' ||
      parsed.account !== callerAccountId ||
      parsed.region !== this.region ||
      !/^[A-Za-z0-9.@\-_]{1,100}$/.test(parsed.resource)
    ) {
      return {
        allowed: false,
        reason: `${target} is not a pipeline of this account (${callerAccountId}) and region (${this.region})`,
      };
    }
    const pipelineName = parsed.resource;
    const rows: { created_by: string }[] = await tx.query(
      `SELECT v.created_by FROM pipelines p
         JOIN pipeline_versions v ON v.account_id = p.account_id AND v.pipeline_name = p.name AND v.version = p.version
        WHERE p.account_id = $1 AND p.name = $2`,
      [callerAccountId, callerPipelineName],
    );
    const author = rows[0]?.created_by;
    if (!author) return { allowed: false, reason: `pipeline ${callerPipelineName} has no recorded author` };
    const principal = await this.identities.principalOfArn(tx, callerAccountId, author, 'engine');
    if (!principal) {
      return {
        allowed: false,
        reason: `${author}, who last changed pipeline ${callerPipelineName}, no longer exists`,
      };
    }
    if (principal.type === 'ROOT') return { allowed: true, pipelineName };
    const context: RequestContext = {
      'aws:currenttime': new Date().toISOString(),
      'aws:epochtime': String(Math.floor(Date.now() / 1000)),
      'aws:principalarn': principal.arn,
      'aws:principalaccount': principal.accountId,
      'aws:principaltype': 'User',
      'aws:username': principal.userName,
      'aws:userid': principal.userId,
      'aws:requestedregion': this.region,
    };
    if (await this.authorizer.usesConditionKeyPrefix(principal, 'aws:resourcetag/')) {
      for (const [key, value] of Object.entries(await this.resourceTags(callerAccountId, targetArn))) {
        context[`aws:resourcetag/${key.toLowerCase()}`] = value;
      }
    }
    const allowed = await this.authorizer.isAllowed(principal, { action, resource: targetArn, context });
    return allowed
      ? { allowed: true, pipelineName }
      : {
          allowed: false,
          reason: `${principal.arn}, who last changed pipeline ${callerPipelineName}, is not authorized to perform ${action} on ${targetArn}`,
        };
  }
}
