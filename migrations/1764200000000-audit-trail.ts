import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit trail (DESIGN §8): append-only events, hash-chained per account, with signed
 * digests of each account's chain head. Triggers refuse UPDATE, DELETE and TRUNCATE for every
 * role; the one way rows leave is retention pruning, which sets `sluice.audit_prune` for its
 * own transaction and is itself audited.
 */
export class AuditTrail1764200000000 implements MigrationInterface {
  name = 'AuditTrail1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_events (
        account_id char(12) NOT NULL,
        -- Position in the account's chain: 1, 2, 3, … with no gaps.
        seq bigint NOT NULL,
        event_id uuid NOT NULL,
        event_time timestamptz NOT NULL,
        event_name text NOT NULL,
        read_only boolean NOT NULL,
        principal_arn text,
        error_code text,
        -- The whole CloudTrail-shaped record; the columns above are copies for searching,
        -- checked against it by validateAuditTrail.
        event jsonb NOT NULL,
        prev_hash text NOT NULL,
        hash text NOT NULL,
        PRIMARY KEY (account_id, seq)
      );
      CREATE UNIQUE INDEX audit_events_event_id_key ON audit_events (account_id, event_id);
      CREATE INDEX audit_events_principal_idx ON audit_events (account_id, principal_arn, seq DESC);
      CREATE INDEX audit_events_name_idx ON audit_events (account_id, event_name, seq DESC);
      CREATE INDEX audit_events_time_idx ON audit_events (account_id, event_time);

      -- The ARNs each event touched, for lookups by resource, newest first.
      CREATE TABLE audit_event_resources (
        account_id char(12) NOT NULL,
        resource_arn text NOT NULL,
        seq bigint NOT NULL,
        PRIMARY KEY (account_id, resource_arn, seq)
      );

      -- Where each account's chain ends; locked by writers so they agree on order.
      CREATE TABLE audit_chain_heads (
        account_id char(12) PRIMARY KEY,
        last_seq bigint NOT NULL,
        last_hash text NOT NULL
      );

      CREATE TABLE audit_digests (
        account_id char(12) NOT NULL,
        digest_seq bigint NOT NULL,
        last_event_seq bigint NOT NULL,
        last_event_hash text NOT NULL,
        previous_digest_hash text NOT NULL,
        digest_hash text NOT NULL,
        created_at timestamptz NOT NULL,
        kid text NOT NULL,
        signature text NOT NULL,
        PRIMARY KEY (account_id, digest_seq)
      );

      CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' AND current_setting('sluice.audit_prune', true) = 'on' THEN
          RETURN OLD;
        END IF;
        RAISE EXCEPTION 'the audit trail is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
          USING ERRCODE = 'insufficient_privilege';
      END $$;

      CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_append_only();
      CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
      CREATE TRIGGER audit_event_resources_append_only BEFORE UPDATE OR DELETE ON audit_event_resources
        FOR EACH ROW EXECUTE FUNCTION audit_append_only();
      CREATE TRIGGER audit_event_resources_no_truncate BEFORE TRUNCATE ON audit_event_resources
        FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
      CREATE TRIGGER audit_digests_append_only BEFORE UPDATE OR DELETE ON audit_digests
        FOR EACH ROW EXECUTE FUNCTION audit_append_only();
      CREATE TRIGGER audit_digests_no_truncate BEFORE TRUNCATE ON audit_digests
        FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE audit_digests, audit_chain_heads, audit_event_resources, audit_events;
      DROP FUNCTION audit_append_only();
    `);
  }
}
