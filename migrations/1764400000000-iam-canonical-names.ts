import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * IAM names and tag keys are unique without regard to case (as in IAM):
 * - policy attachments hold the policy's canonical ARN (an attachment made with a case
 *   variant of the name did not apply, and deletePolicy did not see it);
 * - a resource's tag keys are unique by lower(key) while keeping the spelling they were
 *   given. Of existing keys differing only in case, the first in C order stays.
 */
export class IamCanonicalNames1764400000000 implements MigrationInterface {
  name = 'IamCanonicalNames1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      WITH variants AS (
        SELECT a.account_id, a.principal_type, a.principal_id, a.policy_arn, a.created_at,
               'arn:sluice:iam::' || p.account_id || ':policy/' || p.name AS canonical
          FROM policy_attachments a
          JOIN policies p ON p.account_id = a.account_id
         WHERE starts_with(a.policy_arn, 'arn:sluice:iam::' || a.account_id || ':policy/')
           AND lower(substr(a.policy_arn, length('arn:sluice:iam::' || a.account_id || ':policy/') + 1))
               = lower(p.name)
           AND a.policy_arn <> 'arn:sluice:iam::' || p.account_id || ':policy/' || p.name
      ), canonical AS (
        INSERT INTO policy_attachments (account_id, principal_type, principal_id, policy_arn, created_at)
        SELECT account_id, principal_type, principal_id, canonical, min(created_at)
          FROM variants GROUP BY account_id, principal_type, principal_id, canonical
        ON CONFLICT DO NOTHING
      )
      DELETE FROM policy_attachments a USING variants v
       WHERE a.account_id = v.account_id AND a.principal_type = v.principal_type
         AND a.principal_id = v.principal_id AND a.policy_arn = v.policy_arn;

      DELETE FROM resource_tags t USING resource_tags k
       WHERE k.account_id = t.account_id AND k.resource_arn = t.resource_arn
         AND lower(k.key) = lower(t.key) AND k.key COLLATE "C" < t.key COLLATE "C";
      CREATE UNIQUE INDEX resource_tags_key_ci ON resource_tags (account_id, resource_arn, lower(key));
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX resource_tags_key_ci`);
  }
}
