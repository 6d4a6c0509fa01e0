import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Inline policy names are unique per user or group without regard to case (as IAM names are):
 * `putUserPolicy(policyName: "OWN")` replaces `own` instead of adding a second policy.
 *
 * Existing names of one holder that differ only in case are merged first, keeping the one put
 * most recently. inline_policies has no update time, so "most recently" is read from the audit
 * trail: the successful Put{User,Group}Policy event with the highest sequence number that names
 * the holder and exactly that spelling. Where the trail no longer tells (pruned, or rows written
 * without an audited call), the first spelling in C order stays — deterministic either way.
 */
export class InlinePolicyNames1764800000000 implements MigrationInterface {
  name = 'InlinePolicyNames1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      WITH duplicated AS (
        SELECT i.account_id, i.principal_type, i.principal_id, i.name,
               coalesce(u.name, g.name) AS holder_name
          FROM inline_policies i
          LEFT JOIN users u
            ON i.principal_type = 'user' AND u.account_id = i.account_id AND u.id = i.principal_id
          LEFT JOIN groups g
            ON i.principal_type = 'group' AND g.account_id = i.account_id AND g.id = i.principal_id
         WHERE EXISTS (
           SELECT 1 FROM inline_policies o
            WHERE o.account_id = i.account_id AND o.principal_type = i.principal_type
              AND o.principal_id = i.principal_id AND lower(o.name) = lower(i.name) AND o.name <> i.name)
      ), puts AS (
        SELECT e.account_id, e.seq,
               CASE e.event_name WHEN 'PutUserPolicy' THEN 'user' ELSE 'group' END AS principal_type,
               e.event::jsonb -> 'requestParameters' AS parameters
          FROM audit_events e
         WHERE e.account_id IN (SELECT account_id FROM duplicated)
           AND e.event_name IN ('PutUserPolicy', 'PutGroupPolicy') AND e.error_code IS NULL
      ), last_put AS (
        SELECT d.account_id, d.principal_type, d.principal_id, d.name, max(p.seq) AS seq
          FROM duplicated d
          LEFT JOIN puts p
            ON p.account_id = d.account_id AND p.principal_type = d.principal_type
           AND p.parameters ->> 'policyName' = d.name
           AND lower(p.parameters ->> CASE d.principal_type WHEN 'user' THEN 'userName' ELSE 'groupName' END)
               = lower(d.holder_name)
         GROUP BY d.account_id, d.principal_type, d.principal_id, d.name
      ), ranked AS (
        SELECT account_id, principal_type, principal_id, name,
               row_number() OVER (
                 PARTITION BY account_id, principal_type, principal_id, lower(name)
                 ORDER BY seq DESC NULLS LAST, name COLLATE "C"
               ) AS rank
          FROM last_put
      )
      DELETE FROM inline_policies i USING ranked r
       WHERE r.rank > 1 AND i.account_id = r.account_id AND i.principal_type = r.principal_type
         AND i.principal_id = r.principal_id AND i.name = r.name;

      CREATE UNIQUE INDEX inline_policies_name_ci
        ON inline_policies (account_id, principal_type, principal_id, lower(name));
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX inline_policies_name_ci`);
  }
}
