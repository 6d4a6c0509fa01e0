import { describe, expect, it } from 'vitest';
import { canTransition, jobMachine } from '../../src/engine/model/transitions';
import { heldJobStatuses } from '../../src/jobs/job-queue';

/**
 * The queue's single-statement writes spell job statuses in SQL instead of calling
 * `transition()`; this keeps those spellings in line with the job machine.
 */
describe('job statuses used as SQL fences', () => {
  it('a claim moves QUEUED to DISPATCHED, and requestCancel a QUEUED job to FAILED', () => {
    expect(canTransition(jobMachine, 'QUEUED', 'DISPATCHED')).toBe(true);
    expect(canTransition(jobMachine, 'QUEUED', 'FAILED')).toBe(true);
  });

  it.each(heldJobStatuses)('a held job (%s) can be taken back, failed, or ended by its worker', (status) => {
    expect(canTransition(jobMachine, status, 'QUEUED')).toBe(true);
    expect(canTransition(jobMachine, status, 'FAILED')).toBe(true);
    expect(status === 'IN_PROGRESS' || canTransition(jobMachine, status, 'IN_PROGRESS')).toBe(true);
  });

  it('the held statuses are exactly the non-terminal ones a worker has claimed', () => {
    const held = jobMachine.statuses.filter((s) => s !== 'QUEUED' && !jobMachine.terminal.has(s));
    expect([...heldJobStatuses].sort()).toEqual(held.sort());
  });
});
