import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Guardrails (issue 9, point 3). A user's or role's permissions boundary (IAM's
 * PermissionsBoundary): the canonical ARN of a managed policy or a customer policy of its
 * account. An account's guardrails (AWS Organizations' service control policies): managed
 * policies or customer policies of the platform account; an account without rows is uncapped,
 * as if the managed GuardrailFullAccess were attached.
 */
export class BoundariesGuardrails1765300000000 implements MigrationInterface {
  name = 'BoundariesGuardrails1765300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE users ADD COLUMN permissions_boundary_arn text;
      ALTER TABLE roles ADD COLUMN permissions_boundary_arn text;
      CREATE TABLE account_guardrails (
        account_id char(12) NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        policy_arn text NOT NULL,
        attached_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, policy_arn)
      );
      CREATE INDEX account_guardrails_policy_idx ON account_guardrails (policy_arn);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE account_guardrails;
      ALTER TABLE roles DROP COLUMN permissions_boundary_arn;
      ALTER TABLE users DROP COLUMN permissions_boundary_arn;
    `);
  }
}
