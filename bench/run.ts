import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * `npm run bench [name…]`: runs each bench/*.ts (or the named ones) in its own process, one
 * after another so they do not compete for the two cores. Each prints `name: value unit` lines.
 */
const dir = __dirname;
const wanted = process.argv.slice(2);
const benches = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .filter((f) => !wanted.length || wanted.includes(path.basename(f, '.ts')))
  .sort();

let failed = false;
for (const file of benches) {
  process.stdout.write(`# ${file}\n`);
  const tsx = require.resolve('tsx/cli');
  const run = spawnSync(process.execPath, [tsx, path.join(dir, file)], { stdio: 'inherit' });
  if (run.status !== 0) {
    process.stderr.write(`bench ${file} failed (exit ${run.status})\n`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
