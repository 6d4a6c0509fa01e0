import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * One writer per table of execution state (issue 8, point 1): every status change goes through
 * the transition tables and appends its event in the same transaction only if nothing else
 * writes these rows. A statement that writes them from anywhere but the owner fails here.
 */
const owners: Record<string, string> = {
  pipeline_executions: 'src/engine/execution-store.ts',
  stage_executions: 'src/engine/execution-store.ts',
  action_executions: 'src/engine/execution-store.ts',
  jobs: 'src/jobs/job-queue.ts',
  action_logs: 'src/jobs/job-queue.ts',
};

const root = path.resolve(__dirname, '../..');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every `INSERT INTO t`, `UPDATE t`, `DELETE FROM t` (and `MERGE INTO t`) of an owned table. */
export function writesIn(source: string): string[] {
  const tables = Object.keys(owners).join('|');
  const pattern = new RegExp(
    `\\b(?:INSERT\\s+INTO|UPDATE|DELETE\\s+FROM|MERGE\\s+INTO)\\s+(${tables})\\b`,
    'gi',
  );
  return [...source.matchAll(pattern)].map((m) => m[1].toLowerCase());
}

describe('execution state has one writer', () => {
  it('finds writes the way the check reads them', () => {
    expect(writesIn('await tx.query(`UPDATE  action_executions SET status = $1`)')).toEqual([
      'action_executions',
    ]);
    expect(writesIn("'insert into jobs (id) values ($1)'")).toEqual(['jobs']);
    expect(writesIn('DELETE FROM pipeline_executions WHERE')).toEqual(['pipeline_executions']);
    expect(writesIn('SELECT * FROM jobs; UPDATE jobs_archive SET x = 1')).toEqual([]);
  });

  it('writes pipeline, stage and action executions only from the execution store, jobs and logs only from the job queue', () => {
    const offenders: string[] = [];
    const written = new Set<string>();
    for (const file of sourceFiles(path.join(root, 'src'))) {
      const relative = path.relative(root, file).split(path.sep).join('/');
      for (const table of writesIn(fs.readFileSync(file, 'utf8'))) {
        if (owners[table] !== relative) offenders.push(`${relative} writes ${table}`);
        else written.add(table);
      }
    }
    expect(offenders).toEqual([]);
    // The owners really are where the writes are (the check is not vacuous).
    expect([...written].sort()).toEqual(Object.keys(owners).sort());
  });
});
