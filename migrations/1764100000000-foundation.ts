import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Accounts, identities, IAM policies, pipeline definitions and tags.
 * Every tenant-owned table carries account_id first in its primary key (DESIGN §2), so the
 * schema can later be sharded by account.
 */
export class Foundation1764100000000 implements MigrationInterface {
  name = 'Foundation1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE accounts (
        id char(12) PRIMARY KEY CHECK (id ~ '^[0-9]{12}$'),
        name text NOT NULL,
        root_password_hash text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE users (
        account_id char(12) NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        id text NOT NULL,
        name text NOT NULL,
        password_hash text,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, id)
      );
      -- IAM user names are unique without regard to case.
      CREATE UNIQUE INDEX users_name_key ON users (account_id, lower(name));

      CREATE TABLE access_keys (
        account_id char(12) NOT NULL,
        id text NOT NULL,
        user_id text NOT NULL,
        secret_hash text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, id),
        FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
      );
      -- getSessionToken looks a key up by its id alone; ids are random and long.
      CREATE INDEX access_keys_id_idx ON access_keys (id);

      CREATE TABLE groups (
        account_id char(12) NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        id text NOT NULL,
        name text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, id)
      );
      CREATE UNIQUE INDEX groups_name_key ON groups (account_id, lower(name));

      CREATE TABLE group_members (
        account_id char(12) NOT NULL,
        group_id text NOT NULL,
        user_id text NOT NULL,
        PRIMARY KEY (account_id, group_id, user_id),
        FOREIGN KEY (account_id, group_id) REFERENCES groups (account_id, id) ON DELETE CASCADE,
        FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
      );

      CREATE TABLE policies (
        account_id char(12) NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        id text NOT NULL,
        name text NOT NULL,
        description text,
        document jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, id)
      );
      CREATE UNIQUE INDEX policies_name_key ON policies (account_id, lower(name));

      -- Managed and customer policies attached to a user or group, by ARN.
      CREATE TABLE policy_attachments (
        account_id char(12) NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        principal_type text NOT NULL CHECK (principal_type IN ('user', 'group', 'role')),
        principal_id text NOT NULL,
        policy_arn text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, principal_type, principal_id, policy_arn)
      );
      CREATE INDEX policy_attachments_policy_idx ON policy_attachments (account_id, policy_arn);

      CREATE TABLE inline_policies (
        account_id char(12) NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        principal_type text NOT NULL CHECK (principal_type IN ('user', 'group', 'role')),
        principal_id text NOT NULL,
        name text NOT NULL,
        document jsonb NOT NULL,
        PRIMARY KEY (account_id, principal_type, principal_id, name)
      );

      CREATE TABLE pipelines (
        account_id char(12) NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        name text NOT NULL,
        version integer NOT NULL,
        declaration jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, name)
      );

      -- Every version a pipeline had, so executions can pin one and users can read old ones.
      CREATE TABLE pipeline_versions (
        account_id char(12) NOT NULL,
        pipeline_name text NOT NULL,
        version integer NOT NULL,
        declaration jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by text NOT NULL,
        PRIMARY KEY (account_id, pipeline_name, version),
        FOREIGN KEY (account_id, pipeline_name) REFERENCES pipelines (account_id, name) ON DELETE CASCADE
      );

      CREATE TABLE resource_tags (
        account_id char(12) NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        resource_arn text NOT NULL,
        key text NOT NULL,
        value text NOT NULL,
        PRIMARY KEY (account_id, resource_arn, key)
      );

      -- Failed sign-ins per user and per address, shared by every instance for throttling.
      CREATE TABLE auth_failures (
        key text PRIMARY KEY,
        failures integer NOT NULL,
        window_started_at timestamptz NOT NULL,
        blocked_until timestamptz
      );

      -- Public halves of token-signing keys, so any instance verifies any instance's tokens.
      CREATE TABLE signing_keys (
        kid text PRIMARY KEY,
        algorithm text NOT NULL,
        public_key_pem text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE signing_keys, auth_failures, resource_tags, pipeline_versions, pipelines, inline_policies,
        policy_attachments, policies, group_members, groups, access_keys, users, accounts;
    `);
  }
}
