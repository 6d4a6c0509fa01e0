import { describe, expect, it } from 'vitest';
import {
  nextActions,
  retryPlan,
  runOrderGroups,
  type ActionStates,
  type NextStep,
  type PlannedAction,
  type RetryPlan,
} from '../../../src/engine/model/stage-plan';
import type { ActionExecutionStatus } from '../../../src/engine/model/statuses';

/**
 * A stage used throughout, declared out of runOrder on purpose:
 *   runOrder 1: Build, Lint      runOrder 2: Test      runOrder 5: DeployA, DeployB
 */
const stage: PlannedAction[] = [
  { name: 'DeployA', runOrder: 5 },
  { name: 'Build', runOrder: 1 },
  { name: 'Test', runOrder: 2 },
  { name: 'Lint', runOrder: 1 },
  { name: 'DeployB', runOrder: 5 },
];

/** States written compactly: `{ Build: 'SUCCEEDED', … }`; unlisted actions have not run. */
function states(entries: Record<string, ActionExecutionStatus | undefined> = {}): ActionStates {
  return new Map(Object.entries(entries));
}

const S = 'SUCCEEDED';
const F = 'FAILED';
const R = 'IN_PROGRESS';
const A = 'ABANDONED';

describe('runOrderGroups', () => {
  it('groups by runOrder ascending, declaration order inside a group', () => {
    expect(runOrderGroups(stage).map((group) => group.map((action) => action.name))).toEqual([
      ['Build', 'Lint'],
      ['Test'],
      ['DeployA', 'DeployB'],
    ]);
  });
});

describe('nextActions', () => {
  it.each<[string, Record<string, ActionExecutionStatus | undefined>, NextStep]>([
    ['a fresh stage starts the lowest runOrder, all of it', {}, { start: ['Build', 'Lint'] }],
    ['an explicit undefined is "not run"', { Build: undefined }, { start: ['Build', 'Lint'] }],
    ['the first group running: wait', { Build: R, Lint: R }, { wait: true }],
    ['part of the first group done: wait for the rest', { Build: S, Lint: R }, { wait: true }],
    ['a group started halfway (crash between starts) starts the rest', { Build: R }, { start: ['Lint'] }],
    ['the first group done: the next group starts', { Build: S, Lint: S }, { start: ['Test'] }],
    ['the second group running', { Build: S, Lint: S, Test: R }, { wait: true }],
    ['skipping runOrder numbers is fine', { Build: S, Lint: S, Test: S }, { start: ['DeployA', 'DeployB'] }],
    ['the last group running', { Build: S, Lint: S, Test: S, DeployA: S, DeployB: R }, { wait: true }],
    [
      'every action succeeded',
      { Build: S, Lint: S, Test: S, DeployA: S, DeployB: S },
      { stageResult: 'SUCCEEDED' },
    ],
    ['a failure while another action runs: wait for it', { Build: F, Lint: R }, { wait: true }],
    ['a failure with nothing running: the stage failed', { Build: F, Lint: S }, { stageResult: 'FAILED' }],
    ['every action of the group failed', { Build: F, Lint: F }, { stageResult: 'FAILED' }],
    ['a failure starts nothing new, even with a group half started', { Build: F }, { stageResult: 'FAILED' }],
    ['a failure in a later group', { Build: S, Lint: S, Test: F }, { stageResult: 'FAILED' }],
    ['an abandoned action counts as failed', { Build: S, Lint: S, Test: A }, { stageResult: 'FAILED' }],
    ['abandoned while another still runs: wait', { Build: A, Lint: R }, { wait: true }],
    [
      'a failure in the last group after others succeeded',
      { Build: S, Lint: S, Test: S, DeployA: S, DeployB: F },
      { stageResult: 'FAILED' },
    ],
    ['states of actions outside the stage are ignored', { Other: F, Build: S, Lint: S }, { start: ['Test'] }],
  ])('%s', (_case, entries, expected) => {
    expect(nextActions(stage, states(entries))).toEqual(expected);
  });

  it('a single-action stage', () => {
    const single = [{ name: 'Only', runOrder: 1 }];
    expect(nextActions(single, states())).toEqual({ start: ['Only'] });
    expect(nextActions(single, states({ Only: R }))).toEqual({ wait: true });
    expect(nextActions(single, states({ Only: S }))).toEqual({ stageResult: 'SUCCEEDED' });
    expect(nextActions(single, states({ Only: F }))).toEqual({ stageResult: 'FAILED' });
  });

  it('a stage without actions succeeds at once', () => {
    expect(nextActions([], states())).toEqual({ stageResult: 'SUCCEEDED' });
  });
});

describe('retryPlan', () => {
  it.each<
    [string, 'FAILED_ACTIONS' | 'ALL_ACTIONS', Record<string, ActionExecutionStatus | undefined>, RetryPlan]
  >([
    [
      'FAILED_ACTIONS reruns the failed action only, keeping the successes',
      'FAILED_ACTIONS',
      { Build: S, Lint: F },
      { start: ['Lint'], discard: [] },
    ],
    [
      'FAILED_ACTIONS reruns every failed action of the group',
      'FAILED_ACTIONS',
      { Build: F, Lint: F },
      { start: ['Build', 'Lint'], discard: [] },
    ],
    [
      'FAILED_ACTIONS reruns abandoned actions',
      'FAILED_ACTIONS',
      { Build: S, Lint: S, Test: A },
      { start: ['Test'], discard: [] },
    ],
    [
      'FAILED_ACTIONS in a later group leaves earlier groups alone',
      'FAILED_ACTIONS',
      { Build: S, Lint: S, Test: S, DeployA: S, DeployB: F },
      { start: ['DeployB'], discard: [] },
    ],
    [
      'FAILED_ACTIONS keeps running actions running',
      'FAILED_ACTIONS',
      { Build: F, Lint: R },
      { start: ['Build'], discard: [] },
    ],
    [
      'FAILED_ACTIONS also starts members of the group that never started',
      'FAILED_ACTIONS',
      { Build: F },
      { start: ['Build', 'Lint'], discard: [] },
    ],
    [
      'FAILED_ACTIONS after a stop between groups starts the next group',
      'FAILED_ACTIONS',
      { Build: S, Lint: S },
      { start: ['Test'], discard: [] },
    ],
    [
      'FAILED_ACTIONS with nothing failed is rejected',
      'FAILED_ACTIONS',
      { Build: S, Lint: S, Test: S, DeployA: S, DeployB: S },
      { rejected: 'FAILED_ACTIONS found no failed action to run again: every action succeeded' },
    ],
    [
      'FAILED_ACTIONS with only running actions left is rejected',
      'FAILED_ACTIONS',
      { Build: S, Lint: R },
      { rejected: 'FAILED_ACTIONS found no failed action to run again: the remaining ones are in progress' },
    ],
    [
      'ALL_ACTIONS restarts from the first runOrder and discards every result',
      'ALL_ACTIONS',
      { Build: S, Lint: S, Test: F },
      { start: ['Build', 'Lint'], discard: ['Build', 'Test', 'Lint'] },
    ],
    [
      'ALL_ACTIONS after a failure in the first group',
      'ALL_ACTIONS',
      { Build: F, Lint: S },
      { start: ['Build', 'Lint'], discard: ['Build', 'Lint'] },
    ],
    [
      'ALL_ACTIONS on a fully succeeded stage runs it all again',
      'ALL_ACTIONS',
      { Build: S, Lint: S, Test: S, DeployA: S, DeployB: S },
      { start: ['Build', 'Lint'], discard: ['DeployA', 'Build', 'Test', 'Lint', 'DeployB'] },
    ],
    [
      'ALL_ACTIONS is rejected while an action runs',
      'ALL_ACTIONS',
      { Build: F, Lint: R },
      { rejected: 'ALL_ACTIONS restarts the stage, which still has actions in progress: Lint' },
    ],
  ])('%s', (_case, mode, entries, expected) => {
    expect(retryPlan(stage, states(entries), mode)).toEqual(expected);
  });

  /** The engine's side of the contract: drop `discard`, mark `start` running. */
  function applyRetry(before: ActionStates, plan: RetryPlan): Map<string, ActionExecutionStatus | undefined> {
    if ('rejected' in plan) throw new Error(plan.rejected);
    const after = new Map(before);
    for (const name of plan.discard) after.delete(name);
    for (const name of plan.start) after.set(name, 'IN_PROGRESS');
    return after;
  }

  it('FAILED_ACTIONS then continues through the later groups', () => {
    let current = applyRetry(
      states({ Build: S, Lint: F }),
      retryPlan(stage, states({ Build: S, Lint: F }), 'FAILED_ACTIONS'),
    );
    expect(nextActions(stage, current)).toEqual({ wait: true });
    current.set('Lint', S);
    expect(nextActions(stage, current)).toEqual({ start: ['Test'] });
    current = new Map([...current, ['Test', S], ['DeployA', S], ['DeployB', S]]);
    expect(nextActions(stage, current)).toEqual({ stageResult: 'SUCCEEDED' });
  });

  it('ALL_ACTIONS then runs every group again in order', () => {
    const before = states({ Build: S, Lint: S, Test: F });
    const current = applyRetry(before, retryPlan(stage, before, 'ALL_ACTIONS'));
    expect(nextActions(stage, current)).toEqual({ wait: true });
    current.set('Build', S);
    current.set('Lint', S);
    // Test's old FAILED was discarded: it runs again instead of failing the stage.
    expect(nextActions(stage, current)).toEqual({ start: ['Test'] });
  });
});
