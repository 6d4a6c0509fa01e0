import type { EntityManager } from 'typeorm';

/** Writers → sequencer: rows are waiting for a number (a coalesced wake-up, never data). */
export const OUTBOX_CHANNEL = 'sluice_outbox';
/** Sequencer → every instance's feed: rows up to the payload's sequence are numbered. */
export const EVENTS_CHANNEL = 'sluice_events';

export const detailTypes = [
  'Pipeline Execution State Change',
  'Stage Execution State Change',
  'Action Execution State Change',
] as const;
export type DetailType = (typeof detailTypes)[number];

/** One state change as CodePipeline's EventBridge shapes it (DESIGN §4, `PipelineEvent`). */
export interface OutboxEvent {
  accountId: string;
  pipelineName: string;
  executionId: string;
  stageName?: string | null;
  actionName?: string | null;
  actionExecutionId?: string | null;
  detailType: DetailType;
  /** CodePipeline's event state: STARTED, RESUMED, SUCCEEDED, FAILED, STOPPING, STOPPED, … */
  state: string;
  /** The EventBridge `detail`, camelCase. */
  detail: Record<string, unknown>;
}

/**
 * Appends events to the outbox in the caller's transaction: they exist if and only if the
 * change they describe commits. The sequencer numbers them after the commit (the NOTIFY is
 * delivered only then).
 */
export class Outbox {
  private bypass = false;

  /**
   * Bench only (bench/engine.ts measures what the outbox costs the engine, IPC from
   * bench/support/bench-server.ts): skips writing events. Nothing else calls it.
   */
  setBenchmarkBypass(bypass: boolean): void {
    this.bypass = bypass;
  }

  /**
   * Runs `work` with the events it appends to `tx` held back and written in one statement at
   * its end, in order (the engine's reconcile pass changes many rows in one transaction).
   * Nothing is written if `work` throws: its transaction rolls back anyway.
   */
  async batch<T>(tx: EntityManager, work: () => Promise<T>): Promise<T> {
    if (this.held.has(tx)) return work();
    const events: OutboxEvent[] = [];
    this.held.set(tx, events);
    try {
      const result = await work();
      await this.write(tx, events);
      return result;
    } finally {
      this.held.delete(tx);
    }
  }

  async append(tx: EntityManager, events: readonly OutboxEvent[]): Promise<void> {
    if (this.bypass || events.length === 0) return;
    const held = this.held.get(tx);
    if (held) held.push(...events);
    else await this.write(tx, events);
  }

  private readonly held = new WeakMap<EntityManager, OutboxEvent[]>();

  private async write(tx: EntityManager, events: readonly OutboxEvent[]): Promise<void> {
    if (this.bypass || events.length === 0) return;
    // One statement, one round trip: the rows in order (`id` keeps the order they were
    // written in), and the wake-up, which PostgreSQL delivers only at COMMIT (identical
    // payloads in one transaction are delivered once).
    await tx.query(
      `WITH written AS (
         INSERT INTO pipeline_events
           (account_id, pipeline_name, execution_id, stage_name, action_name, action_execution_id,
            detail_type, state, detail)
         SELECT a, p, x, s, n, ae, d, st, det
           FROM unnest($1::char(12)[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::uuid[],
                       $7::text[], $8::text[], $9::jsonb[]) WITH ORDINALITY
                AS e(a, p, x, s, n, ae, d, st, det, ord)
          ORDER BY ord
       )
       SELECT pg_notify($10, '')`,
      [
        events.map((e) => e.accountId),
        events.map((e) => e.pipelineName),
        events.map((e) => e.executionId),
        events.map((e) => e.stageName ?? null),
        events.map((e) => e.actionName ?? null),
        events.map((e) => e.actionExecutionId ?? null),
        events.map((e) => e.detailType),
        events.map((e) => e.state),
        events.map((e) => JSON.stringify(e.detail)),
        OUTBOX_CHANNEL,
      ],
    );
  }
}
