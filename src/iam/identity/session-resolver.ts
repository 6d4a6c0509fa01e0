import type { IamChanges } from '../iam-changes';
import { UnauthenticatedError } from './identity.errors';
import type { IdentityService } from './identity.service';
import type { Principal } from './principal';
import { InvalidTokenError, type TokenService } from './token.service';

/** How long "this principal still exists" is trusted before the database is asked again. */
const RECHECK_MS = 2_000;

/**
 * Bearer token → principal. A token alone is not enough: the user, access key or account
 * behind it must still exist, so a deleted user or key stops working within RECHECK_MS on
 * every instance (and at once on the instance that deleted it).
 */
export class SessionResolver {
  /**
   * The answer is kept as a promise, so callers arriving while it is being looked up (2,000
   * subscriptions of one user re-checking on the same event) share one query.
   */
  private readonly checked = new Map<string, { exists: Promise<boolean>; at: number; accountId: string }>();

  constructor(
    private readonly tokens: TokenService,
    private readonly identities: IdentityService,
    changes: IamChanges,
  ) {
    changes.onChange((accountId) => {
      for (const [key, entry] of this.checked) {
        if (accountId === undefined || entry.accountId === accountId) this.checked.delete(key);
      }
    });
  }

  async resolve(token: string): Promise<Principal> {
    let principal: Principal;
    try {
      principal = await this.tokens.verify(token);
    } catch (err) {
      if (err instanceof InvalidTokenError)
        throw new UnauthenticatedError(`The security token is not valid: ${err.message}`);
      throw err;
    }
    await this.requireExisting(principal);
    return principal;
  }

  /**
   * For a session already verified (a subscription that outlives its start): does the
   * principal still exist? The signature is not checked again (an ECDSA verify costs ~1 ms,
   * and the connection closes itself when the token expires), only existence, on the same
   * cache as `resolve`.
   */
  async stillExists(principal: Principal): Promise<boolean> {
    try {
      await this.requireExisting(principal);
      return true;
    } catch (error) {
      if (error instanceof UnauthenticatedError) return false;
      throw error;
    }
  }

  private async requireExisting(principal: Principal): Promise<void> {
    const key = cacheKey(principal);
    const now = Date.now();
    let entry = this.checked.get(key);
    if (!entry || now - entry.at > RECHECK_MS) {
      const exists = this.identities.principalExists(principal);
      entry = { exists, at: now, accountId: principal.accountId };
      if (this.checked.size > 50_000) this.checked.clear();
      this.checked.set(key, entry);
      // A failed lookup is not an answer: the next caller asks again.
      exists.catch(() => {
        if (this.checked.get(key)?.exists === exists) this.checked.delete(key);
      });
    }
    if (!(await entry.exists))
      throw new UnauthenticatedError('The security token is no longer valid: its principal was deleted');
  }
}

/**
 * Everything that identifies the principal behind a token, so an answer about one principal is
 * never reused for another: the account root and a user token that names the root's ARN, or a
 * user and another principal type carrying the same user id, each get their own entry (the
 * type decides which existence check applies). JSON keeps the parts apart whatever they hold.
 */
function cacheKey(principal: Principal): string {
  return JSON.stringify([
    principal.type,
    principal.accountId,
    principal.arn,
    principal.userId ?? null,
    principal.accessKeyId ?? null,
    principal.role?.roleId ?? null,
  ]);
}
