import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DeployDirectoryProvider } from '../../../src/engine/providers/deploy-directory';
import { makeJob, readTree, tempDir, type TestJob, writeTree } from './job-context';

const cleanups: Array<() => Promise<void>> = [];

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
): Promise<TestJob> {
  const job = await makeJob({
    configuration: { TargetDirectory: target, ...extra },
    pipelineExecutionId: `${version.padStart(8, '0')}-aaaa-4bbb-8ccc-dddddddddddd`,
  });
  cleanups.push(job.cleanup);
  const input = path.join(job.root, 'input');
  await writeTree(input, { 'version.txt': version, 'app/index.html': `<h1>${version}</h1>` });
  job.ctx.inputArtifacts.push({ name: 'BuildOutput', path: input });
  return job;
}

async function targetDir(): Promise<string> {
  const dir = await tempDir('sluice-deploy-');
  cleanups.push(() => fsp.rm(dir, { recursive: true, force: true }));
  return path.join(dir, 'site');
}

describe('Directory deploy provider', () => {
  it('copies the input into releases/<id> and points current at it', async () => {
    const target = await targetDir();
    const provider = new DeployDirectoryProvider({ now: steppingClock() });
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
    const provider = new DeployDirectoryProvider({ now: steppingClock() });
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
    const provider = new DeployDirectoryProvider();
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
    const provider = new DeployDirectoryProvider();
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
