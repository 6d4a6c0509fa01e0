import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The events outbox (DESIGN §9). Every execution state change appends a row in the
 * transaction of the change, without a sequence; the sequencer (src/events/) numbers committed
 * rows afterwards, one batch at a time under one lock, so a number is never handed out below
 * one a reader may already have seen: a bigserial alone commits out of order under concurrency.
 * `id` is only the order rows were written in, used to number a batch.
 */
export class EventsOutbox1764900000000 implements MigrationInterface {
  name = 'EventsOutbox1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE pipeline_events (
        id bigserial PRIMARY KEY,
        -- Set by the sequencer once the row's transaction committed; readers see only numbered rows.
        sequence bigint,
        account_id char(12) NOT NULL,
        pipeline_name text NOT NULL,
        execution_id uuid NOT NULL,
        stage_name text,
        action_name text,
        action_execution_id uuid,
        -- "Pipeline Execution State Change" | "Stage Execution State Change" | "Action Execution State Change"
        detail_type text NOT NULL,
        -- CodePipeline's event state: STARTED, RESUMED, SUCCEEDED, FAILED, …
        state text NOT NULL,
        -- CodePipeline's EventBridge detail, camelCase.
        detail jsonb NOT NULL,
        -- When the change was made (not when its transaction began).
        time timestamptz NOT NULL DEFAULT clock_timestamp()
      );
      CREATE UNIQUE INDEX pipeline_events_sequence_key ON pipeline_events (sequence);
      CREATE INDEX pipeline_events_pending_idx ON pipeline_events (id) WHERE sequence IS NULL;
      CREATE INDEX pipeline_events_account_idx ON pipeline_events (account_id, sequence)
        WHERE sequence IS NOT NULL;
      CREATE INDEX pipeline_events_pipeline_idx ON pipeline_events (account_id, pipeline_name, sequence)
        WHERE sequence IS NOT NULL;

      -- One row: the last sequence handed out (locked by the sequencer while it numbers a
      -- batch) and the highest sequence retention has deleted up to (replays must start there).
      CREATE TABLE pipeline_event_sequence (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        last_sequence bigint NOT NULL DEFAULT 0,
        pruned_through bigint NOT NULL DEFAULT 0
      );
      INSERT INTO pipeline_event_sequence DEFAULT VALUES;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE pipeline_event_sequence; DROP TABLE pipeline_events;');
  }
}
