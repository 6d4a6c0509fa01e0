import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DeployDirectoryProvider } from '../../../src/engine/providers/deploy-directory';
import { TenantRoots } from '../../../src/engine/providers/tenant-roots';
import { makeJob, readTree, tempDir, type TestJob, writeTree } from './job-context';

const cleanups: Array<() => Promise<void>> = [];
/** Targets are made in temp folders, each account in its own folder below them. */
const roots = new TenantRoots([path.join(os.tmpdir(), '<account id>')]);

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A clock that moves one minute per deploy, from 2024-05-01T12:00:00Z. */
function steppingClock(): () => Date {
  let minutes = 0;
  return () => new Date(Date.UTC(2024, 4, 1, 12, minutes++, 0, 250));
}

async function deployJob(
  target: string,
  version: string,
  extra: Record<string, string> = {},
  accountId = '123456789012',
): Promise<TestJob> {
  const job = await makeJob({
    accountId,
    configuration: { TargetDirectory: target, ...extra },
    pipelineExecutionId: `${version.padStart(8, '0')}-aaaa-4bbb-8ccc-dddddddddddd`,
  });
  cleanups.push(job.cleanup);
  const input = path.join(job.root, 'input');
  await writeTree(input, { 'version.txt': version, 'app/index.html': `<h1>${version}</h1>` });
  job.ctx.inputArtifacts.push({ name: 'BuildOutput', path: input });
  return job;
}

const account = '123456789012'; // makeJob's

/** A fresh target inside the account's root. */
async function targetDir(accountId = account): Promise<string> {
  await fsp.mkdir(path.join(os.tmpdir(), accountId), { recursive: true });
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), accountId, 'sluice-deploy-'));
  cleanups.push(() => fsp.rm(dir, { recursive: true, force: true }));
  return path.join(dir, 'site');
}

describe('Directory deploy provider', () => {
  it('copies the input into releases/<id> and points current at it', async () => {
    const target = await targetDir();
    const provider = new DeployDirectoryProvider({ roots, now: steppingClock() });
    const job = await deployJob(target, '1');
    const result = await provider.run(job.ctx);

    const releaseId = '20240501T120000.250Z-00000001';
    expect(result.outputVariables).toEqual({
      ReleaseId: releaseId,
      ReleasePath: path.join(target, 'releases', releaseId),
    });
    expect(await readTree(path.join(target, 'releases', releaseId))).toEqual({
      'version.txt': '1',
      'app/index.html': '<h1>1</h1>',
    });
    expect(await fsp.readlink(path.join(target, 'current'))).toBe(path.join('releases', releaseId));
    expect(await fsp.readFile(path.join(target, 'current', 'version.txt'), 'utf8')).toBe('1');
  });

  it('keeps the last KeepReleases releases, current included', async () => {
    const target = await targetDir();
    const provider = new DeployDirectoryProvider({ roots, now: steppingClock() });
    const ids: string[] = [];
    for (const version of ['1', '2', '3', '4']) {
      const result = await provider.run((await deployJob(target, version, { KeepReleases: '2' })).ctx);
      ids.push(result.outputVariables.ReleaseId);
    }
    expect((await fsp.readdir(path.join(target, 'releases'))).sort()).toEqual([ids[2], ids[3]]);
    expect(await fsp.readFile(path.join(target, 'current', 'version.txt'), 'utf8')).toBe('4');
    expect(fs.readdirSync(target).sort()).toEqual(['current', 'releases']);
  });

  it('switches current atomically: a reader never finds it missing', async () => {
    const target = await targetDir();
    const provider = new DeployDirectoryProvider({ roots });
    await provider.run((await deployJob(target, '0')).ctx);
    const reader = spawn(
      'sh',
      ['-c', 'while :; do cat current/version.txt 2>/dev/null || echo MISSING; echo; done'],
      { cwd: target, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let readerOutput = '';
    reader.stdout.on('data', (chunk: Buffer) => (readerOutput += chunk.toString()));
    try {
      for (let version = 1; version <= 15; version += 1) {
        await provider.run((await deployJob(target, String(version), { KeepReleases: '3' })).ctx);
      }
    } finally {
      reader.kill('SIGKILL');
    }
    const reads = readerOutput.split('\n').filter(Boolean);
    expect(reads.length).toBeGreaterThan(15);
    expect(reads.filter((line) => !/^\d+$/.test(line))).toEqual([]);
    expect(await fsp.readFile(path.join(target, 'current', 'version.txt'), 'utf8')).toBe('15');
    expect(await fsp.readdir(path.join(target, 'releases'))).toHaveLength(3);
  });

  it('refuses to replace a current that is not a symlink, and bad settings', async () => {
    const target = await targetDir();
    await fsp.mkdir(path.join(target, 'current'), { recursive: true });
    const provider = new DeployDirectoryProvider({ roots });
    await expect(provider.run((await deployJob(target, '1')).ctx)).rejects.toMatchObject({
      type: 'CONFIGURATION_ERROR',
      message: expect.stringMatching(/current exists and is not a symlink/),
    });
    await expect(
      provider.run((await deployJob(target, '1', { KeepReleases: '0' })).ctx),
    ).rejects.toMatchObject({
      type: 'CONFIGURATION_ERROR',
    });
    await expect(provider.run((await deployJob('relative/dir', '1')).ctx)).rejects.toMatchObject({
      type: 'CONFIGURATION_ERROR',
    });
  });
});

describe('Directory deploy provider: deploy roots', () => {
  const other = '210987654321';

  it('refuses a target outside the account root, by text, by "..", or through a symlink', async () => {
    const provider = new DeployDirectoryProvider({ roots });
    const mine = await targetDir();
    const theirs = await targetDir(other);
    const escapes = [
      path.join(os.tmpdir(), 'not-an-account-root', 'site'),
      `${os.tmpdir()}/${account}/../${other}/${path.basename(path.dirname(theirs))}/site`,
    ];
    await fsp.mkdir(mine, { recursive: true });
    await fsp.symlink(path.dirname(theirs), path.join(mine, 'link'));
    // A dangling symlink counts by where it leads, too.
    await fsp.symlink(path.join(path.dirname(theirs), 'not-yet'), path.join(mine, 'dangling'));
    escapes.push(path.join(mine, 'link', 'site'), path.join(mine, 'dangling', 'site'));
    for (const target of escapes) {
      const failure = await provider.run((await deployJob(target, '1')).ctx).catch((e: unknown) => e);
      expect(failure).toMatchObject({
        type: 'CONFIGURATION_ERROR',
        message: `TargetDirectory ${target} is not under an allowed deploy root (${path.join(os.tmpdir(), account)})`,
      });
    }
    expect(fs.existsSync(theirs)).toBe(false);
    expect(fs.existsSync(escapes[0])).toBe(false);
  });

  it("never lets one account repoint another account's current", async () => {
    const provider = new DeployDirectoryProvider({ roots, now: steppingClock() });
    const target = await targetDir();
    await provider.run((await deployJob(target, '1')).ctx);
    const failure = await provider
      .run((await deployJob(target, '2', {}, other)).ctx)
      .catch((e: unknown) => e);
    expect(failure).toMatchObject({ type: 'CONFIGURATION_ERROR' });
    expect(await fsp.readFile(path.join(target, 'current', 'version.txt'), 'utf8')).toBe('1');
  });

  it('refuses a releases folder that is a symlink (it would redirect the copy)', async () => {
    const provider = new DeployDirectoryProvider({ roots });
    const target = await targetDir();
    const elsewhere = await tempDir('sluice-elsewhere-');
    cleanups.push(() => fsp.rm(elsewhere, { recursive: true, force: true }));
    await fsp.mkdir(target, { recursive: true });
    await fsp.symlink(elsewhere, path.join(target, 'releases'));
    await expect(provider.run((await deployJob(target, '1')).ctx)).rejects.toMatchObject({
      type: 'CONFIGURATION_ERROR',
      message: expect.stringMatching(/releases must be a folder/),
    });
    expect(await fsp.readdir(elsewhere)).toEqual([]);
  });

  it('under a shared root, a target stays the account that deployed there first', async () => {
    const shared = await tempDir('sluice-shared-root-');
    cleanups.push(() => fsp.rm(shared, { recursive: true, force: true }));
    const provider = new DeployDirectoryProvider({ roots: new TenantRoots([shared]), now: steppingClock() });
    const target = path.join(shared, 'site');
    await provider.run((await deployJob(target, '1')).ctx);
    for (const attempt of [target, path.join(target, 'nested')]) {
      const failure = await provider
        .run((await deployJob(attempt, '2', {}, other)).ctx)
        .catch((e: unknown) => e);
      expect(failure).toMatchObject({
        type: 'PERMISSION_ERROR',
        message: `${path.join(await fsp.realpath(shared), path.relative(shared, attempt))} belongs to another account's deployment`,
      });
    }
    expect(await fsp.readFile(path.join(target, 'current', 'version.txt'), 'utf8')).toBe('1');
    // Nothing was created in the other account's target.
    expect(fs.readdirSync(target).sort()).toEqual(['.sluice-account', 'current', 'releases']);
    // Its own account deploys there again as before.
    await provider.run((await deployJob(target, '3')).ctx);
    expect(await fsp.readFile(path.join(target, 'current', 'version.txt'), 'utf8')).toBe('3');
  });
});
