import type { PolicyDocument } from '../policy/policy-document';

/** Who is calling: resolved from a verified token, re-checked against the database. */
export type PrincipalType = 'ROOT' | 'USER' | 'ASSUMED_ROLE';

/** For an assumed-role session: the role it acts as and who started it. */
export interface RoleSession {
  /** The role's id (AROA…): the session's policies hang off it, and it dies with the role. */
  roleId: string;
  roleName: string;
  roleArn: string;
  sessionName: string;
  /**
   * The principal that first assumed a role in this chain (a user or an account root ARN),
   * kept through role chaining as IAM's source identity.
   */
  sourceIdentity: string;
  /** The ARN of the principal that called assumeRole for this session. */
  issuedBy: string;
  /** The session policy given to assumeRole, if any: it narrows the role's permissions. */
  sessionPolicy?: PolicyDocument;
  /** Its text as accepted (minified JSON), which the token carries. */
  sessionPolicyText?: string;
  /** When assumeRole created the session (ISO 8601). */
  createdAt: string;
}

export interface Principal {
  type: PrincipalType;
  arn: string;
  accountId: string;
  /** IAM user id (AIDA…) for users; the principal's policies hang off it. */
  userId?: string;
  userName?: string;
  /** Set when the session came from `getSessionToken` with an access key. */
  accessKeyId?: string;
  /** Set for ASSUMED_ROLE principals. */
  role?: RoleSession;
  /** Token id, for the audit trail. */
  sessionId: string;
}

/** The key that the account's authorizer knows the principal's policies by. */
export function principalKey(principal: Principal): string {
  if (principal.role) return `role:${principal.role.roleId}`;
  return principal.userId ? `user:${principal.userId}` : principal.arn;
}
