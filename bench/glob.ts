import { performance } from 'node:perf_hooks';
import { compileGlob, selectPaths } from '../src/engine/providers/glob';

/**
 * Buildspec `artifacts.files` matching: adversarial patterns (a backtracking matcher took ~10 s
 * for the first one) and an ordinary selection over many files, in microseconds per match.
 */
function time(name: string, runs: number, body: () => void): void {
  body(); // warm up
  const started = performance.now();
  for (let i = 0; i < runs; i++) body();
  const micros = ((performance.now() - started) * 1000) / runs;
  process.stdout.write(`${name}: ${micros.toFixed(1)} us\n`);
}

const as = 'a'.repeat(200);
const adversarial = compileGlob('*a*a*a*a*a*b');
time('glob_adversarial_stars_200_chars', 200, () => adversarial.matches(as));

const deep = Array.from({ length: 100 }, () => 'a').join('/');
const globstars = compileGlob(`${'**/'.repeat(30)}b`);
time('glob_adversarial_globstars_100_segments', 200, () => globstars.matches(deep));

const files = Array.from(
  { length: 2000 },
  (_v, i) => `dist/pkg${i % 40}/sub${i % 7}/file${i}.${i % 3 ? 'js' : 'map'}`,
);
time('glob_select_2000_files', 20, () => selectPaths(files, ['dist/**/*'], ['**/*.map']));
