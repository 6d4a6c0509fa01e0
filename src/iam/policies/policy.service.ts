import { type EntityManager } from 'typeorm';
import { BadInputError, ConflictError, LimitExceededError, NotFoundError } from '../../platform/errors';
import { arn, parseArn } from '../arn';
import { boundarySource, loadGuardrails } from './layer-policies';
import type { IamChanges } from '../iam-changes';
import { GroupMemberEntity } from '../identity/group.entity';
import { validateName, type IdentityService } from '../identity/identity.service';
import type { RoleService } from '../roles/role.service';
import type { AccountSnapshot, Binding, PolicySource } from '../policy/account-authorizer';
import {
  getManagedPolicy,
  listManagedPolicies,
  managedPolicySource,
  type ManagedPolicy,
} from '../policy/managed-policies';
import { parsePolicyDocument } from '../policy/policy-document';
import {
  InlinePolicyEntity,
  PolicyAttachmentEntity,
  PolicyEntity,
  type PolicyHolderType,
} from './policy.entity';
import type { Db } from '../../platform/db/unit-of-work';

const MANAGED_POLICIES_PER_HOLDER = 20;

export type PolicyScope = 'ALL' | 'LOCAL' | 'MANAGED';

/** What callers see of a policy, managed or customer-managed. */
export interface PolicyView {
  arn: string;
  name: string;
  description: string | null;
  document: unknown;
  isManaged: boolean;
  createdAt: Date | null;
  updatedAt: Date | null;
}

export interface InlinePolicyView {
  name: string;
  document: unknown;
}

/** Turns a `JSON` argument (object, or a JSON string) into the stored object, validating it. */
function acceptDocument(input: unknown): object {
  parsePolicyDocument(input);
  return (typeof input === 'string' ? JSON.parse(input) : input) as object;
}

/** Customer-managed policies, managed policies, attachments and inline policies. */
export class PolicyService {
  constructor(
    private readonly db: Db,
    private readonly changes: IamChanges,
    private readonly identities: IdentityService,
    private readonly roles: RoleService,
  ) {}

  async createPolicy(
    accountId: string,
    policyName: string,
    documentInput: unknown,
    description: string | undefined,
  ): Promise<PolicyView> {
    validateName('Policy', 'policyName', policyName);
    if (description !== undefined && description.length > 1000) {
      throw BadInputError.of('Policy', [{ path: 'description', message: 'must be at most 1000 characters' }]);
    }
    const document = acceptDocument(documentInput);
    const saved = await this.changes.write(accountId, async (tx) => {
      const exists = await tx
        .getRepository(PolicyEntity)
        .createQueryBuilder('p')
        .where('p.account_id = :accountId AND lower(p.name) = lower(:policyName)', { accountId, policyName })
        .getExists();
      if (exists) throw new ConflictError(`Policy ${policyName} already exists in account ${accountId}`);
      return tx.getRepository(PolicyEntity).save({
        accountId,
        id: policyName,
        name: policyName,
        description: description ?? null,
        document,
      });
    });
    return customerView(saved);
  }

  /** As IAM: a policy must be detached everywhere before it can be deleted. */
  async deletePolicy(accountId: string, policyArn: string): Promise<void> {
    await this.changes.write(accountId, async (tx) => {
      const policy = await this.requireCustomerPolicy(tx, accountId, policyArn);
      // Attachments hold the canonical ARN: count by it, not by the caller's spelling.
      const attached = await tx
        .getRepository(PolicyAttachmentEntity)
        .countBy({ accountId, policyArn: arn.policy(accountId, policy.name) });
      if (attached) {
        throw new ConflictError(
          `Policy ${policy.name} is attached to ${attached} user(s) or group(s); detach it first`,
        );
      }
      const canonical = arn.policy(accountId, policy.name);
      const [{ boundaries, guardrails }]: { boundaries: number; guardrails: number }[] = await tx.query(
        `SELECT (SELECT count(*) FROM users WHERE account_id = $1 AND permissions_boundary_arn = $2)
              + (SELECT count(*) FROM roles WHERE account_id = $1 AND permissions_boundary_arn = $2) AS boundaries,
                (SELECT count(*) FROM account_guardrails WHERE policy_arn = $2) AS guardrails`,
        [accountId, canonical],
      );
      if (Number(boundaries) || Number(guardrails)) {
        throw new ConflictError(
          `Policy ${policy.name} is the permissions boundary of ${Number(boundaries)} user(s) or role(s) and a guardrail of ${Number(guardrails)} account(s); remove those first`,
        );
      }
      await tx.getRepository(PolicyEntity).delete({ accountId, id: policy.id });
    });
  }

  async getPolicy(accountId: string, policyArn: string): Promise<PolicyView> {
    const managed = getManagedPolicy(policyArn);
    if (managed) return managedView(managed);
    return customerView(await this.requireCustomerPolicy(this.db.manager, accountId, policyArn));
  }

  async listPolicies(accountId: string, scope: PolicyScope): Promise<PolicyView[]> {
    const managed = scope === 'LOCAL' ? [] : listManagedPolicies().map(managedView);
    const local =
      scope === 'MANAGED'
        ? []
        : (
            await this.db.manager
              .getRepository(PolicyEntity)
              .find({ where: { accountId }, order: { name: 'ASC' } })
          ).map(customerView);
    return [...local, ...managed];
  }

  async attachPolicy(
    accountId: string,
    holderType: PolicyHolderType,
    holderName: string,
    policyArnInput: string,
  ): Promise<void> {
    await this.changes.write(accountId, async (tx) => {
      const holderId = await this.holderId(tx, accountId, holderType, holderName);
      // Stored as the policy's canonical ARN, so the authorizer finds the document and
      // deletePolicy sees the attachment whatever spelling the caller used.
      const policyArn = await this.canonicalPolicyArn(tx, accountId, policyArnInput);
      const repo = tx.getRepository(PolicyAttachmentEntity);
      const count = await repo.countBy({ accountId, principalType: holderType, principalId: holderId });
      if (count >= MANAGED_POLICIES_PER_HOLDER) {
        throw new LimitExceededError(
          'attachedPoliciesPerPrincipal',
          `${holderType} ${holderName} already has ${count} attached policies, the most allowed`,
        );
      }
      await repo
        .createQueryBuilder()
        .insert()
        .values({ accountId, principalType: holderType, principalId: holderId, policyArn })
        .orIgnore()
        .execute();
    });
  }

  async detachPolicy(
    accountId: string,
    holderType: PolicyHolderType,
    holderName: string,
    policyArn: string,
  ): Promise<void> {
    await this.changes.write(accountId, async (tx) => {
      const holderId = await this.holderId(tx, accountId, holderType, holderName);
      const canonical = getManagedPolicy(policyArn)
        ? policyArn
        : ((await this.findCustomerPolicyByArn(tx, accountId, policyArn)) ?? policyArn);
      const result = await tx
        .getRepository(PolicyAttachmentEntity)
        .delete({ accountId, principalType: holderType, principalId: holderId, policyArn: canonical });
      if (!result.affected)
        throw new NotFoundError(`Policy ${policyArn} is not attached to ${holderType} ${holderName}`);
    });
  }

  async attachedPolicies(
    accountId: string,
    holderType: PolicyHolderType,
    holderName: string,
  ): Promise<PolicyView[]> {
    const holderId = await this.holderId(this.db.manager, accountId, holderType, holderName);
    const rows = await this.db.manager.getRepository(PolicyAttachmentEntity).find({
      where: { accountId, principalType: holderType, principalId: holderId },
      order: { policyArn: 'ASC' },
    });
    return Promise.all(rows.map((r) => this.getPolicy(accountId, r.policyArn)));
  }

  async putInlinePolicy(
    accountId: string,
    holderType: PolicyHolderType,
    holderName: string,
    policyName: string,
    documentInput: unknown,
  ): Promise<void> {
    validateName('Policy', 'policyName', policyName);
    const document = acceptDocument(documentInput);
    await this.changes.write(accountId, async (tx) => {
      const holderId = await this.holderId(tx, accountId, holderType, holderName);
      // Inline policy names are unique without regard to case (inline_policies_name_ci): a put
      // naming `OWN` replaces the document of `own` and keeps the stored spelling, in one
      // statement so two concurrent puts of case variants cannot both insert.
      await tx.query(
        `INSERT INTO inline_policies (account_id, principal_type, principal_id, name, document)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (account_id, principal_type, principal_id, lower(name))
         DO UPDATE SET document = EXCLUDED.document`,
        [accountId, holderType, holderId, policyName, JSON.stringify(document)],
      );
    });
  }

  async deleteInlinePolicy(
    accountId: string,
    holderType: PolicyHolderType,
    holderName: string,
    policyName: string,
  ): Promise<void> {
    await this.changes.write(accountId, async (tx) => {
      const holderId = await this.holderId(tx, accountId, holderType, holderName);
      const result = await tx
        .getRepository(InlinePolicyEntity)
        .createQueryBuilder()
        .delete()
        .where(
          'account_id = :accountId AND principal_type = :holderType AND principal_id = :holderId' +
            ' AND lower(name) = lower(:policyName)',
          { accountId, holderType, holderId, policyName },
        )
        .execute();
      if (!result.affected)
        throw new NotFoundError(`${holderType} ${holderName} has no inline policy ${policyName}`);
    });
  }

  async inlinePolicies(
    accountId: string,
    holderType: PolicyHolderType,
    holderName: string,
  ): Promise<InlinePolicyView[]> {
    const holderId = await this.holderId(this.db.manager, accountId, holderType, holderName);
    const rows = await this.db.manager.getRepository(InlinePolicyEntity).find({
      where: { accountId, principalType: holderType, principalId: holderId },
      order: { name: 'ASC' },
    });
    return rows.map((r) => ({ name: r.name, document: r.document }));
  }

  /** Everything the account's authorizer needs, read in one consistent snapshot. */
  async snapshot(accountId: string): Promise<AccountSnapshot> {
    return this.db.dataSource.transaction('REPEATABLE READ', async (tx) => {
      // One connection runs one query at a time: read in sequence, inside one snapshot.
      const customer = await tx.getRepository(PolicyEntity).findBy({ accountId });
      const attachments = await tx.getRepository(PolicyAttachmentEntity).findBy({ accountId });
      const inline = await tx.getRepository(InlinePolicyEntity).findBy({ accountId });
      const members = await tx.getRepository(GroupMemberEntity).findBy({ accountId });
      const policies: PolicySource[] = [];
      const bindings: Binding[] = members.map((m) => ({
        member: `user:${m.userId}`,
        of: `group:${m.groupId}`,
      }));
      const customerByArn = new Map(customer.map((p) => [arn.policy(accountId, p.name), p]));
      const used = new Set<string>();
      for (const a of attachments) {
        bindings.push({ member: `${a.principalType}:${a.principalId}`, of: a.policyArn });
        if (used.has(a.policyArn)) continue;
        used.add(a.policyArn);
        const managed = getManagedPolicy(a.policyArn);
        const own = customerByArn.get(a.policyArn);
        if (managed) {
          policies.push(managedPolicySource(managed));
        } else if (own) {
          policies.push({
            id: a.policyArn,
            arn: a.policyArn,
            name: own.name,
            document: parsePolicyDocument(own.document),
          });
        }
      }
      for (const p of inline) {
        const id = `inline:${p.principalType}/${p.principalId}/${p.name}`;
        policies.push({ id, arn: id, name: p.name, document: parsePolicyDocument(p.document) });
        bindings.push({ member: `${p.principalType}:${p.principalId}`, of: id });
      }
      // Permissions boundaries: bound to the policy's own source (added if nothing attaches it).
      // A boundary naming a policy that is gone binds to nothing, and so allows nothing.
      const bounded: { kind: string; id: string; arn: string }[] = await tx.query(
        `SELECT 'user' AS kind, id, permissions_boundary_arn AS arn FROM users
          WHERE account_id = $1 AND permissions_boundary_arn IS NOT NULL
         UNION ALL
         SELECT 'role', id, permissions_boundary_arn FROM roles
          WHERE account_id = $1 AND permissions_boundary_arn IS NOT NULL`,
        [accountId],
      );
      const boundaries: Binding[] = [];
      for (const b of bounded) {
        boundaries.push({ member: `${b.kind}:${b.id}`, of: b.arn });
        if (used.has(b.arn)) continue;
        used.add(b.arn);
        const source = boundarySource(b.arn, customerByArn.get(b.arn));
        if (source) policies.push(source);
      }
      const layer = await loadGuardrails(tx, accountId);
      policies.push(...layer.policies);
      const guardrails = layer.guardrails;
      return { accountId, policies, bindings, boundaries, guardrails };
    });
  }

  private async holderId(
    tx: EntityManager,
    accountId: string,
    holderType: PolicyHolderType,
    holderName: string,
  ): Promise<string> {
    if (holderType === 'user') return (await this.identities.requireUser(tx, accountId, holderName)).id;
    if (holderType === 'group') return (await this.identities.requireGroup(tx, accountId, holderName)).id;
    return (await this.roles.requireRole(tx, accountId, holderName)).id;
  }

  /** The customer policy named `name` in any case (policy names are unique without regard to case). */
  async findCustomerPolicy(tx: EntityManager, accountId: string, name: string): Promise<PolicyEntity | null> {
    return tx
      .getRepository(PolicyEntity)
      .createQueryBuilder('p')
      .where('p.account_id = :accountId AND lower(p.name) = lower(:name)', { accountId, name })
      .getOne();
  }

  /** The canonical ARN of the customer policy `policyArn` reaches, if any. */
  private async findCustomerPolicyByArn(
    tx: EntityManager,
    accountId: string,
    policyArn: string,
  ): Promise<string | undefined> {
    const policy = await this.customerPolicyOf(tx, accountId, policyArn);
    return policy ? arn.policy(accountId, policy.name) : undefined;
  }

  /** A managed policy's ARN as given; a customer policy's canonical ARN; NOT_FOUND otherwise. */
  async canonicalPolicyArn(tx: EntityManager, accountId: string, policyArn: string): Promise<string> {
    if (getManagedPolicy(policyArn)) return policyArn;
    const policy = await this.requireCustomerPolicy(tx, accountId, policyArn);
    return arn.policy(accountId, policy.name);
  }

  private async customerPolicyOf(
    tx: EntityManager,
    accountId: string,
    policyArn: string,
  ): Promise<PolicyEntity | null> {
    // Only the name is matched without regard to case; the rest of the ARN must be exact.
    const parsed = parseArn(policyArn);
    const name =
      parsed?.partition === 'sluice' &&
      parsed.service === 'iam' &&
      parsed.region === '' &&
      parsed.resource.startsWith('policy/')
        ? parsed.resource.slice(7)
        : '';
    return parsed?.account === accountId && name ? this.findCustomerPolicy(tx, accountId, name) : null;
  }

  private async requireCustomerPolicy(
    tx: EntityManager,
    accountId: string,
    policyArn: string,
  ): Promise<PolicyEntity> {
    const policy = await this.customerPolicyOf(tx, accountId, policyArn);
    if (!policy) throw new NotFoundError(`Policy ${policyArn} does not exist`);
    return policy;
  }
}

function customerView(p: PolicyEntity): PolicyView {
  return {
    arn: arn.policy(p.accountId, p.name),
    name: p.name,
    description: p.description,
    document: p.document,
    isManaged: false,
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
  };
}

function managedView(p: ManagedPolicy): PolicyView {
  return {
    arn: p.arn,
    name: p.name,
    description: p.description,
    document: JSON.parse(p.documentJson) as unknown,
    isManaged: true,
    createdAt: null,
    updatedAt: null,
  };
}
