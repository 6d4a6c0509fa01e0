import type { EntityManager } from 'typeorm';
import { arn, PLATFORM_ACCOUNT_ID } from '../arn';
import type { PolicySource } from '../policy/account-authorizer';
import { getManagedPolicy, managedPolicySource } from '../policy/managed-policies';
import { parsePolicyDocument } from '../policy/policy-document';

/**
 * The policies of the layers above identity policies, read for the authorizer: an account's
 * guardrails and a principal's permissions boundary. Shared by the whole-account snapshot
 * (PolicyService.snapshot) and the per-principal loader.
 */

/**
 * The account's guardrails as policy sources under ids of their own (`guardrail:<arn>`, never
 * colliding with the account's policies), or `guardrails: undefined` for an account without
 * any (uncapped). A guardrail whose policy is gone allows nothing.
 */
export async function loadGuardrails(
  tx: EntityManager,
  accountId: string,
): Promise<{ policies: PolicySource[]; guardrails: string[] | undefined }> {
  const rows: { policy_arn: string; document: unknown; name: string | null }[] = await tx.query(
    `SELECT g.policy_arn, p.document, p.name FROM account_guardrails g
       LEFT JOIN policies p ON p.account_id = $2 AND $3 || p.name = g.policy_arn
      WHERE g.account_id = $1`,
    [accountId, PLATFORM_ACCOUNT_ID, arn.policy(PLATFORM_ACCOUNT_ID, '')],
  );
  if (!rows.length) return { policies: [], guardrails: undefined };
  const policies: PolicySource[] = [];
  const guardrails: string[] = [];
  for (const row of rows) {
    const id = `guardrail:${row.policy_arn}`;
    const managed = getManagedPolicy(row.policy_arn);
    const document = managed
      ? managed.document
      : row.document
        ? parsePolicyDocument(row.document)
        : undefined;
    if (!document) continue;
    policies.push({ id, arn: row.policy_arn, name: managed?.name ?? row.name ?? row.policy_arn, document });
    guardrails.push(id);
  }
  return { policies, guardrails };
}

/**
 * The source of a boundary policy (its id is its ARN, as when attached), or undefined when the
 * policy is gone — the boundary then binds to nothing and allows nothing.
 */
export function boundarySource(
  policyArn: string,
  customer: { name: string; document: unknown } | null | undefined,
): PolicySource | undefined {
  const managed = getManagedPolicy(policyArn);
  if (managed) return managedPolicySource(managed);
  if (!customer) return undefined;
  return {
    id: policyArn,
    arn: policyArn,
    name: customer.name,
    document: parsePolicyDocument(customer.document),
  };
}
