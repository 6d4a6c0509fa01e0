import type { EntityManager } from 'typeorm';
import type { Db } from '../platform/db/unit-of-work';
import { parseArn } from './arn';

/**
 * Finds the stored spelling of an entity's name, matching without regard to case; undefined
 * when the account has no such entity.
 */
export type StoredNameLookup = (
  tx: EntityManager,
  accountId: string,
  name: string,
) => Promise<string | undefined>;

/** The kinds of IAM entity whose names IAM keeps unique without regard to case. */
export type NamedIamKind = 'user' | 'group' | 'role' | 'policy';

/**
 * Canonical IAM ARNs. User, group, role and policy names are unique without regard to case
 * (as in IAM), so `…:user/ADMIN` reaches the user stored as `admin`. Authorizing on the
 * caller's spelling would let a Deny on `user/admin` be stepped around with a case variant;
 * the permission layer therefore authorizes on the ARN this returns.
 *
 * Only the name is canonicalised: the rest of an ARN stays case-sensitive (DESIGN §5), and an
 * ARN that is not exactly `arn:sluice:iam::<account>:<kind>/<name>` is returned unchanged.
 * Lookups stay inside `accountId` (the caller's), so nothing is learnt about other accounts.
 * Each kind registers its own lookup (roles add theirs when they exist).
 */
export class IamNames {
  private readonly lookups = new Map<NamedIamKind, StoredNameLookup>();

  constructor(private readonly db: Db) {}

  register(kind: NamedIamKind, lookup: StoredNameLookup): this {
    this.lookups.set(kind, lookup);
    return this;
  }

  /** `resourceArn` with the name part spelled as stored, when it names an existing entity of `accountId`. */
  async canonicalArn(
    accountId: string,
    resourceArn: string,
    tx: EntityManager = this.db.manager,
  ): Promise<string> {
    const parsed = parseArn(resourceArn);
    if (!parsed || parsed.partition !== 'sluice' || parsed.service !== 'iam' || parsed.region !== '') {
      return resourceArn;
    }
    if (parsed.account !== accountId) return resourceArn;
    const slash = parsed.resource.indexOf('/');
    if (slash <= 0) return resourceArn;
    const kind = parsed.resource.slice(0, slash) as NamedIamKind;
    const name = parsed.resource.slice(slash + 1);
    const lookup = this.lookups.get(kind);
    // IAM names hold no `/` or `:`; anything else cannot be a stored entity.
    if (!lookup || !/^[\w+=,.@-]{1,64}$/.test(name)) return resourceArn;
    const stored = await lookup(tx, accountId, name);
    return stored === undefined
      ? resourceArn
      : resourceArn.slice(0, resourceArn.length - name.length) + stored;
  }
}

type Finder = (tx: EntityManager, accountId: string, name: string) => Promise<{ name: string } | null>;

/** The lookups of the entities that exist today: users and groups (identities), customer policies. */
export function iamNamesOf(
  db: Db,
  identities: { findUser: Finder; findGroup: Finder },
  policies: { findCustomerPolicy: Finder },
  roles: { findRole: Finder },
): IamNames {
  const stored =
    (find: Finder): StoredNameLookup =>
    async (tx, accountId, name) =>
      (await find(tx, accountId, name))?.name;
  return new IamNames(db)
    .register(
      'user',
      stored((tx, a, n) => identities.findUser(tx, a, n)),
    )
    .register(
      'group',
      stored((tx, a, n) => identities.findGroup(tx, a, n)),
    )
    .register(
      'policy',
      stored((tx, a, n) => policies.findCustomerPolicy(tx, a, n)),
    )
    .register(
      'role',
      stored((tx, a, n) => roles.findRole(tx, a, n)),
    );
}
