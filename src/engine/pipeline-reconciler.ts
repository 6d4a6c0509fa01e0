import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import type {
  ActionDeclaration,
  PipelineDeclaration,
  StageDeclaration,
} from '../pipelines/declaration/declaration';
import { findActionType } from '../pipelines/declaration/action-types';
import type { DeclarationCache } from './declaration-cache';
import type { JobData } from '../jobs/job-data';
import { actionTypeKey } from './engine-signals';
import type { ExecutionStarter } from './execution-starter';
import type { ExecutionStore } from './execution-store';
import type { Actor, InvokePermission } from './invoke-permission';
import type { ActionRow, ExecutionRow, StageRow } from './execution-rows';
import { nextActions, retryPlan, type ActionStates } from './model/stage-plan';
import type { ActionExecutionStatus } from './model/statuses';
import { resolveConfiguration } from './model/variables';

/** Cancels the job of an action execution that will not be waited for (abandoned, timed out). */
export interface JobCanceller {
  requestCancel(tx: EntityManager, accountId: string, actionExecutionId: string): Promise<void>;
}

export interface NewJob {
  accountId: string;
  actionExecutionId: string;
  /** `Build/Sluice/Shell/1` */
  actionType: string;
  data: JobData;
}

/** What the engine asks of the job module: queue a job for an action execution (src/jobs owns job rows). */
export interface JobEnqueuer {
  enqueue(tx: EntityManager, job: NewJob): Promise<void>;
}

interface Snapshot {
  executions: ExecutionRow[];
  /** Each execution's pinned declaration. */
  declarations: Map<string, PipelineDeclaration>;
  stages: Map<string, StageRow>; // `${executionId}|${stageName}`
  actions: ActionRow[];
  transitionsDisabled: Set<string>;
}

const MAX_PASSES = 50;
const APPROVAL = { category: 'Approval', owner: 'Sluice', provider: 'Manual', version: '1' };
const INVOKE_PIPELINE = { category: 'Invoke', owner: 'Sluice', provider: 'Pipeline', version: '1' };
const sameType = (a: ActionDeclaration['actionTypeId'], b: typeof APPROVAL): boolean =>
  a.category === b.category && a.owner === b.owner && a.provider === b.provider && a.version === b.version;

/**
 * Decides, for one pipeline, everything that can move now (DESIGN §6, CodePipeline's
 * semantics): lets waiting executions into stages, supersedes, starts the next runOrder group,
 * ends stages and executions, applies stops and onFailure. It runs in a transaction that holds
 * the pipeline's engine-state row, so only one engine instance decides for a pipeline at a
 * time; it reads everything it decides on inside that transaction, so a crash at any point
 * leaves the database in a state the next run continues from.
 */
export class PipelineReconciler {
  constructor(
    private readonly declarations: DeclarationCache,
    private readonly starter: ExecutionStarter,
    private readonly jobs: JobCanceller & JobEnqueuer,
    private readonly invokePermission: InvokePermission,
    private readonly store: ExecutionStore,
  ) {}

  async reconcile(tx: EntityManager, accountId: string, pipelineName: string): Promise<void> {
    for (let pass = 0; pass < MAX_PASSES; pass++) {
      const snapshot = await this.load(tx, accountId, pipelineName);
      if (!snapshot.executions.length) return;
      let changed = false;
      const occupied = this.occupiedStages(snapshot);
      for (const execution of snapshot.executions) {
        const declaration = snapshot.declarations.get(execution.id)!;
        const moved = execution.in_stage
          ? await this.advanceInStage(tx, execution, declaration, snapshot)
          : await this.advanceWaiting(tx, execution, declaration, snapshot, occupied);
        changed ||= moved;
      }
      if (!changed) return;
    }
  }

  private async load(tx: EntityManager, accountId: string, pipelineName: string): Promise<Snapshot> {
    const executions: ExecutionRow[] = await tx.query(
      `SELECT * FROM pipeline_executions WHERE account_id = $1 AND pipeline_name = $2
          AND status IN ('IN_PROGRESS', 'STOPPING') ORDER BY start_seq`,
      [accountId, pipelineName],
    );
    const declarations = new Map<string, PipelineDeclaration>();
    for (const e of executions) {
      declarations.set(e.id, await this.declarations.get(tx, accountId, pipelineName, e.pipeline_version));
    }
    if (!executions.length) {
      return { executions, declarations, stages: new Map(), actions: [], transitionsDisabled: new Set() };
    }
    const ids = executions.map((e) => e.id);
    const stages: StageRow[] = await tx.query(
      'SELECT * FROM stage_executions WHERE account_id = $1 AND pipeline_execution_id = ANY($2)',
      [accountId, ids],
    );
    const actions: ActionRow[] = await tx.query(
      `SELECT * FROM action_executions WHERE account_id = $1 AND pipeline_execution_id = ANY($2)
        ORDER BY started_at, id`,
      [accountId, ids],
    );
    const disabled: { stage_name: string }[] = await tx.query(
      'SELECT stage_name FROM stage_transitions WHERE account_id = $1 AND pipeline_name = $2 AND NOT enabled',
      [accountId, pipelineName],
    );
    return {
      executions,
      declarations,
      stages: new Map(stages.map((s) => [`${s.pipeline_execution_id}|${s.stage_name}`, s])),
      actions,
      transitionsDisabled: new Set(disabled.map((d) => d.stage_name)),
    };
  }

  /** Stages locked by the execution inside them (SUPERSEDED and QUEUED modes), by stage name. */
  private occupiedStages(snapshot: Snapshot): Set<string> {
    const occupied = new Set<string>();
    for (const e of snapshot.executions) {
      if (e.in_stage && e.execution_mode !== 'PARALLEL') occupied.add(this.stageNameOf(e, snapshot));
    }
    return occupied;
  }

  /** The stage an execution is in or waits for, by name (stage indexes can differ between versions). */
  private stageNameOf(e: ExecutionRow, snapshot: Snapshot): string {
    return snapshot.declarations.get(e.id)!.stages[e.stage_index].name;
  }

  // ---- an execution waiting in front of a stage ------------------------------------------------

  private async advanceWaiting(
    tx: EntityManager,
    e: ExecutionRow,
    declaration: PipelineDeclaration,
    snapshot: Snapshot,
    occupied: Set<string>,
  ): Promise<boolean> {
    const stage = declaration.stages[e.stage_index];
    if (e.stop_requested) {
      await this.store.setExecutionStatus(
        tx,
        e,
        'STOPPED',
        `Stopped before stage ${stage.name}: ${e.stop_reason ?? 'no reason given'}`,
      );
      return true;
    }
    if (e.execution_mode === 'SUPERSEDED') {
      // Only the newest execution waiting in front of a stage goes on; older ones are superseded.
      const newer = snapshot.executions.find(
        (o) =>
          o !== e &&
          BigInt(o.start_seq) > BigInt(e.start_seq) &&
          !o.in_stage &&
          o.status === 'IN_PROGRESS' &&
          !o.stop_requested &&
          o.execution_mode === 'SUPERSEDED' &&
          this.stageNameOf(o, snapshot) === stage.name,
      );
      if (newer) {
        await this.store.setExecutionStatus(
          tx,
          e,
          'SUPERSEDED',
          `Superseded by execution ${newer.id} in front of stage ${stage.name}`,
        );
        return true;
      }
    }
    const enabled = e.stage_index === 0 || !snapshot.transitionsDisabled.has(stage.name);
    if (!enabled) return false;
    if (e.execution_mode !== 'PARALLEL' && occupied.has(stage.name)) return false;
    await this.store.enterStage(tx, e, stage.name);
    if (e.execution_mode !== 'PARALLEL') occupied.add(stage.name);
    return true;
  }

  // ---- an execution inside a stage -------------------------------------------------------------

  private async advanceInStage(
    tx: EntityManager,
    e: ExecutionRow,
    declaration: PipelineDeclaration,
    snapshot: Snapshot,
  ): Promise<boolean> {
    const stageDecl = declaration.stages[e.stage_index];
    const stage = snapshot.stages.get(`${e.id}|${stageDecl.name}`);
    if (!stage) throw new Error(`execution ${e.id} is in stage ${stageDecl.name} without a stage execution`);
    // What counts in this run of the stage: everything of the current attempt, and what
    // succeeded in earlier attempts since counts_from_attempt (a FAILED_ACTIONS retry keeps
    // successes and runs the rest again; ALL_ACTIONS moves counts_from_attempt up).
    const rows = snapshot.actions.filter(
      (a) =>
        a.pipeline_execution_id === e.id &&
        a.stage_name === stageDecl.name &&
        a.stage_attempt >= stage.counts_from_attempt &&
        (a.stage_attempt === stage.attempt || a.status === 'SUCCEEDED'),
    );
    const latest = new Map<string, ActionRow>();
    for (const row of rows) latest.set(row.action_name, row); // ordered by start: the last wins
    const states: ActionStates = new Map([...latest].map(([name, row]) => [name, row.status]));
    const running = [...latest.values()].filter((a) => a.status === 'IN_PROGRESS');

    if (e.stop_requested === 'ABANDON' && running.length) {
      for (const action of running) {
        await this.store.endAction(tx, action.account_id, action.id, 'ABANDONED', {
          summary: `Abandoned: ${e.stop_reason ?? 'the execution was stopped'}`,
        });
        action.status = 'ABANDONED';
        await this.jobs.requestCancel(tx, e.account_id, action.id);
      }
      return true;
    }
    if (e.stop_requested) {
      if (running.length) {
        if (e.status === 'STOPPING') return false;
        await this.store.setExecutionStatus(
          tx,
          e,
          'STOPPING',
          `Stopping: ${e.stop_reason ?? 'no reason given'}`,
        );
        await this.store.setStageStatus(tx, stage, e, 'STOPPING');
        return true;
      }
      await this.store.setStageStatus(tx, stage, e, 'STOPPED');
      await this.store.setExecutionStatus(
        tx,
        e,
        'STOPPED',
        `Stopped in stage ${stageDecl.name}: ${e.stop_reason ?? 'no reason given'}`,
      );
      return true;
    }

    const step = nextActions(stageDecl.actions, states);
    if ('wait' in step) return false;
    if ('start' in step) {
      for (const name of step.start) {
        const action = stageDecl.actions.find((a) => a.name === name)!;
        await this.startAction(tx, e, declaration, stageDecl, stage, action, snapshot);
      }
      return true;
    }
    if (step.stageResult === 'SUCCEEDED') {
      await this.store.setStageStatus(tx, stage, e, 'SUCCEEDED');
      const last = e.stage_index === declaration.stages.length - 1;
      if (last || e.execution_type === 'ROLLBACK') {
        await this.store.setExecutionStatus(tx, e, 'SUCCEEDED', null);
      } else {
        await this.store.moveToNextStage(tx, e);
      }
      return true;
    }
    // The stage failed.
    const onFailure = stageDecl.onFailure?.result ?? 'FAIL';
    if (onFailure === 'RETRY' && !stage.auto_retried) {
      const mode = stageDecl.onFailure?.retryConfiguration?.retryMode ?? 'FAILED_ACTIONS';
      const plan = retryPlan(stageDecl.actions, states, mode);
      if (!('rejected' in plan)) {
        await this.store.retryStageAutomatically(tx, stage, mode);
        return true;
      }
    }
    const failed = [...latest.values()].find((a) => a.status === 'FAILED' || a.status === 'ABANDONED');
    await this.store.setStageStatus(tx, stage, e, 'FAILED');
    await this.store.setExecutionStatus(
      tx,
      e,
      'FAILED',
      `Stage ${stageDecl.name} failed` +
        (failed ? `: action ${failed.action_name}: ${failed.failure_message ?? failed.status}` : ''),
    );
    if (onFailure === 'ROLLBACK' && e.execution_mode !== 'PARALLEL' && e.execution_type !== 'ROLLBACK') {
      await this.rollBackAutomatically(tx, e, stageDecl);
    }
    return true;
  }

  private async rollBackAutomatically(
    tx: EntityManager,
    e: ExecutionRow,
    stage: StageDeclaration,
  ): Promise<void> {
    const targets: ExecutionRow[] = await tx.query(
      `SELECT p.* FROM pipeline_executions p
         JOIN stage_executions s ON s.account_id = p.account_id AND s.pipeline_execution_id = p.id
        WHERE p.account_id = $1 AND p.pipeline_name = $2 AND p.execution_type = 'STANDARD'
          AND p.pipeline_version = (SELECT version FROM pipelines WHERE account_id = $1 AND name = $2)
          AND s.stage_name = $3 AND s.status = 'SUCCEEDED' AND p.id <> $4
        ORDER BY p.start_seq DESC LIMIT 1`,
      [e.account_id, e.pipeline_name, stage.name, e.id],
    );
    if (!targets.length) return; // nothing earlier to go back to: the failure stands
    await this.starter.rollback(tx, {
      accountId: e.account_id,
      pipelineName: e.pipeline_name,
      stageName: stage.name,
      target: targets[0],
      triggerType: 'AUTOMATED_ROLLBACK',
      triggerDetail: e.id,
    });
  }

  // ---- starting an action ------------------------------------------------------------------------

  private async startAction(
    tx: EntityManager,
    e: ExecutionRow,
    declaration: PipelineDeclaration,
    stageDecl: StageDeclaration,
    stage: StageRow,
    action: ActionDeclaration,
    snapshot: Snapshot,
  ): Promise<void> {
    const type = findActionType(action.actionTypeId);
    const configuration: Record<string, string> = { ...action.configuration };
    const revision = e.source_revisions[action.name];
    if (stageDecl === declaration.stages[0] && revision) configuration.Revision = revision;
    const resolution = resolveConfiguration(configuration, {
      pipelineVariables: e.variables,
      execution: { pipelineExecutionId: e.id, pipelineName: e.pipeline_name },
      namespaces: this.namespacesVisible(e, declaration, stageDecl, action, snapshot),
    });
    const id = randomUUID();
    const timeoutMinutes = action.timeoutInMinutes ?? type?.defaultTimeoutMinutes ?? 60;
    const base = {
      id,
      stageAttempt: stage.attempt,
      configuration: action.configuration,
      timeoutMinutes,
    };
    if ('unresolved' in resolution) {
      const message = `Unresolvable variable references: ${resolution.unresolved.map((u) => `${u.reference} in ${u.key} (${u.message})`).join('; ')}`;
      await this.insertAction(tx, e, stageDecl, action, {
        ...base,
        status: 'FAILED',
        resolved: null,
        failure: ['CONFIGURATION_ERROR', message],
      });
      return;
    }
    const resolved = resolution.resolved;
    const invokes = sameType(action.actionTypeId, INVOKE_PIPELINE);
    // An action with a service role (its own or the pipeline's) acts as a session of it, begun
    // now: one that cannot be had fails the action, whatever its type.
    let acting: Actor | undefined;
    if (invokes || action.roleArn || declaration.roleArn) {
      const found = await this.invokePermission.actingPrincipal(tx, {
        accountId: e.account_id,
        pipelineName: e.pipeline_name,
        pipelineExecutionId: e.id,
        pipelineRoleArn: declaration.roleArn,
        actionRoleArn: action.roleArn,
      });
      if ('refused' in found) {
        await this.insertAction(tx, e, stageDecl, action, {
          ...base,
          status: 'FAILED',
          resolved,
          failure: [
            'PERMISSION_ERROR',
            invokes
              ? `Could not start pipeline ${resolved.PipelineName}: ${found.refused}`
              : found.refused.charAt(0).toUpperCase() + found.refused.slice(1),
          ],
        });
        return;
      }
      acting = found;
    }
    if (sameType(action.actionTypeId, APPROVAL)) {
      await this.insertAction(tx, e, stageDecl, action, {
        ...base,
        status: 'IN_PROGRESS',
        resolved,
        token: randomUUID(),
      });
      return;
    }
    if (invokes && acting) {
      await this.invokePipeline(tx, e, stageDecl, action, base, resolved, acting);
      return;
    }
    // Everything else runs as a job: inputs are the artifacts this execution has by name.
    const inputs: { name: string; sha256: string; size_bytes: string }[] = action.inputArtifacts.length
      ? await tx.query(
          `SELECT name, sha256, size_bytes FROM execution_artifacts
            WHERE account_id = $1 AND pipeline_execution_id = $2 AND name = ANY($3)`,
          [e.account_id, e.id, action.inputArtifacts.map((a) => a.name)],
        )
      : [];
    const missing = action.inputArtifacts.filter((a) => !inputs.some((i) => i.name === a.name));
    if (missing.length) {
      await this.insertAction(tx, e, stageDecl, action, {
        ...base,
        status: 'FAILED',
        resolved,
        failure: [
          'JOB_FAILED',
          `Input artifact ${missing.map((m) => m.name).join(', ')} was not produced in this execution`,
        ],
      });
      return;
    }
    await this.insertAction(tx, e, stageDecl, action, { ...base, status: 'IN_PROGRESS', resolved });
    await this.jobs.enqueue(tx, {
      accountId: e.account_id,
      actionExecutionId: id,
      actionType: actionTypeKey(action.actionTypeId),
      data: {
        actionTypeId: action.actionTypeId,
        actionConfiguration: resolved,
        pipelineContext: {
          pipelineName: e.pipeline_name,
          stage: stageDecl.name,
          action: action.name,
          pipelineExecutionId: e.id,
          actionExecutionId: id,
        },
        // In declaration order: the first is the primary input.
        inputArtifacts: action.inputArtifacts.map((a) => {
          const found = inputs.find((i) => i.name === a.name)!;
          return { name: a.name, sha256: found.sha256, sizeBytes: Number(found.size_bytes) };
        }),
        outputArtifacts: action.outputArtifacts.map((a) => ({ name: a.name })),
        timeoutMinutes,
      },
    });
  }

  private async invokePipeline(
    tx: EntityManager,
    e: ExecutionRow,
    stageDecl: StageDeclaration,
    action: ActionDeclaration,
    base: { id: string; stageAttempt: number; configuration: Record<string, string>; timeoutMinutes: number },
    resolved: Record<string, string>,
    acting: Actor,
  ): Promise<void> {
    const decision = await this.invokePermission.mayStart(
      tx,
      acting,
      { accountId: e.account_id, pipelineName: e.pipeline_name, pipelineExecutionId: e.id },
      resolved.PipelineName,
    );
    if (!decision.allowed) {
      await this.insertAction(tx, e, stageDecl, action, {
        ...base,
        status: 'FAILED',
        resolved,
        failure: [
          'PERMISSION_ERROR',
          `Could not start pipeline ${resolved.PipelineName}: ${decision.reason}`,
        ],
      });
      return;
    }
    const targetName = decision.pipelineName;
    try {
      // As validated: a JSON array of {name, value}.
      const variables = resolved.Variables
        ? (JSON.parse(resolved.Variables) as { name: string; value: unknown }[])
        : [];
      // In the target's account: another one's only when acting as a role there.
      const execution = await this.starter.start(tx, {
        accountId: decision.accountId,
        pipelineName: targetName,
        triggerType: 'START_PIPELINE_EXECUTION',
        triggerDetail: decision.triggerDetail,
        variables: variables.map((v) => ({ name: v.name, value: String(v.value) })),
      });
      await this.insertAction(tx, e, stageDecl, action, {
        ...base,
        status: 'SUCCEEDED',
        resolved,
        outputs: { PipelineExecutionId: execution.id },
        summary: `Started ${targetName} execution ${execution.id}`,
      });
    } catch (err) {
      await this.insertAction(tx, e, stageDecl, action, {
        ...base,
        status: 'FAILED',
        resolved,
        failure: ['CONFIGURATION_ERROR', `Could not start pipeline ${targetName}: ${(err as Error).message}`],
      });
    }
  }

  /**
   * `#{Namespace.Key}`: output variables of actions that ran before this one in the execution —
   * in an earlier stage, or in a lower runOrder of this stage.
   */
  private namespacesVisible(
    e: ExecutionRow,
    declaration: PipelineDeclaration,
    stageDecl: StageDeclaration,
    action: ActionDeclaration,
    snapshot: Snapshot,
  ): Record<string, Record<string, string>> {
    const visible: Record<string, Record<string, string>> = {};
    const stageIndex = declaration.stages.indexOf(stageDecl);
    declaration.stages.slice(0, stageIndex + 1).forEach((s, i) => {
      for (const a of s.actions) {
        if (!a.namespace) continue;
        if (i === stageIndex && a.runOrder >= action.runOrder) continue;
        const done = snapshot.actions.filter(
          (row) =>
            row.pipeline_execution_id === e.id &&
            row.stage_name === s.name &&
            row.action_name === a.name &&
            row.status === 'SUCCEEDED',
        );
        if (done.length) visible[a.namespace] = done[done.length - 1].output_variables;
      }
    });
    return visible;
  }

  private async insertAction(
    tx: EntityManager,
    e: ExecutionRow,
    stage: StageDeclaration,
    action: ActionDeclaration,
    a: {
      id: string;
      stageAttempt: number;
      status: ActionExecutionStatus;
      configuration: Record<string, string>;
      resolved: Record<string, string> | null;
      timeoutMinutes: number;
      token?: string;
      failure?: [string, string];
      outputs?: Record<string, string>;
      summary?: string;
    },
  ): Promise<void> {
    await this.store.startAction(tx, e, {
      id: a.id,
      stageName: stage.name,
      actionName: action.name,
      stageAttempt: a.stageAttempt,
      runOrder: action.runOrder,
      actionType: actionTypeKey(action.actionTypeId),
      configuration: a.configuration,
      resolved: a.resolved,
      inputArtifacts: action.inputArtifacts.map((i) => i.name),
      outputArtifacts: action.outputArtifacts.map((o) => o.name),
      timeoutMinutes: a.timeoutMinutes,
      token: a.token,
    });
    // Actions the engine decides at once (a configuration error, an Invoke/Pipeline start)
    // still start first, so every action's events read STARTED, then how it ended.
    if (a.status !== 'IN_PROGRESS') {
      await this.store.endAction(tx, e.account_id, a.id, a.status, {
        summary: a.summary ?? a.failure?.[1] ?? null,
        failureType: a.failure?.[0],
        failureMessage: a.failure?.[1],
        outputVariables: a.outputs,
      });
    }
  }
}
