import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * IAM roles (issue 9): a name unique in the account without regard to case, as IAM has it, a
 * trust policy saying who may assume the role, and the longest session it grants. Its
 * permissions are the policy attachments and inline policies of principal type `role`, which
 * the foundation migration already allows.
 */
export class Roles1765200000000 implements MigrationInterface {
  name = 'Roles1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE roles (
        account_id char(12) NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        id text NOT NULL,
        name text NOT NULL,
        assume_role_policy jsonb NOT NULL,
        max_session_duration integer NOT NULL DEFAULT 3600
          CHECK (max_session_duration BETWEEN 3600 AND 43200),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, id)
      );
      CREATE UNIQUE INDEX roles_name_key ON roles (account_id, lower(name));
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE roles');
  }
}
