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
import { isWithin, type TenantRoots } from './tenant-roots';

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
 *
 * Tenancy: the target must lie in one of the account's deploy roots (SLUICE_DEPLOY_ROOTS),
 * checked on real paths when the action runs (the declaration validator checks the text
 * earlier), and the provider then works on that real path. `releases` must be a real
 * folder and `current` a symlink, so nothing inside a deployed release can redirect writes.
 * Under a root shared by several accounts (one without `<account id>`), the first account to
 * deploy to a target marks it with `.sluice-account`; other accounts are refused there and
 * below it.
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
  /** Where each account may deploy. */
  roots: TenantRoots;
  /** The clock behind release ids (tests pin it). */
  now?: () => Date;
}

/** Marks a target under a shared root with the account that owns it. */
export const ownerMarkerFile = '.sluice-account';

export class DeployDirectoryProvider implements ActionProvider {
  readonly type = deployDirectoryType;
  private readonly now: () => Date;
  private readonly roots: TenantRoots;

  constructor(options: DeployDirectoryOptions) {
    this.now = options.now ?? (() => new Date());
    this.roots = options.roots;
  }

  async run(ctx: ActionJobContext): Promise<ActionResult> {
    const given = ctx.configuration.TargetDirectory;
    if (!given || !path.isAbsolute(given) || path.resolve(given) === '/') {
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

    const target = await this.claimTarget(ctx.accountId, given);
    const releasesDir = path.join(target, 'releases');
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

  /**
   * The real path of the target, created, checked to lie in one of the account's roots, with
   * `releases` a real folder inside it. Checked again after creating folders, so a symlink
   * met on the way cannot lead out.
   */
  private async claimTarget(accountId: string, given: string): Promise<string> {
    const outside = () =>
      new ActionFailure(
        'CONFIGURATION_ERROR',
        `TargetDirectory ${given} is not under an allowed deploy root (${this.roots.describe(accountId)})`,
      );
    const before = await this.roots.realPathWithin(accountId, given);
    if (!before) throw outside();
    // Under a shared root, another account's target is refused before anything is created in it.
    if (this.roots.shared) await refuseForeignOwner(accountId, before.root, before.real);
    await fsp.mkdir(path.join(before.real, 'releases'), { recursive: true }).catch((error: unknown) => {
      if (
        (error as NodeJS.ErrnoException).code === 'EEXIST' ||
        (error as NodeJS.ErrnoException).code === 'ENOTDIR'
      )
        throw outside();
      throw error;
    });
    const after = await this.roots.realPathWithin(accountId, given);
    if (!after || after.real !== before.real) throw outside();
    for (const [name, want] of [
      [after.real, 'folder'],
      [path.join(after.real, 'releases'), 'folder'],
    ] as const) {
      const stat = await fsp.lstat(name);
      if (stat.isSymbolicLink() || !stat.isDirectory()) {
        throw new ActionFailure('CONFIGURATION_ERROR', `${name} must be a ${want}, not a symlink or file`);
      }
    }
    if (this.roots.shared) await claimOwnership(accountId, after.root, after.real);
    return after.real;
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

/** Under a shared root: refuses a target that is, or lies in, another account's target. */
async function refuseForeignOwner(accountId: string, root: string, target: string): Promise<void> {
  for (let dir = target; isWithin(root, dir); dir = path.dirname(dir)) {
    const owner = await fsp.readFile(path.join(dir, ownerMarkerFile), 'utf8').catch(() => undefined);
    if (owner !== undefined && owner.trim() !== accountId) {
      throw new ActionFailure('PERMISSION_ERROR', `${target} belongs to another account's deployment`);
    }
    if (dir === root) break;
  }
}

/**
 * Checks again (another account may have claimed it meanwhile) and marks the target as the
 * account's; the marker is created exclusively, so two accounts cannot both win.
 */
async function claimOwnership(accountId: string, root: string, target: string): Promise<void> {
  await refuseForeignOwner(accountId, root, target);
  await fsp
    .writeFile(path.join(target, ownerMarkerFile), accountId, { flag: 'wx' })
    .catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    });
  const owner = (await fsp.readFile(path.join(target, ownerMarkerFile), 'utf8')).trim();
  if (owner !== accountId) {
    throw new ActionFailure('PERMISSION_ERROR', `${target} belongs to another account's deployment`);
  }
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
