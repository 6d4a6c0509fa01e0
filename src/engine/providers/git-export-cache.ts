import { createHash, randomUUID } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { ActionResult } from './provider';

/** Commits kept per (account, repository) in the export cache. */
export const cachedCommitsPerRepository = 20;

const commitPattern = /^[0-9a-f]{40,64}$/;

/**
 * Exported trees by commit for one repository of one account:
 * `<cacheDir>/<account id>/<hash of the URL>/<commit>/` holds `tree/` and `result.json`.
 * Keyed by account as well as URL, so an account is only ever served what it fetched itself:
 * another tenant who names the same URL and commit never gets this account's export (nor
 * learns that it exists).
 *
 * Several workers (processes) may share the folder, so every step tolerates the others:
 * - store writes a fresh temporary folder and renames it into place (rename(2) is atomic); a
 *   reader sees a whole entry or none, and the loser of two concurrent stores drops its copy;
 * - evict renames an entry out of the way before deleting it, so it disappears at once;
 * - restore treats any failure while copying (an eviction in between) as a miss, and cleans
 *   what it copied: the caller then fetches for real. The cache is only a shortcut.
 */
export class GitExportCache {
  private readonly dir: string;

  constructor(root: string, accountId: string, url: string) {
    if (!/^\d{12}$/.test(accountId)) throw new Error(`not an account id: ${accountId}`);
    this.dir = path.join(root, accountId, createHash('sha256').update(url).digest('hex').slice(0, 32));
  }

  /** Copies the cached tree of `commit` to `target` and returns its result, or `undefined` on a miss. */
  async restore(commit: string, target: string): Promise<ActionResult | undefined> {
    if (!commitPattern.test(commit)) return undefined;
    const entry = path.join(this.dir, commit);
    try {
      const result = JSON.parse(await fsp.readFile(path.join(entry, 'result.json'), 'utf8')) as ActionResult;
      await fsp.rm(target, { recursive: true, force: true });
      await fsp.cp(path.join(entry, 'tree'), target, { recursive: true, verbatimSymlinks: true });
      // The entry may have been evicted while we copied: only a copy of a still-whole entry counts.
      await fsp.access(path.join(entry, 'result.json'));
      return result;
    } catch {
      await fsp.rm(target, { recursive: true, force: true }).catch(() => undefined);
      return undefined;
    }
  }

  async store(commit: string, source: string, result: ActionResult): Promise<void> {
    if (!commitPattern.test(commit)) return;
    await fsp.mkdir(this.dir, { recursive: true });
    const entry = path.join(this.dir, commit);
    const temp = path.join(this.dir, `.${commit}.${randomUUID()}.partial`);
    try {
      await fsp.mkdir(temp);
      await fsp.cp(source, path.join(temp, 'tree'), { recursive: true, verbatimSymlinks: true });
      await fsp.writeFile(path.join(temp, 'result.json'), JSON.stringify(result));
      await fsp.rename(temp, entry);
    } catch {
      await fsp.rm(temp, { recursive: true, force: true }).catch(() => undefined);
      return; // another job stored it first, or the disk said no: the cache is only a shortcut
    }
    await this.prune();
  }

  /** Removes one commit's entry; readers in the middle of a copy then miss. */
  async evict(commit: string): Promise<void> {
    const doomed = path.join(this.dir, `.${commit}.${randomUUID()}.evicted`);
    try {
      await fsp.rename(path.join(this.dir, commit), doomed);
    } catch {
      return; // already gone
    }
    await fsp.rm(doomed, { recursive: true, force: true });
  }

  /** Keeps the newest `cachedCommitsPerRepository` entries. */
  private async prune(): Promise<void> {
    const names = (await fsp.readdir(this.dir).catch(() => [] as string[])).filter((n) =>
      commitPattern.test(n),
    );
    if (names.length <= cachedCommitsPerRepository) return;
    const dated = await Promise.all(
      names.map(async (n) => ({
        n,
        t: (await fsp.stat(path.join(this.dir, n)).catch(() => undefined))?.mtimeMs ?? 0,
      })),
    );
    dated.sort((a, b) => a.t - b.t);
    for (const { n } of dated.slice(0, dated.length - cachedCommitsPerRepository)) await this.evict(n);
  }
}
