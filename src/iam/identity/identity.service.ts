import type { TagService } from '../../tags/tag.service';
import { randomInt } from 'node:crypto';
import { type EntityManager, In } from 'typeorm';
import { BadInputError, ConflictError, LimitExceededError, NotFoundError } from '../../platform/errors';
import { arn, PLATFORM_ACCOUNT_ID } from '../arn';
import type { IamChanges } from '../iam-changes';
import { InlinePolicyEntity, PolicyAttachmentEntity } from '../policies/policy.entity';
import { AccessKeyEntity } from './access-key.entity';
import { AccountEntity } from './account.entity';
import { GroupEntity, GroupMemberEntity } from './group.entity';
import { InvalidAccessKeyError, SignInFailedError } from './identity.errors';
import type { Principal } from './principal';
import { generatePassword, newId, newSecretAccessKey, passwordProblem, type SecretHasher } from './secrets';
import { ADDRESS_RULE, USER_RULE, type SignInThrottle, type ThrottleKey } from './sign-in-throttle';
import { UserEntity } from './user.entity';
import type { Db } from '../../platform/db/unit-of-work';

/** The account root signs in with this user name (it cannot be taken by an IAM user). */
export const ROOT_USER_NAME = 'root';
/** IAM's names: letters, digits and `+=,.@_-`, 1–64 characters. */
const NAME_PATTERN = /^[\w+=,.@-]{1,64}$/;
const ACCESS_KEYS_PER_USER = 2;

export type SignedInPrincipal = Omit<Principal, 'sessionId'>;

type RehashTarget = 'root' | 'user' | 'accessKey';

/** Compare-and-set of a stored hash: $1 the new hash, $2 the verified one, then the row's key. */
const REHASH: Record<RehashTarget, string> = {
  root: 'UPDATE accounts SET root_password_hash = $1 WHERE root_password_hash = $2 AND id = $3',
  user: 'UPDATE users SET password_hash = $1 WHERE password_hash = $2 AND account_id = $3 AND id = $4',
  accessKey: 'UPDATE access_keys SET secret_hash = $1 WHERE secret_hash = $2 AND account_id = $3 AND id = $4',
};

interface SignInTarget {
  hash: string | null;
  principal: SignedInPrincipal;
  /** Stores a new hash of the same password, made at today's cost. */
  rehash: (hash: string) => Promise<void>;
}

export interface CreatedAccount {
  accountId: string;
  name: string;
  rootPassword: string;
}

export interface CreatedAccessKey {
  accessKeyId: string;
  secretAccessKey: string;
  userName: string;
  createdAt: Date;
}

export function validateName(kind: string, field: string, name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw BadInputError.of(kind, [
      { path: field, message: `must be 1–64 letters, digits or +=,.@_- characters, got "${name}"` },
    ]);
  }
}

/** Accounts, users, access keys, groups, and signing in. */
export class IdentityService {
  constructor(
    private readonly db: Db,
    private readonly changes: IamChanges,
    private readonly throttle: SignInThrottle,
    private readonly hasher: SecretHasher,
    private readonly tags: TagService,
  ) {}

  /** Closes the sign-in throttle's connections (on shutdown). */
  async close(): Promise<void> {
    await this.throttle.close();
  }

  // ---- signing in -------------------------------------------------------------------------

  async login(
    accountId: string,
    userName: string,
    password: string,
    sourceIp: string,
  ): Promise<SignedInPrincipal> {
    const keys: ThrottleKey[] = [
      { key: `user:${accountId}:${userName.toLowerCase()}`, rule: USER_RULE },
      { key: `ip:${sourceIp}`, rule: ADDRESS_RULE },
    ];
    // Counted as a failure before the slow check; credited back below when it succeeds.
    const attempt = await this.throttle.begin(keys);
    const found = await this.findSignInTarget(accountId, userName);
    const { ok, outdated } = await this.hasher.verify(
      password,
      found?.hash ?? (await this.hasher.decoyHash()),
    );
    if (!found || !found.hash || !ok) throw new SignInFailedError();
    await this.throttle.succeeded(attempt);
    if (outdated) await found.rehash(await this.hasher.hash(password));
    return found.principal;
  }

  async signInWithAccessKey(
    accessKeyId: string,
    secret: string,
    sourceIp: string,
  ): Promise<SignedInPrincipal> {
    const keys: ThrottleKey[] = [
      { key: `akid:${accessKeyId}`, rule: USER_RULE },
      { key: `ip:${sourceIp}`, rule: ADDRESS_RULE },
    ];
    const attempt = await this.throttle.begin(keys);
    const key = await this.db.manager.getRepository(AccessKeyEntity).findOneBy({ id: accessKeyId });
    const { ok, outdated } = await this.hasher.verify(
      secret,
      key?.secretHash ?? (await this.hasher.decoyHash()),
    );
    const user =
      key && ok
        ? await this.db.manager
            .getRepository(UserEntity)
            .findOneBy({ accountId: key.accountId, id: key.userId })
        : null;
    if (!key || !user) throw new InvalidAccessKeyError();
    await this.throttle.succeeded(attempt);
    if (outdated) {
      await this.storeRehash(
        'accessKey',
        [key.accountId, key.id],
        key.secretHash,
        await this.hasher.hash(secret),
      );
    }
    return { ...userPrincipal(user), accessKeyId: key.id };
  }

  private async findSignInTarget(accountId: string, userName: string): Promise<SignInTarget | undefined> {
    if (!/^\d{12}$/.test(accountId)) return undefined;
    if (userName === ROOT_USER_NAME) {
      const account = await this.db.manager.getRepository(AccountEntity).findOneBy({ id: accountId });
      if (!account) return undefined;
      return {
        hash: account.rootPasswordHash,
        principal: { type: 'ROOT', arn: arn.root(accountId), accountId, userName: ROOT_USER_NAME },
        rehash: (hash) => this.storeRehash('root', [accountId], account.rootPasswordHash, hash),
      };
    }
    const user = await this.findUser(this.db.manager, accountId, userName);
    if (!user) return undefined;
    return {
      hash: user.passwordHash,
      principal: userPrincipal(user),
      rehash: async (hash) => {
        if (user.passwordHash) await this.storeRehash('user', [accountId, user.id], user.passwordHash, hash);
      },
    };
  }

  /**
   * Replaces a hash made at a lower cost with `hash` (same secret, today's cost), unless the
   * secret changed meanwhile: the row must still hold the hash that was verified.
   */
  private async storeRehash(
    target: RehashTarget,
    key: string[],
    verified: string,
    hash: string,
  ): Promise<void> {
    await this.db.manager.query(REHASH[target], [hash, verified, ...key]);
  }

  /** Is the principal behind a token still there? (deleted users and keys stop working) */
  async principalExists(principal: Principal): Promise<boolean> {
    if (principal.type === 'ROOT') {
      return this.db.manager.getRepository(AccountEntity).existsBy({ id: principal.accountId });
    }
    if (principal.type === 'ASSUMED_ROLE') {
      // A session dies with its role: deleted, or deleted and created again (a new id).
      if (!principal.role) return false;
      const rows: unknown[] = await this.db.manager.query(
        'SELECT 1 FROM roles WHERE account_id = $1 AND id = $2',
        [principal.accountId, principal.role.roleId],
      );
      return rows.length > 0;
    }
    if (principal.type !== 'USER' || !principal.userId) return false;
    if (principal.accessKeyId) {
      return this.db.manager
        .getRepository(AccessKeyEntity)
        .existsBy({ accountId: principal.accountId, id: principal.accessKeyId, userId: principal.userId });
    }
    return this.db.manager
      .getRepository(UserEntity)
      .existsBy({ accountId: principal.accountId, id: principal.userId });
  }

  // ---- accounts -----------------------------------------------------------------------------

  async createAccount(name: string, rootPassword: string | undefined): Promise<CreatedAccount> {
    const trimmed = name.trim();
    if (!trimmed || trimmed.length > 50) {
      throw BadInputError.of('Account', [{ path: 'name', message: 'must be 1–50 characters long' }]);
    }
    const password = rootPassword ?? generatePassword();
    const problem = passwordProblem(password);
    if (problem) throw BadInputError.of('Account', [{ path: 'rootPassword', message: problem }]);
    const hash = await this.hasher.hash(password);
    const repo = this.db.manager.getRepository(AccountEntity);
    for (let attempt = 0; attempt < 5; attempt++) {
      const id = String(randomInt(1, 1_000_000_000_000)).padStart(12, '0');
      if (id === PLATFORM_ACCOUNT_ID || (await repo.existsBy({ id }))) continue;
      await repo.insert({ id, name: trimmed, rootPasswordHash: hash });
      return { accountId: id, name: trimmed, rootPassword: password };
    }
    throw new ConflictError('Could not allocate a free account id; try again');
  }

  /**
   * First start: the platform account and its `admin` user with AdministratorAccess.
   * Returns the admin password when it was just created (to be shown once), else undefined.
   */
  async bootstrapPlatform(adminPassword: string | undefined): Promise<string | undefined> {
    return this.db.transaction(async (tx) => {
      // Several instances may start at once on one database.
      await tx.query('SELECT pg_advisory_xact_lock(7311764101)');
      if (await tx.getRepository(AccountEntity).existsBy({ id: PLATFORM_ACCOUNT_ID })) return undefined;
      const password = adminPassword ?? generatePassword();
      await tx.getRepository(AccountEntity).insert({
        id: PLATFORM_ACCOUNT_ID,
        name: 'platform',
        // The platform root is not meant for signing in: its password is random and never shown.
        rootPasswordHash: await this.hasher.hash(generatePassword()),
      });
      const admin = await this.insertUser(tx, PLATFORM_ACCOUNT_ID, 'admin', password);
      await tx.getRepository(PolicyAttachmentEntity).insert({
        accountId: PLATFORM_ACCOUNT_ID,
        principalType: 'user',
        principalId: admin.id,
        policyArn: arn.managedPolicy('AdministratorAccess'),
      });
      return password;
    });
  }

  // ---- users ----------------------------------------------------------------------------------

  async createUser(accountId: string, userName: string, password: string | undefined): Promise<UserEntity> {
    validateName('User', 'userName', userName);
    if (userName.toLowerCase() === ROOT_USER_NAME) {
      throw BadInputError.of('User', [
        { path: 'userName', message: '"root" is reserved for the account root' },
      ]);
    }
    if (password !== undefined) {
      const problem = passwordProblem(password);
      if (problem) throw BadInputError.of('User', [{ path: 'password', message: problem }]);
    }
    return this.changes.write(accountId, async (tx) => {
      if (await this.findUser(tx, accountId, userName)) {
        throw new ConflictError(`User ${userName} already exists in account ${accountId}`);
      }
      return this.insertUser(tx, accountId, userName, password);
    });
  }

  private async insertUser(
    tx: EntityManager,
    accountId: string,
    userName: string,
    password: string | undefined,
  ): Promise<UserEntity> {
    const user = tx.getRepository(UserEntity).create({
      accountId,
      id: newId('AIDA'),
      name: userName,
      passwordHash: password === undefined ? null : await this.hasher.hash(password),
    });
    return tx.getRepository(UserEntity).save(user);
  }

  /** Deletes the user with its keys, group memberships, attachments and inline policies. */
  async deleteUser(accountId: string, userName: string): Promise<void> {
    await this.changes.write(accountId, async (tx) => {
      const user = await this.requireUser(tx, accountId, userName);
      const holder = { accountId, principalType: 'user' as const, principalId: user.id };
      await tx.getRepository(PolicyAttachmentEntity).delete(holder);
      await tx.getRepository(InlinePolicyEntity).delete(holder);
      await tx.getRepository(UserEntity).delete({ accountId, id: user.id }); // keys and memberships cascade
      // A user created again under this name must not inherit its tags (aws:PrincipalTag).
      await this.tags.removeAll(tx, accountId, arn.user(accountId, user.name));
    });
  }

  async getUser(accountId: string, userName: string): Promise<UserEntity> {
    return this.requireUser(this.db.manager, accountId, userName);
  }

  async listUsers(accountId: string): Promise<UserEntity[]> {
    return this.db.manager.getRepository(UserEntity).find({ where: { accountId }, order: { name: 'ASC' } });
  }

  async findUser(tx: EntityManager, accountId: string, userName: string): Promise<UserEntity | null> {
    return tx
      .getRepository(UserEntity)
      .createQueryBuilder('u')
      .where('u.account_id = :accountId AND lower(u.name) = lower(:userName)', { accountId, userName })
      .getOne();
  }

  /**
   * The principal a stored or given ARN names, as it exists now: the account root, or one of
   * its users (by name, any case). Undefined for anything else (another account, a role).
   * `sessionId` says who acts with it without a session of its own (the engine, the simulator).
   */
  async principalOfArn(
    tx: EntityManager,
    accountId: string,
    principalArn: string,
    sessionId: string,
  ): Promise<Principal | undefined> {
    if (principalArn === arn.root(accountId))
      return { type: 'ROOT', arn: principalArn, accountId, sessionId };
    const prefix = arn.user(accountId, '');
    if (!principalArn.startsWith(prefix)) return undefined;
    const user = await this.findUser(tx, accountId, principalArn.slice(prefix.length));
    if (!user) return undefined;
    return {
      type: 'USER',
      arn: arn.user(accountId, user.name),
      accountId,
      userId: user.id,
      userName: user.name,
      sessionId,
    };
  }

  /** Sets (or, with null, removes) a user's permissions boundary, in the caller's transaction. */
  async setPermissionsBoundary(
    tx: EntityManager,
    accountId: string,
    userName: string,
    boundaryArn: string | null,
  ): Promise<UserEntity> {
    const user = await this.requireUser(tx, accountId, userName);
    await tx
      .getRepository(UserEntity)
      .update({ accountId, id: user.id }, { permissionsBoundaryArn: boundaryArn });
    return { ...user, permissionsBoundaryArn: boundaryArn };
  }

  async requireUser(tx: EntityManager, accountId: string, userName: string): Promise<UserEntity> {
    const user = await this.findUser(tx, accountId, userName);
    if (!user) throw new NotFoundError(`User ${userName} does not exist in account ${accountId}`);
    return user;
  }

  // ---- access keys --------------------------------------------------------------------------

  async createAccessKey(accountId: string, userName: string): Promise<CreatedAccessKey> {
    const secretAccessKey = newSecretAccessKey();
    const secretHash = await this.hasher.hash(secretAccessKey);
    return this.changes.write(accountId, async (tx) => {
      const user = await this.requireUser(tx, accountId, userName);
      const count = await tx.getRepository(AccessKeyEntity).countBy({ accountId, userId: user.id });
      if (count >= ACCESS_KEYS_PER_USER) {
        throw new LimitExceededError(
          'accessKeysPerUser',
          `User ${user.name} already has ${count} access keys, the most a user may have; delete one first`,
        );
      }
      const key = await tx
        .getRepository(AccessKeyEntity)
        .save({ accountId, id: newId('AKIA'), userId: user.id, secretHash });
      return { accessKeyId: key.id, secretAccessKey, userName: user.name, createdAt: key.createdAt };
    });
  }

  async deleteAccessKey(accountId: string, userName: string, accessKeyId: string): Promise<void> {
    await this.changes.write(accountId, async (tx) => {
      const user = await this.requireUser(tx, accountId, userName);
      const result = await tx
        .getRepository(AccessKeyEntity)
        .delete({ accountId, userId: user.id, id: accessKeyId });
      if (!result.affected)
        throw new NotFoundError(`Access key ${accessKeyId} does not exist for user ${user.name}`);
    });
  }

  async listAccessKeys(accountId: string, userName: string): Promise<AccessKeyEntity[]> {
    const user = await this.requireUser(this.db.manager, accountId, userName);
    return this.db.manager
      .getRepository(AccessKeyEntity)
      .find({ where: { accountId, userId: user.id }, order: { createdAt: 'ASC' } });
  }

  // ---- groups -------------------------------------------------------------------------------

  async createGroup(accountId: string, groupName: string): Promise<GroupEntity> {
    validateName('Group', 'groupName', groupName);
    return this.changes.write(accountId, async (tx) => {
      if (await this.findGroup(tx, accountId, groupName)) {
        throw new ConflictError(`Group ${groupName} already exists in account ${accountId}`);
      }
      return tx.getRepository(GroupEntity).save({ accountId, id: newId('AGPA'), name: groupName });
    });
  }

  /** As IAM: a group must be emptied and its policies detached before it can be deleted. */
  async deleteGroup(accountId: string, groupName: string): Promise<void> {
    await this.changes.write(accountId, async (tx) => {
      const group = await this.requireGroup(tx, accountId, groupName);
      const members = await tx.getRepository(GroupMemberEntity).countBy({ accountId, groupId: group.id });
      const holder = { accountId, principalType: 'group' as const, principalId: group.id };
      const policies =
        (await tx.getRepository(PolicyAttachmentEntity).countBy(holder)) +
        (await tx.getRepository(InlinePolicyEntity).countBy(holder));
      if (members || policies) {
        throw new ConflictError(
          `Group ${group.name} still has ${members} member(s) and ${policies} policy(ies); remove them first`,
        );
      }
      await tx.getRepository(GroupEntity).delete({ accountId, id: group.id });
    });
  }

  async addUserToGroup(accountId: string, groupName: string, userName: string): Promise<void> {
    await this.changes.write(accountId, async (tx) => {
      const group = await this.requireGroup(tx, accountId, groupName);
      const user = await this.requireUser(tx, accountId, userName);
      await tx
        .getRepository(GroupMemberEntity)
        .createQueryBuilder()
        .insert()
        .values({ accountId, groupId: group.id, userId: user.id })
        .orIgnore()
        .execute();
    });
  }

  async removeUserFromGroup(accountId: string, groupName: string, userName: string): Promise<void> {
    await this.changes.write(accountId, async (tx) => {
      const group = await this.requireGroup(tx, accountId, groupName);
      const user = await this.requireUser(tx, accountId, userName);
      const result = await tx
        .getRepository(GroupMemberEntity)
        .delete({ accountId, groupId: group.id, userId: user.id });
      if (!result.affected)
        throw new NotFoundError(`User ${user.name} is not a member of group ${group.name}`);
    });
  }

  async listGroups(accountId: string): Promise<GroupEntity[]> {
    return this.db.manager.getRepository(GroupEntity).find({ where: { accountId }, order: { name: 'ASC' } });
  }

  /** Members of each group, for many groups in one query. */
  async groupMembers(accountId: string, groupIds: readonly string[]): Promise<Map<string, UserEntity[]>> {
    const rows = await this.db.manager
      .getRepository(GroupMemberEntity)
      .findBy({ accountId, groupId: In(groupIds) });
    const users = rows.length
      ? await this.db.manager
          .getRepository(UserEntity)
          .findBy({ accountId, id: In(rows.map((r) => r.userId)) })
      : [];
    const byId = new Map(users.map((u) => [u.id, u]));
    const result = new Map<string, UserEntity[]>(groupIds.map((id) => [id, []]));
    for (const row of rows) {
      const user = byId.get(row.userId);
      if (user) result.get(row.groupId)?.push(user);
    }
    return result;
  }

  async findGroup(tx: EntityManager, accountId: string, groupName: string): Promise<GroupEntity | null> {
    return tx
      .getRepository(GroupEntity)
      .createQueryBuilder('g')
      .where('g.account_id = :accountId AND lower(g.name) = lower(:groupName)', { accountId, groupName })
      .getOne();
  }

  async requireGroup(tx: EntityManager, accountId: string, groupName: string): Promise<GroupEntity> {
    const group = await this.findGroup(tx, accountId, groupName);
    if (!group) throw new NotFoundError(`Group ${groupName} does not exist in account ${accountId}`);
    return group;
  }
}

function userPrincipal(user: UserEntity): SignedInPrincipal {
  return {
    type: 'USER',
    arn: arn.user(user.accountId, user.name),
    accountId: user.accountId,
    userId: user.id,
    userName: user.name,
  };
}
