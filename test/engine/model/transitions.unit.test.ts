import { describe, expect, it } from 'vitest';
import { ConflictError } from '../../../src/platform/errors';
import {
  actionExecutionMachine,
  canBeInitial,
  canTransition,
  IllegalTransitionError,
  initialStatus,
  isTerminal,
  jobMachine,
  pipelineExecutionMachine,
  stageExecutionMachine,
  transition,
  transitionReason,
  type StateMachine,
} from '../../../src/engine/model/transitions';

/**
 * The expected tables, written apart from the source on purpose: a change to a machine
 * must change this file too ("a diff here is a semantics change"). Rows are from-statuses,
 * columns to-statuses; `x` = allowed, `.` = not. The `(create)` row lists the statuses a
 * new row may be born in.
 */
interface Matrix {
  columns: string[];
  rows: Record<string, boolean[]>;
}

function parseMatrix(text: string): Matrix {
  const [header, ...lines] = text
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/));
  const rows: Record<string, boolean[]> = {};
  for (const [from, ...marks] of lines) {
    if (marks.length !== header.length || marks.some((mark) => mark !== 'x' && mark !== '.')) {
      throw new Error(`malformed matrix row ${from}`);
    }
    rows[from] = marks.map((mark) => mark === 'x');
  }
  return { columns: header, rows };
}

const pipelineExecution = parseMatrix(`
              IN_PROGRESS  STOPPING  STOPPED  SUCCEEDED  SUPERSEDED  FAILED  CANCELLED
  (create)    x            .         .        .          .           .       .
  IN_PROGRESS .            x         x        x          x           x       x
  STOPPING    .            .         x        .          .           .       x
  STOPPED     x            .         .        .          .           .       .
  SUCCEEDED   .            .         .        .          .           .       .
  SUPERSEDED  .            .         .        .          .           .       .
  FAILED      x            .         .        .          .           .       .
  CANCELLED   .            .         .        .          .           .       .
`);

const stageExecution = parseMatrix(`
              IN_PROGRESS  SUCCEEDED  FAILED  STOPPING  STOPPED  CANCELLED  SKIPPED
  (create)    x            .          .       .         .        .          x
  IN_PROGRESS .            x          x       x         x        x          .
  SUCCEEDED   .            .          .       .         .        .          .
  FAILED      x            .          .       .         .        .          .
  STOPPING    .            .          .       .         x        x          .
  STOPPED     x            .          .       .         .        .          .
  CANCELLED   .            .          .       .         .        .          .
  SKIPPED     .            .          .       .         .        .          .
`);

const actionExecution = parseMatrix(`
              IN_PROGRESS  SUCCEEDED  FAILED  ABANDONED
  (create)    x            .          .       .
  IN_PROGRESS .            x          x       x
  SUCCEEDED   .            .          .       .
  FAILED      .            .          .       .
  ABANDONED   .            .          .       .
`);

const job = parseMatrix(`
              QUEUED  DISPATCHED  IN_PROGRESS  SUCCEEDED  FAILED  TIMED_OUT
  (create)    x       .           .            .          .       .
  QUEUED      .       x           .            .          x       x
  DISPATCHED  x       .           x            .          x       x
  IN_PROGRESS x       .           .            x          x       x
  SUCCEEDED   .       .           .            .          .       .
  FAILED      .       .           .            .          .       .
  TIMED_OUT   .       .           .            .          .       .
`);

const expectedTerminal: Record<string, string[]> = {
  'pipeline execution': ['STOPPED', 'SUCCEEDED', 'SUPERSEDED', 'FAILED', 'CANCELLED'],
  'stage execution': ['SUCCEEDED', 'FAILED', 'STOPPED', 'CANCELLED', 'SKIPPED'],
  'action execution': ['SUCCEEDED', 'FAILED', 'ABANDONED'],
  job: ['SUCCEEDED', 'FAILED', 'TIMED_OUT'],
};

// Typed as the widest machine so one loop covers all four; the casts stay in this file.
type AnyMachine = StateMachine<string>;
const machines: [AnyMachine, Matrix][] = [
  [pipelineExecutionMachine as AnyMachine, pipelineExecution],
  [stageExecutionMachine as AnyMachine, stageExecution],
  [actionExecutionMachine as AnyMachine, actionExecution],
  [jobMachine as AnyMachine, job],
];

/** One row per machine, named, so test titles read `job: …` rather than a dump of the machine. */
const byName = machines.map(([machine, matrix]) => [machine.name, machine, matrix] as const);

const pairs = machines.flatMap(([machine, matrix]) =>
  matrix.columns.flatMap((from) =>
    matrix.columns.map((to, column) => ({
      machine,
      from,
      to,
      allowed: matrix.rows[from][column],
    })),
  ),
);

describe('state machines: every (from, to) pair', () => {
  it.each(byName)('%s: the matrix names exactly the statuses of the machine', (_name, machine, matrix) => {
    expect(matrix.columns).toEqual([...machine.statuses]);
    expect(Object.keys(matrix.rows).sort()).toEqual(['(create)', ...machine.statuses].sort());
    for (const row of Object.values(matrix.rows)) expect(row).toHaveLength(matrix.columns.length);
  });

  it.each(pairs.map((pair) => [pair.machine.name, pair.from, pair.to, pair.allowed, pair.machine] as const))(
    '%s %s → %s allowed: %s',
    (_name, from, to, allowed, machine) => {
      expect(canTransition(machine, from, to)).toBe(allowed);
      if (allowed) {
        expect(transition(machine, from, to)).toBe(to);
        expect(transitionReason(machine, from, to)).toMatch(/\w{3,}/);
      } else {
        expect(transitionReason(machine, from, to)).toBeUndefined();
        const error = catchError(() => transition(machine, from, to));
        expect(error).toBeInstanceOf(IllegalTransitionError);
        expect(error).toMatchObject({ machine: machine.name, from, to, code: 'CONFLICT' });
        expect(error.message).toBe(`a ${machine.name} cannot go from ${from} to ${to}`);
      }
    },
  );

  it.each(
    machines.flatMap(([machine, matrix]) =>
      matrix.columns.map(
        (status, column) => [machine.name, status, matrix.rows['(create)'][column], machine] as const,
      ),
    ),
  )('%s created as %s allowed: %s', (_name, status, allowed, machine) => {
    expect(canBeInitial(machine, status)).toBe(allowed);
    if (allowed) expect(initialStatus(machine, status)).toBe(status);
    else {
      const error = catchError(() => initialStatus(machine, status));
      expect(error).toMatchObject({ machine: machine.name, from: null, to: status });
      expect(error.message).toBe(`a ${machine.name} cannot be created as ${status}`);
    }
  });
});

describe('state machines: shape', () => {
  it.each(byName)('%s: terminal statuses are the expected ones', (_name, machine) => {
    expect([...machine.terminal].sort()).toEqual([...expectedTerminal[machine.name]].sort());
    for (const status of machine.statuses)
      expect(isTerminal(machine, status)).toBe(machine.terminal.has(status));
  });

  it.each(byName)(
    '%s: a status with no exit is terminal, and a terminal one leaves only to resume',
    (_name, machine) => {
      for (const status of machine.statuses) {
        const exits = [...(machine.transitions.get(status) ?? [])];
        if (!exits.length) expect(machine.terminal.has(status)).toBe(true);
        // The only way out of a terminal status is a retry that resumes it.
        if (machine.terminal.has(status)) expect(exits.every((to) => to === 'IN_PROGRESS')).toBe(true);
      }
    },
  );

  it.each(byName)('%s: every status is reachable from creation', (_name, machine) => {
    const seen = new Set(machine.initial.keys());
    const queue = [...seen];
    while (queue.length) {
      const from = queue.shift() as string;
      for (const to of machine.transitions.get(from) ?? []) {
        if (!seen.has(to)) {
          seen.add(to);
          queue.push(to);
        }
      }
    }
    // SKIPPED is born as such (an entry condition), never moved into.
    expect([...seen].sort()).toEqual([...machine.statuses].sort());
  });

  it.each(byName)('%s: every non-terminal status can still move', (_name, machine) => {
    for (const status of machine.statuses) {
      if (!machine.terminal.has(status)) expect(machine.transitions.get(status)?.size).toBeGreaterThan(0);
    }
  });

  it('an illegal transition is a CONFLICT domain error', () => {
    expect(catchError(() => transition(pipelineExecutionMachine, 'SUCCEEDED', 'IN_PROGRESS'))).toBeInstanceOf(
      ConflictError,
    );
  });
});

function catchError(run: () => unknown): IllegalTransitionError {
  try {
    run();
  } catch (error) {
    if (error instanceof IllegalTransitionError) return error;
    throw error;
  }
  throw new Error('expected an IllegalTransitionError');
}
