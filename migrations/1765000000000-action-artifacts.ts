import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The artifact names an action execution was declared with, kept on its row so every event of
 * it (started, succeeded, failed, abandoned — whoever ends it) carries CodePipeline's
 * `inputArtifacts` / `outputArtifacts` without reading the pinned declaration again.
 */
export class ActionArtifacts1765000000000 implements MigrationInterface {
  name = 'ActionArtifacts1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE action_executions
        ADD COLUMN input_artifacts jsonb NOT NULL DEFAULT '[]',
        ADD COLUMN output_artifacts jsonb NOT NULL DEFAULT '[]'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE action_executions DROP COLUMN input_artifacts, DROP COLUMN output_artifacts');
  }
}
