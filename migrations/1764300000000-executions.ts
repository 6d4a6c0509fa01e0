import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Pipeline executions, stage and action executions, jobs, artifacts, logs and transitions
 * (DESIGN §6–7). All state lives here: any number of server processes run the engine against
 * these rows, serialising their decisions per pipeline with a row lock.
 */
export class Executions1764300000000 implements MigrationInterface {
  name = 'Executions1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      -- One row per pipeline, locked (FOR UPDATE SKIP LOCKED) by the engine instance deciding
      -- for it; 'dirty' marks pipelines with something to decide.
      CREATE TABLE pipeline_engine_state (
        account_id char(12) NOT NULL,
        pipeline_name text NOT NULL,
        dirty boolean NOT NULL DEFAULT true,
        next_wakeup_at timestamptz,
        PRIMARY KEY (account_id, pipeline_name),
        FOREIGN KEY (account_id, pipeline_name) REFERENCES pipelines (account_id, name) ON DELETE CASCADE
      );
      CREATE INDEX pipeline_engine_state_dirty_idx ON pipeline_engine_state (account_id, pipeline_name) WHERE dirty;
      CREATE INDEX pipeline_engine_state_wakeup_idx ON pipeline_engine_state (next_wakeup_at) WHERE next_wakeup_at IS NOT NULL;

      CREATE TABLE pipeline_executions (
        account_id char(12) NOT NULL,
        id uuid NOT NULL,
        pipeline_name text NOT NULL,
        pipeline_version integer NOT NULL,
        execution_mode text NOT NULL,
        -- STANDARD or ROLLBACK
        execution_type text NOT NULL DEFAULT 'STANDARD',
        rollback_target_id uuid,
        status text NOT NULL,
        status_summary text,
        trigger_type text NOT NULL,
        trigger_detail text,
        client_request_token text,
        -- Resolved pipeline variables {name: value}.
        variables jsonb NOT NULL DEFAULT '{}',
        -- Source revision overrides by source action name {action: revisionId}.
        source_revisions jsonb NOT NULL DEFAULT '{}',
        -- Where it is: the stage it is in, or waits in front of (an inbound execution).
        stage_index integer NOT NULL DEFAULT 0,
        in_stage boolean NOT NULL DEFAULT false,
        stop_requested text CHECK (stop_requested IN ('WAIT', 'ABANDON')),
        stop_reason text,
        started_at timestamptz NOT NULL DEFAULT now(),
        -- Total order of starts, for QUEUED/SUPERSEDED decisions.
        start_seq bigserial,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, id)
      );
      CREATE INDEX pipeline_executions_pipeline_idx ON pipeline_executions (account_id, pipeline_name, start_seq DESC);
      CREATE INDEX pipeline_executions_active_idx ON pipeline_executions (account_id, pipeline_name, start_seq)
        WHERE status IN ('IN_PROGRESS', 'STOPPING');
      CREATE UNIQUE INDEX pipeline_executions_token_key ON pipeline_executions (account_id, pipeline_name, client_request_token)
        WHERE client_request_token IS NOT NULL;

      CREATE TABLE stage_executions (
        account_id char(12) NOT NULL,
        pipeline_execution_id uuid NOT NULL,
        pipeline_name text NOT NULL,
        stage_name text NOT NULL,
        stage_index integer NOT NULL,
        -- Each retry of the stage is a new attempt. Action executions of attempts from
        -- counts_from_attempt on count: FAILED_ACTIONS keeps earlier successes, ALL_ACTIONS
        -- starts counting afresh.
        attempt integer NOT NULL DEFAULT 1,
        counts_from_attempt integer NOT NULL DEFAULT 1,
        status text NOT NULL,
        auto_retried boolean NOT NULL DEFAULT false,
        started_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, pipeline_execution_id, stage_name),
        FOREIGN KEY (account_id, pipeline_execution_id) REFERENCES pipeline_executions (account_id, id) ON DELETE CASCADE
      );
      -- pipelineState: the latest execution of each stage.
      CREATE INDEX stage_executions_latest_idx ON stage_executions (account_id, pipeline_name, stage_name, started_at DESC);

      CREATE TABLE action_executions (
        account_id char(12) NOT NULL,
        id uuid NOT NULL,
        pipeline_execution_id uuid NOT NULL,
        pipeline_name text NOT NULL,
        stage_name text NOT NULL,
        action_name text NOT NULL,
        stage_attempt integer NOT NULL,
        run_order integer NOT NULL,
        action_type text NOT NULL,
        status text NOT NULL,
        summary text,
        configuration jsonb NOT NULL DEFAULT '{}',
        resolved_configuration jsonb,
        output_variables jsonb NOT NULL DEFAULT '{}',
        external_execution_id text,
        failure_type text,
        failure_message text,
        -- Approvals: the token to answer with, and who answered.
        token text,
        decided_by text,
        timeout_at timestamptz,
        started_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, id),
        FOREIGN KEY (account_id, pipeline_execution_id) REFERENCES pipeline_executions (account_id, id) ON DELETE CASCADE
      );
      CREATE INDEX action_executions_execution_idx ON action_executions (account_id, pipeline_execution_id, stage_name);
      CREATE INDEX action_executions_pipeline_idx ON action_executions (account_id, pipeline_name, started_at DESC);
      -- pipelineState: the latest execution of each declared action, one index probe each.
      CREATE INDEX action_executions_latest_idx
        ON action_executions (account_id, pipeline_name, stage_name, action_name, started_at DESC);
      CREATE INDEX action_executions_timeout_idx ON action_executions (timeout_at) WHERE status = 'IN_PROGRESS';

      -- One row per attempt to run an action execution (DESIGN §7).
      CREATE TABLE jobs (
        account_id char(12) NOT NULL,
        id uuid NOT NULL,
        action_execution_id uuid NOT NULL,
        -- category/owner/provider/version, what workers poll for.
        action_type text NOT NULL,
        status text NOT NULL,
        -- Changes on every claim: every write by a worker must present the current one.
        nonce text,
        attempt integer NOT NULL DEFAULT 0,
        lease_expires_at timestamptz,
        worker_id text,
        cancel_requested boolean NOT NULL DEFAULT false,
        data jsonb NOT NULL,
        -- When the current attempt was acknowledged, and when the job ended: the action's own
        -- run time, as opposed to the time spent deciding and queueing around it.
        run_started_at timestamptz,
        run_finished_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, id),
        FOREIGN KEY (account_id, action_execution_id) REFERENCES action_executions (account_id, id) ON DELETE CASCADE
      );
      CREATE INDEX jobs_queue_idx ON jobs (action_type, created_at) WHERE status = 'QUEUED';
      CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE status IN ('DISPATCHED', 'IN_PROGRESS');
      CREATE INDEX jobs_action_idx ON jobs (account_id, action_execution_id);

      CREATE TABLE execution_artifacts (
        account_id char(12) NOT NULL,
        pipeline_execution_id uuid NOT NULL,
        name text NOT NULL,
        sha256 text NOT NULL,
        size_bytes bigint NOT NULL,
        produced_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, pipeline_execution_id, name),
        FOREIGN KEY (account_id, pipeline_execution_id) REFERENCES pipeline_executions (account_id, id) ON DELETE CASCADE
      );
      CREATE INDEX execution_artifacts_sha_idx ON execution_artifacts (sha256);

      CREATE TABLE action_logs (
        account_id char(12) NOT NULL,
        action_execution_id uuid NOT NULL,
        "offset" bigint NOT NULL,
        text text NOT NULL,
        PRIMARY KEY (account_id, action_execution_id, "offset"),
        FOREIGN KEY (account_id, action_execution_id) REFERENCES action_executions (account_id, id) ON DELETE CASCADE
      );

      CREATE TABLE stage_transitions (
        account_id char(12) NOT NULL,
        pipeline_name text NOT NULL,
        stage_name text NOT NULL,
        enabled boolean NOT NULL,
        disabled_reason text,
        last_changed_by text NOT NULL,
        last_changed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, pipeline_name, stage_name),
        FOREIGN KEY (account_id, pipeline_name) REFERENCES pipelines (account_id, name) ON DELETE CASCADE
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE stage_transitions, action_logs, execution_artifacts, jobs, action_executions, stage_executions,
        pipeline_executions, pipeline_engine_state;
    `);
  }
}
