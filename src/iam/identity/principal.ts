/** Who is calling: resolved from a verified token, re-checked against the database. */
export type PrincipalType = 'ROOT' | 'USER' | 'ASSUMED_ROLE';

export interface Principal {
  type: PrincipalType;
  arn: string;
  accountId: string;
  /** IAM user id (AIDA…) for users; the principal's policies hang off it. */
  userId?: string;
  userName?: string;
  /** Set when the session came from `getSessionToken` with an access key. */
  accessKeyId?: string;
  /** Token id, for the audit trail. */
  sessionId: string;
}

/** The key that the account's authorizer knows the principal's policies by. */
export function principalKey(principal: Principal): string {
  return principal.userId ? `user:${principal.userId}` : principal.arn;
}
