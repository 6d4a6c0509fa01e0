import { ConflictError } from '../../platform/errors';
import {
  actionExecutionStatuses,
  jobStatuses,
  pipelineExecutionStatuses,
  stageExecutionStatuses,
  type ActionExecutionStatus,
  type JobStatus,
  type PipelineExecutionStatus,
  type StageExecutionStatus,
} from './statuses';

/**
 * The engine's state machines as data (STYLE habit 6): one table per machine lists every
 * allowed move once, with the reason it exists; `transition` is the one function that
 * checks a move, and a test walks every (from, to) pair against a matrix written apart.
 *
 * Contracts:
 * - Creation is not a transition. A row is born in one of the machine's `initial` statuses
 *   (checked with `initialStatus`); there is no "null" pseudo-state in the tables, because
 *   there is no earlier row to lock, compare-and-set or report as "from".
 * - A self-move is never a transition: an update that keeps the status (a heartbeat, a new
 *   summary, a second stop-and-abandon on a STOPPING execution) must not emit a state
 *   change, so `transition(m, s, s)` throws.
 * - `terminal` statuses are those in which nothing runs and nothing happens by itself.
 *   Most have no exit; FAILED and STOPPED executions and stages keep one, the retry, which a
 *   person (or `onFailure: RETRY`) triggers.
 * - The tables say what may ever happen; whether it may happen *now* (the latest execution
 *   of a stage, the execution mode, a stop already requested) is the engine's check.
 */

/** For each from-status, the statuses it may move to, each with why the move exists. */
type TransitionTable<S extends string> = { readonly [From in S]: { readonly [To in S]?: string } };

export interface StateMachine<S extends string> {
  /** How messages name a row of this machine, e.g. `pipeline execution`. */
  readonly name: string;
  readonly statuses: readonly S[];
  /** The statuses a new row may be created in, with why. */
  readonly initial: ReadonlyMap<S, string>;
  /** Allowed moves: `transitions.get(from)` holds every allowed `to`. */
  readonly transitions: ReadonlyMap<S, ReadonlySet<S>>;
  /** Why each allowed move exists (same pairs as `transitions`). */
  readonly reasons: ReadonlyMap<S, ReadonlyMap<S, string>>;
  readonly terminal: ReadonlySet<S>;
}

function defineMachine<S extends string>(definition: {
  name: string;
  statuses: readonly S[];
  initial: { readonly [Status in S]?: string };
  table: TransitionTable<S>;
  terminal: readonly S[];
}): StateMachine<S> {
  const reasons = new Map<S, ReadonlyMap<S, string>>();
  const transitions = new Map<S, ReadonlySet<S>>();
  for (const from of definition.statuses) {
    const row = new Map(entriesOf<S>(definition.table[from]));
    reasons.set(from, row);
    transitions.set(from, new Set(row.keys()));
  }
  return {
    name: definition.name,
    statuses: definition.statuses,
    initial: new Map(entriesOf<S>(definition.initial)),
    transitions,
    reasons,
    terminal: new Set(definition.terminal),
  };
}

function entriesOf<S extends string>(record: { readonly [Status in S]?: string }): [S, string][] {
  return (Object.entries(record) as [S, string | undefined][]).filter(
    (entry): entry is [S, string] => entry[1] !== undefined,
  );
}

export const pipelineExecutionMachine: StateMachine<PipelineExecutionStatus> = defineMachine({
  name: 'pipeline execution',
  statuses: pipelineExecutionStatuses,
  initial: {
    IN_PROGRESS:
      'every execution (start, trigger, rollback) is created running; waiting in front of a locked ' +
      'stage or a disabled transition is still IN_PROGRESS (an inbound execution)',
  },
  table: {
    IN_PROGRESS: {
      STOPPING: 'a stop was requested while actions run: they finish (or are abandoned) first',
      STOPPED:
        'a stop was requested with nothing running (an inbound execution, or every running action ' +
        'abandoned in the same step): there is nothing to wait for',
      SUCCEEDED: 'its last stage succeeded',
      FAILED:
        'a stage failed for good (no onFailure RETRY left to try); an onFailure ROLLBACK is a new ' +
        'execution, this one stays FAILED',
      SUPERSEDED:
        'SUPERSEDED mode: while it waited between stages a newer execution entered the stage ahead; ' +
        'an execution inside a stage is never superseded',
      CANCELLED: "CodePipeline: the pipeline's definition changed (or the pipeline went) before it completed",
    },
    STOPPING: {
      STOPPED:
        'its running actions finished or were abandoned; a stop wins over their results, so a ' +
        'stopping execution never ends SUCCEEDED or FAILED',
      CANCELLED: "the pipeline's definition changed (or the pipeline went) while it was stopping",
    },
    STOPPED: {
      IN_PROGRESS: 'retryStageExecution of the stage where it stopped resumes it, as in CodePipeline',
    },
    FAILED: {
      IN_PROGRESS: 'retryStageExecution of its failed stage (by hand, or onFailure RETRY) resumes it',
    },
    SUCCEEDED: {},
    SUPERSEDED: {},
    CANCELLED: {},
  },
  terminal: ['STOPPED', 'SUCCEEDED', 'SUPERSEDED', 'FAILED', 'CANCELLED'],
});

export const stageExecutionMachine: StateMachine<StageExecutionStatus> = defineMachine({
  name: 'stage execution',
  statuses: stageExecutionStatuses,
  initial: {
    IN_PROGRESS:
      'created when its pipeline execution enters the stage (transition enabled, stage unlocked); ' +
      'before that the stage has no execution of it',
    SKIPPED:
      "CodePipeline: an entry condition with result SKIP. Sluice's declarations carry no entry " +
      'conditions yet, so the engine creates none today; the status exists for the contract',
  },
  table: {
    IN_PROGRESS: {
      SUCCEEDED: 'every action of every runOrder succeeded',
      FAILED: 'an action failed and none of the others is still running (running ones finish first)',
      STOPPING: 'its pipeline execution is stopping while actions of this stage run',
      STOPPED: 'its pipeline execution stopped with nothing running in this stage',
      CANCELLED: "the pipeline's definition changed (or the pipeline went) before the stage completed",
    },
    STOPPING: {
      STOPPED: 'the running actions finished or were abandoned',
      CANCELLED: "the pipeline's definition changed (or the pipeline went) while the stage was stopping",
    },
    FAILED: {
      IN_PROGRESS:
        'retried (FAILED_ACTIONS or ALL_ACTIONS, by hand or onFailure RETRY): the same stage ' +
        'execution runs again, with new action executions',
    },
    STOPPED: {
      IN_PROGRESS: 'retried after a stop: the same stage execution runs again, with new action executions',
    },
    SUCCEEDED: {},
    CANCELLED: {},
    SKIPPED: {},
  },
  terminal: ['SUCCEEDED', 'FAILED', 'STOPPED', 'CANCELLED', 'SKIPPED'],
});

export const actionExecutionMachine: StateMachine<ActionExecutionStatus> = defineMachine({
  name: 'action execution',
  statuses: actionExecutionStatuses,
  initial: {
    IN_PROGRESS:
      'created when the action starts; a retry creates a new action execution and keeps the old ' +
      'one as history, so an action execution never runs twice',
  },
  table: {
    IN_PROGRESS: {
      SUCCEEDED: 'its job succeeded, or its approval was approved',
      FAILED:
        'its job failed or timed out, its approval was rejected or timed out, or its configuration ' +
        'held a reference that could not be resolved',
      ABANDONED: 'its execution was stopped with abandon: its job is cancelled and a late result is ignored',
    },
    SUCCEEDED: {},
    FAILED: {},
    ABANDONED: {},
  },
  terminal: ['SUCCEEDED', 'FAILED', 'ABANDONED'],
});

export const jobMachine: StateMachine<JobStatus> = defineMachine({
  name: 'job',
  statuses: jobStatuses,
  initial: {
    QUEUED: 'created with its action execution, in the same transaction, to wait for a worker',
  },
  table: {
    QUEUED: {
      DISPATCHED: 'a worker claimed it (pollForJobs): a lease and a fresh nonce fence this attempt',
      FAILED: 'cancelled before any worker claimed it (its action was abandoned)',
      TIMED_OUT: "the action's timeout elapsed while no worker claimed it (e.g. a custom type nobody polls)",
    },
    DISPATCHED: {
      IN_PROGRESS: "the worker acknowledged it (acknowledgeJob with the attempt's nonce)",
      QUEUED: 'the lease expired before acknowledgement (worker lost): queued again for a new attempt',
      FAILED: 'cancelled (abandon), or the lease expired with no attempt left (SystemUnavailable)',
      TIMED_OUT: "the action's timeout elapsed",
    },
    IN_PROGRESS: {
      SUCCEEDED: "putJobSuccessResult with the attempt's nonce",
      FAILED: 'putJobFailureResult, a cancellation (abandon), or the lease expired with no attempt left',
      TIMED_OUT: "the action's timeout elapsed before a result",
      QUEUED: 'the lease expired (no heartbeat: worker lost): queued again for a new attempt',
    },
    SUCCEEDED: {},
    FAILED: {},
    TIMED_OUT: {},
  },
  terminal: ['SUCCEEDED', 'FAILED', 'TIMED_OUT'],
});

export const pipelineExecutionTerminalStatuses: ReadonlySet<PipelineExecutionStatus> =
  pipelineExecutionMachine.terminal;
export const stageExecutionTerminalStatuses: ReadonlySet<StageExecutionStatus> =
  stageExecutionMachine.terminal;
export const actionExecutionTerminalStatuses: ReadonlySet<ActionExecutionStatus> =
  actionExecutionMachine.terminal;
export const jobTerminalStatuses: ReadonlySet<JobStatus> = jobMachine.terminal;

/**
 * A move the machine does not allow. Inside the engine it means a race lost or a bug, so
 * the transaction rolls back; surfaced to a caller it is a CONFLICT with the state as it is.
 */
export class IllegalTransitionError extends ConflictError {
  constructor(
    readonly machine: string,
    /** `null` when a row was to be created in `to`. */
    readonly from: string | null,
    readonly to: string,
  ) {
    super(
      from === null
        ? `a ${machine} cannot be created as ${to}`
        : `a ${machine} cannot go from ${from} to ${to}`,
    );
  }
}

export function canTransition<S extends string>(machine: StateMachine<S>, from: S, to: S): boolean {
  return machine.transitions.get(from)?.has(to) ?? false;
}

/** Returns `to` when the machine allows `from → to`; throws IllegalTransitionError otherwise. */
export function transition<S extends string>(machine: StateMachine<S>, from: S, to: S): S {
  if (!canTransition(machine, from, to)) throw new IllegalTransitionError(machine.name, from, to);
  return to;
}

export function canBeInitial<S extends string>(machine: StateMachine<S>, status: S): boolean {
  return machine.initial.has(status);
}

/** Returns `status` when a new row may be created in it; throws IllegalTransitionError otherwise. */
export function initialStatus<S extends string>(machine: StateMachine<S>, status: S): S {
  if (!canBeInitial(machine, status)) throw new IllegalTransitionError(machine.name, null, status);
  return status;
}

export function isTerminal<S extends string>(machine: StateMachine<S>, status: S): boolean {
  return machine.terminal.has(status);
}

/** Why `from → to` is allowed, for logs and docs; undefined when it is not. */
export function transitionReason<S extends string>(
  machine: StateMachine<S>,
  from: S,
  to: S,
): string | undefined {
  return machine.reasons.get(from)?.get(to);
}
