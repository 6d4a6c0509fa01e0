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
        -- The whole CloudTrail-shaped record, exactly as written (json, not jsonb: the chain
        -- covers these very bytes, and json stores them without conversion). The columns above
        -- are copies for searching, checked against it by validateAuditTrail.
        event json NOT NULL,
        prev_hash text NOT NULL,
        hash text NOT NULL,
        PRIMARY KEY (account_id, seq)
      );
      -- Keep records of up to ~8 KB inline and uncompressed: pglz on every insert costs more
      -- CPU than the space it saves.
      ALTER TABLE audit_events SET (toast_tuple_target = 8160);
      CREATE INDEX audit_events_principal_idx ON audit_events (account_id, principal_arn, seq DESC);
      CREATE INDEX audit_events_name_idx ON audit_events (account_id, event_name, seq DESC);
      -- Rows arrive in time order: a BRIN index serves time ranges at almost no write cost.
      CREATE INDEX audit_events_time_idx ON audit_events USING brin (event_time);

      -- The ARNs each event touched, for lookups by resource, newest first.
      CREATE TABLE audit_event_resources (
        account_id char(12) NOT NULL,
        resource_arn text NOT NULL,
        seq bigint NOT NULL,
        PRIMARY KEY (account_id, resource_arn, seq)
      );

      -- Where each account's chain ends: locked by writers so they agree on order.
      -- prev_hash is the hash before last_hash, so one UPDATE … RETURNING both locks the head
      -- and hands back everything the new row needs.
      CREATE TABLE audit_chain_heads (
        account_id char(12) PRIMARY KEY,
        last_seq bigint NOT NULL,
        last_hash text NOT NULL,
        prev_hash text NOT NULL DEFAULT repeat('0', 64)
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

      -- An event's link in its account's chain: its position, its predecessor's hash and the
      -- SHA-256 of its JSON text (computed by the writer; see src/audit/audit-hash.ts).
      CREATE FUNCTION audit_chain_hash(account text, seq bigint, prev text, content_digest text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT encode(sha256(convert_to(account || '|' || seq || '|' || prev || '|' || content_digest, 'UTF8')), 'hex')
      $$;

      -- Appends events to their accounts' chains: for each, moves the account's head (locking it
      -- until the calling transaction ends), inserts the event and the ARNs it touched. The
      -- writer passes the searchable fields alongside the JSON so nothing here re-parses it.
      -- Accounts are taken in sorted order, so two writers cannot deadlock on their heads.
      -- res_event[k] is the (1-based) event that ARN res_arn[k] belongs to.
      CREATE FUNCTION audit_append(
        accounts text[], event_ids uuid[], event_times timestamptz[], event_names text[], read_only boolean[],
        principal_arns text[], error_codes text[], events json[], content_digests text[],
        res_event integer[], res_arn text[]
      ) RETURNS void LANGUAGE plpgsql AS $$
      DECLARE
        i integer;
        acct text;
        new_seq bigint;
        prev text;
        h text;
      BEGIN
        FOR i IN SELECT ord FROM unnest(accounts) WITH ORDINALITY AS u(a, ord) ORDER BY a, ord LOOP
          acct := accounts[i];
          LOOP
            UPDATE audit_chain_heads
               SET last_seq = last_seq + 1, prev_hash = last_hash,
                   last_hash = audit_chain_hash(account_id, last_seq + 1, last_hash, content_digests[i])
             WHERE account_id = acct
            RETURNING last_seq, prev_hash, last_hash INTO new_seq, prev, h;
            EXIT WHEN FOUND;
            -- The account's first event starts its chain.
            INSERT INTO audit_chain_heads (account_id, last_seq, last_hash)
              VALUES (acct, 0, repeat('0', 64)) ON CONFLICT (account_id) DO NOTHING;
          END LOOP;
          INSERT INTO audit_events (account_id, seq, event_id, event_time, event_name, read_only,
                                    principal_arn, error_code, event, prev_hash, hash)
          VALUES (acct, new_seq, event_ids[i], event_times[i], event_names[i], read_only[i],
                  principal_arns[i], error_codes[i], events[i], prev, h);
          INSERT INTO audit_event_resources (account_id, resource_arn, seq)
          SELECT DISTINCT acct, res_arn[k], new_seq FROM generate_subscripts(res_event, 1) AS k WHERE res_event[k] = i;
        END LOOP;
      END $$;

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
      DROP FUNCTION audit_append_only(),
        audit_append(text[], uuid[], timestamptz[], text[], boolean[], text[], text[], json[], text[], integer[], text[]),
        audit_chain_hash(text, bigint, text, text);
    `);
  }
}
