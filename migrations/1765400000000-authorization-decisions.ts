import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Explanations of denials (issue 9, point 6): an ACCESS_DENIED error carries a decision id; an
 * administrator of the caller's account looks it up to see which layer denied and which
 * statements decided, as STS's DecodeAuthorizationMessage does. Kept for a bounded time.
 */
export class AuthorizationDecisions1765400000000 implements MigrationInterface {
  name = 'AuthorizationDecisions1765400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE authorization_decisions (
        account_id char(12) NOT NULL,
        id uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        principal_arn text NOT NULL,
        action text NOT NULL,
        resource text NOT NULL,
        explanation jsonb NOT NULL,
        PRIMARY KEY (account_id, id)
      );
      CREATE INDEX authorization_decisions_age_idx ON authorization_decisions (created_at);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE authorization_decisions');
  }
}
