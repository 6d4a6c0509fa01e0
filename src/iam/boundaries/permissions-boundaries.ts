import type { IamChanges } from '../iam-changes';
import type { IdentityService } from '../identity/identity.service';
import type { UserEntity } from '../identity/user.entity';
import type { PolicyService } from '../policies/policy.service';
import type { RoleEntity } from '../roles/role.entity';
import type { RoleService } from '../roles/role.service';
import type { Db } from '../../platform/db/unit-of-work';

export type BoundaryHolder = 'user' | 'role';

/**
 * Permissions boundaries (IAM's PermissionsBoundary): a managed policy or a customer policy of
 * the account that caps what a user or role may do, whatever its identity policies grant. The
 * users and roles modules own their rows; this module checks the policy and writes through
 * them, inside one IAM change.
 */
export class PermissionsBoundaries {
  constructor(
    private readonly db: Db,
    private readonly changes: IamChanges,
    private readonly identities: IdentityService,
    private readonly roles: RoleService,
    private readonly policies: PolicyService,
  ) {}

  async createUser(
    accountId: string,
    userName: string,
    password: string | undefined,
    boundaryArn: string | undefined,
  ): Promise<UserEntity> {
    return this.changes.write(accountId, async (tx) => {
      const user = await this.identities.createUser(accountId, userName, password);
      if (boundaryArn === undefined) return user;
      const canonical = await this.policies.canonicalPolicyArn(tx, accountId, boundaryArn);
      return this.identities.setPermissionsBoundary(tx, accountId, user.name, canonical);
    });
  }

  async createRole(
    accountId: string,
    roleName: string,
    trustPolicy: unknown,
    maxSessionDuration: number | undefined,
    boundaryArn: string | undefined,
  ): Promise<RoleEntity> {
    return this.changes.write(accountId, async (tx) => {
      const role = await this.roles.createRole(accountId, roleName, trustPolicy, maxSessionDuration);
      if (boundaryArn === undefined) return role;
      const canonical = await this.policies.canonicalPolicyArn(tx, accountId, boundaryArn);
      return this.roles.setPermissionsBoundary(tx, accountId, role.name, canonical);
    });
  }

  /** Sets the boundary (unknown policy: NOT_FOUND), or with `null` removes it. */
  async set(
    accountId: string,
    holder: BoundaryHolder,
    name: string,
    boundaryArn: string | null,
  ): Promise<void> {
    await this.changes.write(accountId, async (tx) => {
      const canonical =
        boundaryArn === null ? null : await this.policies.canonicalPolicyArn(tx, accountId, boundaryArn);
      if (holder === 'user') await this.identities.setPermissionsBoundary(tx, accountId, name, canonical);
      else await this.roles.setPermissionsBoundary(tx, accountId, name, canonical);
    });
  }

  /** The holder's boundary, for the condition key iam:PermissionsBoundary; undefined if none or no holder. */
  async boundaryOf(accountId: string, holder: BoundaryHolder, name: string): Promise<string | undefined> {
    const entity =
      holder === 'user'
        ? await this.identities.findUser(this.db.manager, accountId, name)
        : await this.roles.findRole(this.db.manager, accountId, name);
    return entity?.permissionsBoundaryArn ?? undefined;
  }
}
