import { arn } from '../arn';
import type { TagService } from '../../tags/tag.service';
import type { EntityManager } from 'typeorm';
import type { Db } from '../../platform/db/unit-of-work';
import { BadInputError, ConflictError, NotFoundError } from '../../platform/errors';
import type { IamChanges } from '../iam-changes';
import { validateName } from '../identity/identity.service';
import { newId } from '../identity/secrets';
import { InlinePolicyEntity, PolicyAttachmentEntity } from '../policies/policy.entity';
import { RoleEntity } from './role.entity';
import { parseTrustPolicy } from './trust-policy';

/** IAM's bounds for a role's longest session: 1 to 12 hours, 1 hour unless said. */
export const MIN_SESSION_SECONDS = 3600;
export const MAX_SESSION_SECONDS = 43_200;

/**
 * IAM roles of an account: their trust policies and session length. Their permissions are
 * policies attached to them and inline policies (PolicyService, holder type `role`). Every
 * write goes through IamChanges, so authorizers and caches on every instance see it.
 */
export class RoleService {
  constructor(
    private readonly db: Db,
    private readonly changes: IamChanges,
    private readonly tags: TagService,
  ) {}

  async createRole(
    accountId: string,
    roleName: string,
    assumeRolePolicyDocument: unknown,
    maxSessionDuration: number | undefined,
  ): Promise<RoleEntity> {
    validateName('Role', 'roleName', roleName);
    const seconds = maxSessionDuration ?? MIN_SESSION_SECONDS;
    if (!Number.isInteger(seconds) || seconds < MIN_SESSION_SECONDS || seconds > MAX_SESSION_SECONDS) {
      throw BadInputError.of('Role', [
        {
          path: 'maxSessionDuration',
          message: `must be ${MIN_SESSION_SECONDS} to ${MAX_SESSION_SECONDS} seconds (1 to 12 hours), got ${seconds}`,
        },
      ]);
    }
    const trust = parseTrustPolicy(assumeRolePolicyDocument);
    return this.changes.write(accountId, async (tx) => {
      if (await this.findRole(tx, accountId, roleName)) {
        throw new ConflictError(`Role ${roleName} already exists in account ${accountId}`);
      }
      return tx.getRepository(RoleEntity).save({
        accountId,
        id: newId('AROA'),
        name: roleName,
        assumeRolePolicy: trust,
        maxSessionDuration: seconds,
      });
    });
  }

  /** Deletes the role with its attached and inline policies. */
  async deleteRole(accountId: string, roleName: string): Promise<void> {
    await this.changes.write(accountId, async (tx) => {
      const role = await this.requireRole(tx, accountId, roleName);
      const holder = { accountId, principalType: 'role' as const, principalId: role.id };
      await tx.getRepository(PolicyAttachmentEntity).delete(holder);
      await tx.getRepository(InlinePolicyEntity).delete(holder);
      await tx.getRepository(RoleEntity).delete({ accountId, id: role.id });
      // A role created again under this name must not inherit its tags (aws:PrincipalTag).
      await this.tags.removeAll(tx, accountId, arn.role(accountId, role.name));
    });
  }

  async updateAssumeRolePolicy(accountId: string, roleName: string, policyDocument: unknown): Promise<void> {
    const trust = parseTrustPolicy(policyDocument);
    await this.changes.write(accountId, async (tx) => {
      const role = await this.requireRole(tx, accountId, roleName);
      await tx.getRepository(RoleEntity).save({ ...role, assumeRolePolicy: trust });
    });
  }

  async getRole(accountId: string, roleName: string): Promise<RoleEntity> {
    return this.requireRole(this.db.manager, accountId, roleName);
  }

  async listRoles(accountId: string): Promise<RoleEntity[]> {
    return this.db.manager.getRepository(RoleEntity).find({ where: { accountId }, order: { name: 'ASC' } });
  }

  /** The role named `roleName` in any case (role names are unique without regard to case). */
  async findRole(tx: EntityManager, accountId: string, roleName: string): Promise<RoleEntity | null> {
    return tx
      .getRepository(RoleEntity)
      .createQueryBuilder('r')
      .where('r.account_id = :accountId AND lower(r.name) = lower(:roleName)', { accountId, roleName })
      .getOne();
  }

  /** Sets (or, with null, removes) a role's permissions boundary, in the caller's transaction. */
  async setPermissionsBoundary(
    tx: EntityManager,
    accountId: string,
    roleName: string,
    boundaryArn: string | null,
  ): Promise<RoleEntity> {
    const role = await this.requireRole(tx, accountId, roleName);
    await tx
      .getRepository(RoleEntity)
      .update({ accountId, id: role.id }, { permissionsBoundaryArn: boundaryArn });
    return { ...role, permissionsBoundaryArn: boundaryArn };
  }

  async requireRole(tx: EntityManager, accountId: string, roleName: string): Promise<RoleEntity> {
    const role = await this.findRole(tx, accountId, roleName);
    if (!role) throw new NotFoundError(`Role ${roleName} does not exist in account ${accountId}`);
    return role;
  }
}
