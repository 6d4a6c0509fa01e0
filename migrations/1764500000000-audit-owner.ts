import type { MigrationInterface, QueryRunner } from 'typeorm';

const APPEND_ARGS =
  'text[], uuid[], timestamptz[], text[], boolean[], text[], text[], json[], text[], integer[], text[]';
const AUDIT_TABLES = 'audit_events, audit_event_resources, audit_chain_heads, audit_digests';

/**
 * The audit trail belongs to a role no one logs in as, `sluice_audit_owner`, so the role
 * Sluice connects with cannot change it by any path but two functions that role owns:
 *
 * - `audit_append(…)` (SECURITY DEFINER) is the only writer of events and chain heads;
 * - `audit_prune(account, cutoff, …)` (SECURITY DEFINER) is the only way rows leave: whole
 *   sealed ranges, each prune recorded as a PruneAuditEvents event in the same transaction.
 *   It replaces the `sluice.audit_prune` session setting, which any session could set.
 *
 * The triggers now let a DELETE through only when it runs as the owner role (that is, inside
 * audit_prune), and guard audit_chain_heads as the events are guarded: a head is created at 0
 * and moves one event at a time, from its own last hash, only through audit_append; no DELETE,
 * no TRUNCATE. The connecting role keeps SELECT (and INSERT on audit_digests, for the sealer)
 * and EXECUTE on the two functions; not owning the tables, it cannot disable their triggers.
 * A superuser still can (session_replication_role); validateAuditTrail is what catches that.
 *
 * Needs a superuser or a role with CREATEROLE (the embedded database's user is a superuser).
 */
export class AuditOwner1764500000000 implements MigrationInterface {
  name = 'AuditOwner1764500000000';

  async up(q: QueryRunner): Promise<void> {
    const [{ schema }] = (await q.query('SELECT current_schema() AS schema')) as { schema: string }[];
    const searchPath = `${quoteIdent(schema)}, pg_temp`;
    await q.query(`
      DO $$
      BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sluice_audit_owner') THEN
          CREATE ROLE sluice_audit_owner NOLOGIN;
        END IF;
        -- Handing objects to a role needs membership in it unless one is a superuser; the
        -- membership is dropped again at the end of this migration.
        IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
          EXECUTE format('GRANT sluice_audit_owner TO %I', current_user);
        END IF;
      END $$;
      -- The owner reaches its tables through the schema; a new owner needs CREATE on it (for
      -- the hand-over only, revoked below).
      GRANT USAGE, CREATE ON SCHEMA ${quoteIdent(schema)} TO sluice_audit_owner;

      -- Digests arrive in time order: lets each sealer read cheaply which digests appeared
      -- since it last looked (src/audit/digest-watermarks.ts).
      CREATE INDEX audit_digests_created_idx ON audit_digests USING brin (created_at);

      CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        -- Only audit_prune runs as the owner role: no login role is, or should be, a member.
        IF TG_OP = 'DELETE' AND current_user = 'sluice_audit_owner'
           AND TG_TABLE_NAME IN ('audit_events', 'audit_event_resources') THEN
          RETURN OLD;
        END IF;
        RAISE EXCEPTION 'the audit trail is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
          USING ERRCODE = 'insufficient_privilege';
      END $$;

      CREATE FUNCTION audit_chain_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF current_user = 'sluice_audit_owner' THEN
          IF TG_OP = 'INSERT' THEN
            IF NEW.last_seq = 0 AND NEW.last_hash = repeat('0', 64) THEN
              RETURN NEW;
            END IF;
          ELSIF TG_OP = 'UPDATE' THEN
            IF NEW.account_id = OLD.account_id AND NEW.last_seq = OLD.last_seq + 1
               AND NEW.prev_hash = OLD.last_hash THEN
              RETURN NEW;
            END IF;
          END IF;
        END IF;
        RAISE EXCEPTION 'audit chain heads move forward one event at a time, through audit_append() only: % refused', TG_OP
          USING ERRCODE = 'insufficient_privilege';
      END $$;

      CREATE TRIGGER audit_chain_heads_guard BEFORE INSERT OR UPDATE OR DELETE ON audit_chain_heads
        FOR EACH ROW EXECUTE FUNCTION audit_chain_head_guard();
      CREATE TRIGGER audit_chain_heads_no_truncate BEFORE TRUNCATE ON audit_chain_heads
        FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

      -- Retention for one account: removes every event up to the last digest whose events are
      -- all older than p_cutoff (a whole sealed range, so the first kept event stays anchored
      -- to a signed hash), then records a PruneAuditEvents event saying how far it went, which
      -- validateAuditTrail checks the first kept event against. No row when nothing qualifies.
      CREATE FUNCTION audit_prune(p_account text, p_cutoff timestamptz, p_retention_days integer, p_region text)
        RETURNS TABLE (through_seq bigint, anchor_digest_seq bigint, removed_events bigint)
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = ${searchPath} AS $$
      DECLARE
        first_seq bigint;
        keep bigint;
        anchor record;
        removed bigint;
        stamp timestamptz;
        rec json;
      BEGIN
        PERFORM pg_advisory_xact_lock(hashtext('audit-prune:' || p_account));
        SELECT min(e.seq) INTO first_seq FROM audit_events e WHERE e.account_id = p_account;
        IF first_seq IS NULL THEN
          RETURN;
        END IF;
        SELECT coalesce(min(e.seq), (SELECT max(m.seq) + 1 FROM audit_events m WHERE m.account_id = p_account))
          INTO keep FROM audit_events e WHERE e.account_id = p_account AND e.event_time >= p_cutoff;
        SELECT d.digest_seq, d.last_event_seq INTO anchor FROM audit_digests d
         WHERE d.account_id = p_account AND d.last_event_seq < keep ORDER BY d.digest_seq DESC LIMIT 1;
        IF NOT FOUND OR anchor.last_event_seq < first_seq THEN
          RETURN;
        END IF;
        DELETE FROM audit_event_resources r WHERE r.account_id = p_account AND r.seq <= anchor.last_event_seq;
        DELETE FROM audit_events e WHERE e.account_id = p_account AND e.seq <= anchor.last_event_seq;
        GET DIAGNOSTICS removed = ROW_COUNT;
        -- Milliseconds, as every event's time: the JSON and the column must agree.
        stamp := date_trunc('milliseconds', clock_timestamp());
        rec := json_build_object(
          'eventVersion', '1.08',
          'eventID', gen_random_uuid(),
          'eventTime', to_char(stamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'eventSource', 'cloudtrail.sluice',
          'eventName', 'PruneAuditEvents',
          'eventType', 'AwsServiceEvent',
          'awsRegion', p_region,
          'readOnly', false,
          'userIdentity', json_build_object('type', 'AWSService', 'principalId', 'sluice'),
          'sourceIPAddress', 'sluice',
          'userAgent', NULL,
          'requestParameters', json_build_object(
            'retentionDays', p_retention_days,
            'cutoff', to_char(p_cutoff AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            'throughSeq', anchor.last_event_seq,
            'anchorDigestSeq', anchor.digest_seq),
          'responseElements', NULL,
          'errorCode', NULL,
          'errorMessage', NULL,
          'requestID', gen_random_uuid(),
          'recipientAccountId', p_account,
          'resources', json_build_array());
        PERFORM audit_append(
          ARRAY[p_account], ARRAY[(rec->>'eventID')::uuid], ARRAY[stamp], ARRAY['PruneAuditEvents'],
          ARRAY[false], ARRAY[NULL::text], ARRAY[NULL::text], ARRAY[rec],
          ARRAY[encode(sha256(convert_to(rec::text, 'UTF8')), 'hex')], ARRAY[]::integer[], ARRAY[]::text[]);
        RETURN QUERY SELECT anchor.last_event_seq, anchor.digest_seq, removed;
      END $$;

      ALTER FUNCTION audit_append(${APPEND_ARGS}) SECURITY DEFINER SET search_path = ${searchPath};
      ALTER FUNCTION audit_append(${APPEND_ARGS}) OWNER TO sluice_audit_owner;
      ALTER FUNCTION audit_prune(text, timestamptz, integer, text) OWNER TO sluice_audit_owner;
      REVOKE EXECUTE ON FUNCTION audit_append(${APPEND_ARGS}), audit_prune(text, timestamptz, integer, text) FROM PUBLIC;
      GRANT EXECUTE ON FUNCTION audit_append(${APPEND_ARGS}), audit_prune(text, timestamptz, integer, text) TO CURRENT_USER;

      ALTER TABLE audit_events OWNER TO sluice_audit_owner;
      ALTER TABLE audit_event_resources OWNER TO sluice_audit_owner;
      ALTER TABLE audit_chain_heads OWNER TO sluice_audit_owner;
      ALTER TABLE audit_digests OWNER TO sluice_audit_owner;
      GRANT SELECT ON ${AUDIT_TABLES} TO CURRENT_USER;
      GRANT INSERT ON audit_digests TO CURRENT_USER;
      REVOKE CREATE ON SCHEMA ${quoteIdent(schema)} FROM sluice_audit_owner;

      DO $$
      BEGIN
        IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
          EXECUTE format('REVOKE sluice_audit_owner FROM %I', current_user);
        END IF;
      END $$;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE audit_events OWNER TO CURRENT_USER;
      ALTER TABLE audit_event_resources OWNER TO CURRENT_USER;
      ALTER TABLE audit_chain_heads OWNER TO CURRENT_USER;
      ALTER TABLE audit_digests OWNER TO CURRENT_USER;
      ALTER FUNCTION audit_append(${APPEND_ARGS}) OWNER TO CURRENT_USER;
      ALTER FUNCTION audit_append(${APPEND_ARGS}) SECURITY INVOKER RESET search_path;
      GRANT EXECUTE ON FUNCTION audit_append(${APPEND_ARGS}) TO PUBLIC;
      DROP FUNCTION audit_prune(text, timestamptz, integer, text);
      DROP TRIGGER audit_chain_heads_guard ON audit_chain_heads;
      DROP TRIGGER audit_chain_heads_no_truncate ON audit_chain_heads;
      DROP FUNCTION audit_chain_head_guard();
      DROP INDEX audit_digests_created_idx;
      CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' AND current_setting('sluice.audit_prune', true) = 'on' THEN
          RETURN OLD;
        END IF;
        RAISE EXCEPTION 'the audit trail is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
          USING ERRCODE = 'insufficient_privilege';
      END $$;
    `);
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
