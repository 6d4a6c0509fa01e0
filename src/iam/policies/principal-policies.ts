import type { EntityManager } from 'typeorm';
import { arn } from '../arn';
import type { AccountSnapshot, Binding, PolicySource } from '../policy/account-authorizer';
import { getManagedPolicy, managedPolicySource } from '../policy/managed-policies';
import { parsePolicyDocument } from '../policy/policy-document';
import { boundarySource, loadGuardrails } from './layer-policies';
import type { PolicyHolderType } from './policy.entity';

/**
 * What one principal's authorizer needs, read on demand: the policies a user reaches (its
 * attached and inline policies, and its groups' attached and inline policies) or a role's
 * (attached and inline), as an AccountSnapshot restricted to that principal. Any other key (an
 * account root, a principal without policies) reaches none. Loading one principal costs what
 * it reaches, whatever the size of its account — unlike `PolicyService.snapshot`, which reads
 * the whole account.
 */

/**
 * The principal's permissions boundary and its account's guardrails, with the policies they
 * name. Guardrails cap every key of the account, the root's included.
 */
export interface PrincipalLayers {
  policies: PolicySource[];
  boundaries?: Binding[];
  guardrails?: string[];
}

/**
 * The permissions boundary of `principalKey` (bound as `{member: principalKey, of: <its ARN>}`)
 * and the account's guardrails, with the policies they name. Read in statements of their own:
 * a change committed between them and the identity policies is followed by an invalidation,
 * and the authorizer never keeps a build that raced one.
 */
export async function loadPrincipalLayers(
  tx: EntityManager,
  accountId: string,
  principalKey: string,
): Promise<PrincipalLayers> {
  const holder = holderOf(principalKey);
  const policies: PolicySource[] = [];
  let boundaries: Binding[] | undefined;
  if (holder && holder.type !== 'group') {
    const rows: { boundary: string | null; name: string | null; document: unknown }[] = await tx.query(
      `SELECT h.permissions_boundary_arn AS boundary, p.name, p.document
         FROM ${holder.type === 'user' ? 'users' : 'roles'} h
         LEFT JOIN policies p ON p.account_id = h.account_id AND $3 || p.name = h.permissions_boundary_arn
        WHERE h.account_id = $1 AND h.id = $2`,
      [accountId, holder.id, arn.policy(accountId, '')],
    );
    const boundary = rows[0]?.boundary;
    if (boundary) {
      boundaries = [{ member: principalKey, of: boundary }];
      const source = boundarySource(
        boundary,
        rows[0].name !== null ? { name: rows[0].name, document: rows[0].document } : null,
      );
      if (source) policies.push(source);
    }
  }
  const layer = await loadGuardrails(tx, accountId);
  policies.push(...layer.policies);
  return { policies, boundaries, guardrails: layer.guardrails };
}

/** `user:<AIDA id>` or `role:<AROA id>`: the keys whose policies hang off a policy holder. */
export function holderOf(principalKey: string): { type: PolicyHolderType; id: string } | undefined {
  const colon = principalKey.indexOf(':');
  const type = principalKey.slice(0, colon);
  const id = principalKey.slice(colon + 1);
  if (colon < 0 || !id || (type !== 'user' && type !== 'role')) return undefined;
  return { type, id };
}

/**
 * One statement, one round trip: the holder itself and (for a user) its groups, then every
 * attachment of those holders — with the customer policy's document when the ARN names one of
 * the account's policies (policy names are unique without regard to case, and attachments hold
 * the canonical ARN: the exact comparison keeps a stale spelling from matching, the lower-case
 * one lets policies_name_key serve the join) — and every inline policy. Every read is an index
 * probe by (account_id, principal_type, principal_id) or by (account_id, lower(name)).
 */
const PRINCIPAL_POLICIES_SQL = `
  WITH holders AS (
    SELECT $2::text AS principal_type, $3::text AS principal_id, 0 AS rank
    UNION ALL
    SELECT 'group', gm.group_id, 1
      FROM group_members gm
     WHERE $2::text = 'user' AND gm.account_id = $1 AND gm.user_id = $3
  )
  SELECT 'member' AS kind, h.principal_type, h.principal_id, h.rank, NULL::text AS ref,
         NULL::text AS name, NULL::jsonb AS document
    FROM holders h
   WHERE h.rank = 1
  UNION ALL
  SELECT 'attached', h.principal_type, h.principal_id, h.rank, a.policy_arn, p.name, p.document
    FROM holders h
    JOIN policy_attachments a
      ON a.account_id = $1 AND a.principal_type = h.principal_type AND a.principal_id = h.principal_id
    LEFT JOIN policies p
      ON p.account_id = $1
     AND lower(p.name) = lower(substr(a.policy_arn, length($4::text) + 1))
     AND a.policy_arn = $4::text || p.name
  UNION ALL
  SELECT 'inline', h.principal_type, h.principal_id, h.rank, i.name, i.name, i.document
    FROM holders h
    JOIN inline_policies i
      ON i.account_id = $1 AND i.principal_type = h.principal_type AND i.principal_id = h.principal_id
   ORDER BY rank, principal_id, kind, ref`;

interface Row {
  kind: 'member' | 'attached' | 'inline';
  principal_type: PolicyHolderType;
  principal_id: string;
  ref: string | null;
  name: string | null;
  document: unknown;
}

/**
 * The AccountSnapshot of what `principalKey` reaches in `accountId`, read through `tx` (give it
 * the pool's manager, not a unit of work's: a cached authorizer must only hold committed
 * state). Policy source ids and bindings are those of `PolicyService.snapshot`, so decisions
 * and explanations are the same as from the whole account's snapshot.
 */
export async function loadPrincipalSnapshot(
  tx: EntityManager,
  accountId: string,
  principalKey: string,
): Promise<AccountSnapshot> {
  const holder = holderOf(principalKey);
  const rows: Row[] = holder
    ? await tx.query(PRINCIPAL_POLICIES_SQL, [accountId, holder.type, holder.id, arn.policy(accountId, '')])
    : [];
  const layers = await loadPrincipalLayers(tx, accountId, principalKey);

  const policies = new Map<string, PolicySource>();
  const bindings: Binding[] = [];
  for (const row of rows) {
    const member = `${row.principal_type}:${row.principal_id}`;
    if (row.kind === 'member') {
      bindings.push({ member: principalKey, of: member });
      continue;
    }
    if (row.ref === null) continue;
    if (row.kind === 'inline') {
      const id = `inline:${row.principal_type}/${row.principal_id}/${row.ref}`;
      bindings.push({ member, of: id });
      policies.set(id, { id, arn: id, name: row.ref, document: parsePolicyDocument(row.document) });
      continue;
    }
    bindings.push({ member, of: row.ref });
    if (policies.has(row.ref)) continue;
    const managed = getManagedPolicy(row.ref);
    if (managed) policies.set(row.ref, managedPolicySource(managed));
    else if (row.name !== null) {
      policies.set(row.ref, {
        id: row.ref,
        arn: row.ref,
        name: row.name,
        document: parsePolicyDocument(row.document),
      });
    }
  }
  for (const source of layers.policies) if (!policies.has(source.id)) policies.set(source.id, source);
  return {
    accountId,
    policies: [...policies.values()],
    bindings,
    ...(layers.boundaries ? { boundaries: layers.boundaries } : {}),
    ...(layers.guardrails ? { guardrails: layers.guardrails } : {}),
  };
}
