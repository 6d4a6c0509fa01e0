import type { RequestContext } from '../policy/request-context';
import type { Principal } from './principal';

/**
 * The global condition keys that describe who calls and when (DESIGN §5), for any request:
 * through the API, by the engine for a pipeline, or in a simulation. Callers add what only
 * they know (the source address, tags).
 */
export function principalContext(principal: Principal, region: string, now = new Date()): RequestContext {
  const context: RequestContext = {
    'aws:currenttime': now.toISOString(),
    'aws:epochtime': String(Math.floor(now.getTime() / 1000)),
    'aws:principalarn': principal.arn,
    'aws:principalaccount': principal.accountId,
    'aws:principaltype':
      principal.type === 'ROOT' ? 'Account' : principal.type === 'USER' ? 'User' : 'AssumedRole',
    'aws:username': principal.userName,
    // As IAM: a role session's id is `<role id>:<session name>`.
    'aws:userid': principal.role
      ? `${principal.role.roleId}:${principal.role.sessionName}`
      : (principal.userId ?? principal.accountId),
    'aws:requestedregion': region,
  };
  if (principal.role) context['aws:sourceidentity'] = principal.role.sourceIdentity;
  return context;
}
