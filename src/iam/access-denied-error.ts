import { DomainError } from '../platform/errors';
import type { Principal } from './identity/principal';

export interface AccessDeniedDetails {
  /** Says why in words that reveal nothing the caller may not know (e.g. "the account root cannot assume roles"). */
  because?: string;
  /** The explanation an administrator of the caller's account can look up (authorizationDecision). */
  decisionId?: string;
}

/** ACCESS_DENIED naming principal, action and resource, as IAM words it. */
export class AccessDeniedError extends DomainError {
  constructor(
    principal: Principal,
    action: string,
    resource: string,
    explicit: boolean,
    details: AccessDeniedDetails = {},
  ) {
    super(
      'ACCESS_DENIED',
      `${principal.arn} is not authorized to perform ${action} on ${resource}` +
        (explicit ? ' with an explicit deny in a policy' : details.because ? `: ${details.because}` : ''),
      { action, resource, ...(details.decisionId ? { decisionId: details.decisionId } : {}) },
    );
  }
}
