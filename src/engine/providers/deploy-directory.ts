import { randomUUID } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import {
  type ActionJobContext,
  type ActionProvider,
  type ActionResult,
  type ActionTypeKey,
  ActionFailure,
} from './provider';

/**
 * `Deploy/Sluice/Directory/1`: copies the input to `<TargetDirectory>/releases/<releaseId>`
 * and repoints `<TargetDirectory>/current` at it, the way Capistrano-style deploys do.
 *
 * Atomicity: the copy goes to a hidden `.<releaseId>.partial` folder first and is renamed
 * into place, so `releases/` never shows a half-copied release; `current` is replaced by
 * renaming a fresh symlink over it (rename(2) is atomic), so a reader of `current` sees the
 * old release or the new one, never nothing. The link is relative (`releases/<id>`), so the
 * target folder can be moved or mounted elsewhere.
 *
 * Release ids are `<UTC yyyymmddThhmmss.SSSZ>-<first 8 of the execution id>`: they sort in
 * deploy order, which is the order pruning relies on.
 */

export const deployDirectoryType: ActionTypeKey = {
  category: 'Deploy',
  owner: 'Sluice',
  provider: 'Directory',
  version: '1',
};

const defaultKeepReleases = 5;
const releaseIdPattern = /^\d{8}T\d{6}\.\d{3}Z-[^/]+$/;

export interface DeployDirectoryOptions {
  /** The clock behind release ids (tests pin it). */
  now?: () => Date;
}

export class DeployDirectoryProvider implements ActionProvider {
  readonly type = deployDirectoryType;
  private readonly now: () => Date;

  constructor(options: DeployDirectoryOptions = {}) {
    this.now = options.now ?? (() => new Date());
  }

  async run(ctx: ActionJobContext): Promise<ActionResult> {
    const target = ctx.configuration.TargetDirectory;
    if (!target || !path.isAbsolute(target) || path.resolve(target) === '/') {
      throw new ActionFailure('CONFIGURATION_ERROR', 'TargetDirectory must be an absolute path other than /');
    }
    const keep = parseKeepReleases(ctx.configuration.KeepReleases);
    const input = ctx.inputArtifacts[0];
    if (!input || ctx.inputArtifacts.length !== 1) {
      throw new ActionFailure('CONFIGURATION_ERROR', 'A Directory deploy takes exactly one input artifact');
    }
    const deadline = Date.now() + ctx.timeoutMs;
    const checkStillWanted = (step: string) => {
      if (ctx.signal.aborted) throw new ActionFailure('JOB_FAILED', `Stopped before ${step}`);
      if (Date.now() > deadline) throw new ActionFailure('JOB_FAILED', `Timed out before ${step}`);
    };

    const releasesDir = path.join(target, 'releases');
    await fsp.mkdir(releasesDir, { recursive: true });
    const releaseId = await this.newReleaseId(releasesDir, ctx.pipelineExecutionId);
    const releasePath = path.join(releasesDir, releaseId);
    const partial = path.join(releasesDir, `.${releaseId}.partial`);

    checkStillWanted('copying the release');
    ctx.log(`Copying ${input.name} to ${releasePath}\n`);
    try {
      await fsp.cp(input.path, partial, { recursive: true, verbatimSymlinks: true });
      checkStillWanted('switching current');
      await fsp.rename(partial, releasePath);
    } catch (error) {
      await fsp.rm(partial, { recursive: true, force: true });
      throw error;
    }

    await switchCurrent(target, releaseId);
    ctx.log(`current -> releases/${releaseId}\n`);

    const removed = await pruneReleases(releasesDir, keep, releaseId);
    if (removed.length) ctx.log(`Removed old release(s): ${removed.join(', ')}\n`);

    return {
      outputVariables: { ReleaseId: releaseId, ReleasePath: releasePath },
      summary: `Deployed ${input.name} to ${releasePath}`,
    };
  }

  private async newReleaseId(releasesDir: string, executionId: string): Promise<string> {
    // 2024-05-01T12:00:00.123Z → 20240501T120000.123Z
    const stamp = this.now().toISOString().replace(/[-:]/g, '');
    const base = `${stamp}-${executionId.slice(0, 8)}`;
    // A retry of the same execution within the same millisecond still gets its own folder.
    for (let n = 1; ; n += 1) {
      const candidate = n === 1 ? base : `${base}-${n}`;
      if (!(await exists(path.join(releasesDir, candidate)))) return candidate;
    }
  }
}

function parseKeepReleases(value: string | undefined): number {
  if (value === undefined || value === '') return defaultKeepReleases;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 100) {
    throw new ActionFailure('CONFIGURATION_ERROR', 'KeepReleases must be a whole number from 1 to 100');
  }
  return parsed;
}

async function switchCurrent(target: string, releaseId: string): Promise<void> {
  const current = path.join(target, 'current');
  const existing = await fsp.lstat(current).catch(() => undefined);
  if (existing && !existing.isSymbolicLink()) {
    throw new ActionFailure(
      'CONFIGURATION_ERROR',
      `${current} exists and is not a symlink; move it away so Sluice can manage it`,
    );
  }
  const temporary = path.join(target, `.current-${randomUUID()}`);
  await fsp.symlink(path.join('releases', releaseId), temporary);
  try {
    await fsp.rename(temporary, current);
  } catch (error) {
    await fsp.rm(temporary, { force: true });
    throw error;
  }
}

/** Deletes the oldest releases beyond `keep`; never the one `current` points to. */
async function pruneReleases(releasesDir: string, keep: number, currentId: string): Promise<string[]> {
  const releases = (await fsp.readdir(releasesDir)).filter((name) => releaseIdPattern.test(name)).sort();
  const linked = await fsp.readlink(path.join(path.dirname(releasesDir), 'current')).catch(() => undefined);
  const protectedIds = new Set([currentId, linked ? path.basename(linked) : currentId]);
  const excess = releases.slice(0, Math.max(0, releases.length - keep)).filter((id) => !protectedIds.has(id));
  for (const id of excess) await fsp.rm(path.join(releasesDir, id), { recursive: true, force: true });
  return excess;
}

async function exists(file: string): Promise<boolean> {
  return (await fsp.lstat(file).catch(() => undefined)) !== undefined;
}
