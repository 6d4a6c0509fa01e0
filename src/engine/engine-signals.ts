import type { EntityManager } from 'typeorm';

/** NOTIFY channels: coalesced wake-ups only, never data (DESIGN §2). */
export const ENGINE_CHANNEL = 'sluice_engine';
export const JOBS_CHANNEL = 'sluice_jobs';

/**
 * Marks a pipeline as having something for the engine to decide, and wakes every engine
 * instance when `tx` commits. The flag, not the notification, is what guarantees the work is
 * done: a notification missed by a restarting instance is caught by the next periodic tick.
 */
export async function markPipelineDirty(
  tx: EntityManager,
  accountId: string,
  pipelineName: string,
): Promise<void> {
  await tx.query(
    `INSERT INTO pipeline_engine_state (account_id, pipeline_name, dirty) VALUES ($1, $2, true)
     ON CONFLICT (account_id, pipeline_name) DO UPDATE SET dirty = true`,
    [accountId, pipelineName],
  );
  await tx.query('SELECT pg_notify($1, $2)', [ENGINE_CHANNEL, `${accountId}|${pipelineName}`]);
}

/** Wakes job workers (embedded and remote) when `tx` commits: a job of `actionType` is queued. */
export async function notifyJobQueued(tx: EntityManager, actionType: string): Promise<void> {
  await tx.query('SELECT pg_notify($1, $2)', [JOBS_CHANNEL, actionType]);
}

/** `Build/Sluice/Shell/1`: how jobs name their action type. */
export function actionTypeKey(id: {
  category: string;
  owner: string;
  provider: string;
  version: string;
}): string {
  return `${id.category}/${id.owner}/${id.provider}/${id.version}`;
}
