import type { ActionDeclaration, RetryMode } from '../../pipelines/declaration/declaration';
import type { ActionExecutionStatus } from './statuses';

/**
 * What one stage execution does next, decided from its declaration and the statuses of its
 * actions alone, so the engine can ask after every change and get the same answer (a crash
 * between two steps just asks again).
 *
 * `states` maps an action name to the status of its latest action execution *that counts in
 * the current run of the stage*, undefined (or absent) when the action has not run in it.
 * A FAILED_ACTIONS retry keeps the earlier results (its reruns become the latest); an
 * ALL_ACTIONS retry discards every earlier result (see `retryPlan`), which the engine must
 * honour, e.g. by numbering the stage execution's attempts.
 *
 * Whether anything may start at all (a stop requested, the stage cancelled) is the engine's
 * business: this module only says what the runOrder rules allow.
 */

export type PlannedAction = Pick<ActionDeclaration, 'name' | 'runOrder'>;
export type ActionStates = ReadonlyMap<string, ActionExecutionStatus | undefined>;

export type NextStep =
  /** Start these actions now (declaration order): the lowest runOrder not yet run. */
  | { start: string[] }
  /** Nothing to start and nothing to decide: actions are running. */
  | { wait: true }
  /** Every action succeeded, or one failed and nothing runs any more. */
  | { stageResult: 'SUCCEEDED' | 'FAILED' };

/** An action that did not succeed and will not: it holds the stage back until retried. */
function isFailed(status: ActionExecutionStatus | undefined): boolean {
  return status === 'FAILED' || status === 'ABANDONED';
}

/** The actions grouped by runOrder, lowest first, each group in declaration order. */
export function runOrderGroups<A extends PlannedAction>(actions: readonly A[]): A[][] {
  const groups = new Map<number, A[]>();
  for (const action of actions) {
    const group = groups.get(action.runOrder);
    if (group) group.push(action);
    else groups.set(action.runOrder, [action]);
  }
  return [...groups.entries()].sort(([a], [b]) => a - b).map(([, group]) => group);
}

/**
 * Rules (CodePipeline's): runOrder groups run in ascending order, the actions of one group
 * in parallel; a group starts only when every action of every lower group succeeded. Once
 * an action failed (or was abandoned) nothing new starts, and the stage fails when nothing
 * runs any more, so running actions always finish and record their results. A stage with
 * no action succeeds (declarations always have one).
 */
export function nextActions(actions: readonly PlannedAction[], states: ActionStates): NextStep {
  const statuses = actions.map((action) => states.get(action.name));
  if (statuses.some(isFailed)) {
    return statuses.includes('IN_PROGRESS') ? { wait: true } : { stageResult: 'FAILED' };
  }
  for (const group of runOrderGroups(actions)) {
    if (group.every((action) => states.get(action.name) === 'SUCCEEDED')) continue;
    // Not-yet-started members of a started group (a crash between two starts) start now.
    const start = group.filter((action) => states.get(action.name) === undefined).map((a) => a.name);
    return start.length ? { start } : { wait: true };
  }
  return { stageResult: 'SUCCEEDED' };
}

export type RetryPlan =
  | {
      /** Actions to run again now, as new action executions (declaration order). */
      start: string[];
      /**
       * Actions whose earlier results stop counting in this stage execution, applied before
       * `start`: they are "not run" for `nextActions` until they run again (their action
       * executions stay as history). Empty for FAILED_ACTIONS; for ALL_ACTIONS every action
       * that has run, so the engine may simply begin a new attempt of the stage execution.
       */
      discard: string[];
    }
  | { rejected: string };

/**
 * Which actions a retry of a failed (or stopped) stage runs again.
 * - FAILED_ACTIONS: in the lowest runOrder group that did not fully succeed, the actions
 *   that failed, were abandoned or never started; actions still running keep running and
 *   earlier successes keep their results (and output variables). Later groups then follow
 *   normally through `nextActions`.
 * - ALL_ACTIONS: the stage restarts from its first runOrder: every earlier result is
 *   discarded and the lowest group starts. As in CodePipeline, not while an action runs.
 * Whether the stage may be retried at all (its status, the latest execution in the stage)
 * is the engine's check; `rejected` covers only what the action states decide.
 */
export function retryPlan(
  actions: readonly PlannedAction[],
  states: ActionStates,
  mode: RetryMode,
): RetryPlan {
  const groups = runOrderGroups(actions);
  if (mode === 'ALL_ACTIONS') {
    const running = actions.filter((action) => states.get(action.name) === 'IN_PROGRESS');
    if (running.length) {
      const names = running.map((action) => action.name).join(', ');
      return { rejected: `ALL_ACTIONS restarts the stage, which still has actions in progress: ${names}` };
    }
    return {
      start: (groups[0] ?? []).map((action) => action.name),
      discard: actions.filter((action) => states.get(action.name) !== undefined).map((action) => action.name),
    };
  }
  const group = groups.find((candidate) =>
    candidate.some((action) => states.get(action.name) !== 'SUCCEEDED'),
  );
  const start = (group ?? [])
    .filter((action) => {
      const status = states.get(action.name);
      return status === undefined || isFailed(status);
    })
    .map((action) => action.name);
  if (!start.length) {
    return {
      rejected: group
        ? 'FAILED_ACTIONS found no failed action to run again: the remaining ones are in progress'
        : 'FAILED_ACTIONS found no failed action to run again: every action succeeded',
    };
  }
  return { start, discard: [] };
}
