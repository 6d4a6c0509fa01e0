import { execFileSync, spawnSync } from 'node:child_process';

/**
 * The sandbox tests run every build under bubblewrap as well as under the uid mode, so the
 * suite needs `bwrap`. As in `.ci/run`, a root machine without it gets Debian's package (the
 * README's `npm test` must work on a fresh machine); elsewhere the run stops at once saying
 * how to install it, instead of failing test by test.
 */
export function ensureBubblewrap(): void {
  if (spawnSync('bwrap', ['--version']).status === 0) return;
  const root = process.getuid?.() === 0;
  if (root && spawnSync('apt-get', ['--version']).status === 0) {
    process.stdout.write(
      'bubblewrap is missing: installing Debian package bubblewrap for the sandbox tests\n',
    );
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', '-qq', 'bubblewrap'], { stdio: 'inherit' });
    if (spawnSync('bwrap', ['--version']).status === 0) return;
  }
  throw new Error(
    'The sandbox tests need bubblewrap: install it (Debian/Ubuntu: apt-get install bubblewrap) and run npm test again',
  );
}
