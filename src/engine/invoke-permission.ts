import { principalContext } from '../iam/identity/principal-context';
import type { EntityManager } from 'typeorm';
import type { Principal } from '../iam/identity/principal';
import type { RequestContext } from '../iam/policy/request-context';

/** What decides whose authority an action acts with: the pipeline and the action it runs. */
export interface ActingRequest {
  accountId: string;
  pipelineName: string;
  pipelineExecutionId: string;
  /** The pipeline's service role, from the execution's pinned declaration. */
  pipelineRoleArn?: string | null;
  /** The action's own role (may be in another account). */
  actionRoleArn?: string | null;
}

/**
 * The principal an action acts as; or why it has none (a clause to follow "Could not start
 * pipeline X: ", in words that tell no more than ACCESS_DENIED would), and the action fails
 * with PERMISSION_ERROR.
 */
export type Acting = Actor | { refused: string };

/** A principal an action acts as; `describedAs` names it in summaries. */
export interface Actor {
  principal: Principal;
  describedAs: string;
}

/**
 * The answer for one Invoke/Pipeline action: the pipeline it may start and who starts it, or
 * why not (PERMISSION_ERROR).
 */
export type InvokeDecision =
  | {
      allowed: true;
      accountId: string;
      pipelineName: string;
      /** The trigger detail of the execution it starts: the upstream execution, or the role session. */
      triggerDetail: string;
    }
  | { allowed: false; reason: string };

/** What the reconciler asks before an action starts, and before Invoke/Pipeline starts a pipeline. */
export interface InvokePermission {
  /** Whose authority the action has. Asked for every action with a role, and for Invoke/Pipeline. */
  actingPrincipal(tx: EntityManager, request: ActingRequest): Promise<Acting>;
  mayStart(
    tx: EntityManager,
    acting: Actor,
    invoker: { accountId: string; pipelineName: string; pipelineExecutionId: string },
    /** `PipelineName` as resolved: a pipeline name (of the invoker's account), or a pipeline ARN. */
    target: string,
  ): Promise<InvokeDecision>;
}

/**
 * The global condition keys of a request the engine makes for a pipeline. No caller is
 * connected, so there is no source address: an Allow that needs `aws:SourceIp` does not
 * apply, and a Deny on `NotIpAddress` does.
 */
export function engineRequestContext(principal: Principal, region: string): RequestContext {
  return principalContext(principal, region);
}
