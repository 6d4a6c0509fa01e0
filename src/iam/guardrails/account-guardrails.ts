import { PLATFORM_ACCOUNT_ID } from '../arn';
import type { IamChanges } from '../iam-changes';
import { managedPolicyArn } from '../policy/managed-policies';
import type { PolicyService, PolicyView } from '../policies/policy.service';
import type { Db } from '../../platform/db/unit-of-work';
import { BadInputError, ConflictError, NotFoundError } from '../../platform/errors';
import type { EntityManager } from 'typeorm';

/** What every account has until its platform administrator attaches guardrails of its own. */
export const GUARDRAIL_FULL_ACCESS = managedPolicyArn('GuardrailFullAccess');
const MAX_GUARDRAILS = 5;

/**
 * Account guardrails, as AWS Organizations' service control policies: policies of the platform
 * account (or managed ones) that cap every principal of an account, its root included. An
 * account without rows behaves as if GuardrailFullAccess were attached; the first attachment
 * makes that row real, so a deny-list guardrail added beside it blocks only what it denies.
 * The one writer of `account_guardrails`.
 */
export class AccountGuardrails {
  constructor(
    private readonly db: Db,
    private readonly changes: IamChanges,
    private readonly policies: PolicyService,
  ) {}

  async attach(accountId: string, policyArn: string): Promise<void> {
    await this.changes.write(accountId, async (tx) => {
      await this.requireTenant(tx, accountId);
      const canonical = await this.policies.canonicalPolicyArn(tx, PLATFORM_ACCOUNT_ID, policyArn);
      const attached = await this.attachedArns(tx, accountId);
      if (attached.includes(canonical)) return;
      if (attached.length >= MAX_GUARDRAILS) {
        throw new ConflictError(
          `Account ${accountId} already has ${MAX_GUARDRAILS} guardrails, the most allowed`,
        );
      }
      const rows =
        attached.length === 0 && canonical !== GUARDRAIL_FULL_ACCESS
          ? [GUARDRAIL_FULL_ACCESS, canonical]
          : [canonical];
      for (const arn of rows) {
        await tx.query('INSERT INTO account_guardrails (account_id, policy_arn) VALUES ($1, $2)', [
          accountId,
          arn,
        ]);
      }
    });
  }

  async detach(accountId: string, policyArn: string): Promise<void> {
    await this.changes.write(accountId, async (tx) => {
      await this.requireTenant(tx, accountId);
      const attached = await this.attachedArns(tx, accountId);
      const effective = attached.length ? attached : [GUARDRAIL_FULL_ACCESS];
      const canonical = effective.find((arn) => arn.toLowerCase() === policyArn.toLowerCase());
      if (!canonical)
        throw new NotFoundError(`Guardrail ${policyArn} is not attached to account ${accountId}`);
      if (effective.length === 1) {
        throw new ConflictError(
          `${canonical} is the last guardrail of account ${accountId}; attach another first (GuardrailFullAccess caps nothing)`,
        );
      }
      await tx.query('DELETE FROM account_guardrails WHERE account_id = $1 AND policy_arn = $2', [
        accountId,
        canonical,
      ]);
    });
  }

  async list(accountId: string): Promise<PolicyView[]> {
    await this.requireTenant(this.db.manager, accountId);
    const attached = await this.attachedArns(this.db.manager, accountId);
    return Promise.all(
      (attached.length ? attached : [GUARDRAIL_FULL_ACCESS]).map((arn) =>
        this.policies.getPolicy(PLATFORM_ACCOUNT_ID, arn),
      ),
    );
  }

  private async attachedArns(tx: EntityManager, accountId: string): Promise<string[]> {
    const rows: { policy_arn: string }[] = await tx.query(
      'SELECT policy_arn FROM account_guardrails WHERE account_id = $1 ORDER BY attached_at, policy_arn',
      [accountId],
    );
    return rows.map((r) => r.policy_arn);
  }

  private async requireTenant(tx: EntityManager, accountId: string): Promise<void> {
    if (accountId === PLATFORM_ACCOUNT_ID) {
      throw BadInputError.of('Guardrail', [
        {
          path: 'accountId',
          message: 'guardrails never cap the platform account, as SCPs never cap the management account',
        },
      ]);
    }
    const rows: unknown[] = await tx.query('SELECT 1 FROM accounts WHERE id = $1', [accountId]);
    if (!rows.length) throw new NotFoundError(`Account ${accountId} does not exist`);
  }
}
