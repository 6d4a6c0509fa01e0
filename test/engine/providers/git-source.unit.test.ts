import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitExportCache } from '../../../src/engine/providers/git-export-cache';
import { localRepositoryPath } from '../../../src/engine/providers/git-location';
import { GitSourceProvider, redactUrl, resolveBranchHead } from '../../../src/engine/providers/git-source';
import { ActionFailure } from '../../../src/engine/providers/provider';
import { TenantRoots } from '../../../src/engine/providers/tenant-roots';
import { makeJob, readTree, tempDir, type TestJob, writeTree } from './job-context';

// The test repositories live in temp folders: that is the local root these tests allow.
const localRoots = new TenantRoots([os.tmpdir()]);
const provider = new GitSourceProvider({ localRoots });
let repo: string;
let firstCommit: string;
let headCommit: string;
const cleanups: Array<() => Promise<void>> = [];

function git(args: string[], cwd = repo): string {
  return execFileSync('git', ['-c', 'user.name=Ada Lovelace', '-c', 'user.email=ada@example.com', ...args], {
    cwd,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_CONFIG_NOSYSTEM: '1',
    },
    encoding: 'utf8',
  }).trim();
}

beforeAll(async () => {
  const dir = await tempDir('sluice-git-');
  cleanups.push(() => fs.promises.rm(dir, { recursive: true, force: true }));
  repo = path.join(dir, 'repo');
  fs.mkdirSync(repo);
  git(['init', '--quiet', '--initial-branch=main']);
  fs.writeFileSync(path.join(repo, 'README.md'), 'v1\n');
  git(['add', '.']);
  git(['commit', '--quiet', '-m', 'First commit']);
  firstCommit = git(['rev-parse', 'HEAD']);
  fs.writeFileSync(path.join(repo, 'README.md'), 'v2\n');
  fs.mkdirSync(path.join(repo, 'bin'));
  fs.writeFileSync(path.join(repo, 'bin', 'run.sh'), '#!/bin/sh\n');
  fs.chmodSync(path.join(repo, 'bin', 'run.sh'), 0o755);
  git(['add', '.']);
  git([
    'commit',
    '--quiet',
    '-m',
    'Second commit: add a script\n\nWith a body that explains why.',
    '--date',
    '2024-03-01T10:20:30+02:00',
  ]);
  headCommit = git(['rev-parse', 'HEAD']);
  git(['checkout', '--quiet', '-b', 'feature']);
  fs.writeFileSync(path.join(repo, 'feature.txt'), 'f\n');
  git(['add', '.']);
  git(['commit', '--quiet', '-m', 'Feature work']);
  git(['checkout', '--quiet', 'main']);
});

afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
});

async function gitJob(configuration: Record<string, string>): Promise<TestJob> {
  const job = await makeJob({ configuration, outputArtifactNames: ['SourceOutput'] });
  cleanups.push(job.cleanup);
  return job;
}

describe('export cache', () => {
  it('reuses an export of the same commit, exactly, and exports a new commit afresh', async () => {
    const cacheDir = await tempDir('sluice-git-cache-');
    cleanups.push(() => fs.promises.rm(cacheDir, { recursive: true, force: true }));
    const cached = new GitSourceProvider({ cacheDir, localRoots });
    const logs: string[] = [];
    const run = async (
      configuration: Record<string, string>,
    ): Promise<{ tree: unknown; result: unknown; log: string }> => {
      const job = await gitJob(configuration);
      const log: string[] = [];
      const ctx = { ...job.ctx, log: (text: string) => void log.push(text) };
      const result = await cached.run(ctx);
      const out = path.join(job.ctx.outputDir, 'SourceOutput');
      logs.push(log.join(''));
      return {
        tree: { files: await readTree(out), exec: fs.statSync(path.join(out, 'bin', 'run.sh')).mode & 0o111 },
        result,
        log: log.join(''),
      };
    };
    const first = await run({ RepositoryUrl: repo, BranchName: 'main' });
    const second = await run({ RepositoryUrl: repo, BranchName: 'main' });
    expect(first.log).not.toMatch(/Reused/);
    expect(second.log).toMatch(/Reused this worker's export of/);
    expect(second.tree).toEqual(first.tree);
    expect(second.result).toEqual(first.result);
    // A full commit id given as Revision is served from the cache once the remote shows it.
    const pinned = await run({ RepositoryUrl: repo, BranchName: 'main', Revision: headCommit });
    expect(pinned.log).toMatch(/Reused/);
    // The branch moves: the new commit is fetched, not served from the cache.
    fs.writeFileSync(path.join(repo, 'README.md'), 'v3\n');
    git(['commit', '--quiet', '-am', 'Third commit']);
    const moved = await run({ RepositoryUrl: repo, BranchName: 'main' });
    expect(moved.log).not.toMatch(/Reused/);
    expect((moved.tree as { files: Record<string, string> }).files['README.md']).toBe('v3\n');
    git(['reset', '--quiet', '--hard', headCommit]);
  });

  it('is kept per account: another account naming the same URL and commit fetches for itself', async () => {
    const cacheDir = await tempDir('sluice-git-cache-');
    cleanups.push(() => fs.promises.rm(cacheDir, { recursive: true, force: true }));
    const cached = new GitSourceProvider({ cacheDir, localRoots });
    const runAs = async (accountId: string, configuration: Record<string, string>) => {
      const job = await makeJob({ accountId, configuration, outputArtifactNames: ['SourceOutput'] });
      cleanups.push(job.cleanup);
      const result = await cached.run(job.ctx).catch((error: unknown) => error);
      return { result, log: job.logText() };
    };
    expect((await runAs('111111111111', { RepositoryUrl: repo, BranchName: 'main' })).log).not.toMatch(
      /Reused/,
    );
    const other = await runAs('222222222222', {
      RepositoryUrl: repo,
      BranchName: 'main',
      Revision: headCommit,
    });
    expect(other.log).not.toMatch(/Reused/);
    expect(fs.readdirSync(cacheDir).sort()).toEqual(['111111111111', '222222222222']);
  });

  it('serves a Revision override from the cache only while the remote still has it', async () => {
    const cacheDir = await tempDir('sluice-git-cache-');
    const dir = await tempDir('sluice-git-');
    cleanups.push(() => fs.promises.rm(cacheDir, { recursive: true, force: true }));
    cleanups.push(() => fs.promises.rm(dir, { recursive: true, force: true }));
    const cached = new GitSourceProvider({ cacheDir, localRoots });
    const remote = path.join(dir, 'remote');
    const makeRemote = (content: string): string => {
      fs.rmSync(remote, { recursive: true, force: true });
      fs.mkdirSync(remote);
      git(['init', '--quiet', '--initial-branch=main'], remote);
      fs.writeFileSync(path.join(remote, 'secret.txt'), content);
      git(['add', '.'], remote);
      git(['commit', '--quiet', '-m', content], remote);
      return git(['rev-parse', 'HEAD'], remote);
    };
    const exported = makeRemote('only while it exists');
    const first = await gitJob({ RepositoryUrl: remote, BranchName: 'main' });
    await cached.run(first.ctx);
    // The repository is replaced: the commit is gone from it, though still in the cache.
    makeRemote('something else');
    const again = await gitJob({ RepositoryUrl: remote, BranchName: 'main', Revision: exported });
    await expect(cached.run(again.ctx)).rejects.toMatchObject({ type: 'REVISION_UNAVAILABLE' });
    expect(again.logText()).not.toMatch(/Reused/);
  });
});

describe('GitExportCache', () => {
  it('survives stores, restores and evictions racing on one entry: a restore is whole or a miss', async () => {
    const cacheDir = await tempDir('sluice-git-cache-');
    const work = await tempDir('sluice-git-race-');
    cleanups.push(() => fs.promises.rm(cacheDir, { recursive: true, force: true }));
    cleanups.push(() => fs.promises.rm(work, { recursive: true, force: true }));
    const source = path.join(work, 'source');
    const files: Record<string, string> = {};
    for (let i = 0; i < 40; i++) files[`dir${i % 5}/file${i}.txt`] = `content ${i}\n`.repeat(50);
    await writeTree(source, files);
    const commit = 'a'.repeat(40);
    const result = { outputVariables: { CommitId: commit }, summary: 'race' };
    // Two "workers" sharing the folder, as two engine instances with one data folder do.
    const caches = [
      new GitExportCache(cacheDir, '123456789012', 'file:///repo'),
      new GitExportCache(cacheDir, '123456789012', 'file:///repo'),
    ];
    let hits = 0;
    let misses = 0;
    const operations: Promise<void>[] = [];
    for (let round = 0; round < 30; round++) {
      const cache = caches[round % 2];
      operations.push(cache.store(commit, source, result));
      operations.push(cache.evict(commit));
      for (let reader = 0; reader < 2; reader++) {
        const target = path.join(work, `restore-${round}-${reader}`);
        operations.push(
          cache.restore(commit, target).then(async (restored) => {
            if (!restored) {
              misses++;
              expect(fs.existsSync(target)).toBe(false);
              return;
            }
            hits++;
            expect(restored).toEqual(result);
            expect(await readTree(target)).toEqual(files);
          }),
        );
      }
    }
    await Promise.all(operations);
    expect(hits + misses).toBe(60);
    // Whatever the interleaving, the cache still works afterwards, and left no temporary folders.
    await caches[0].store(commit, source, result);
    const after = path.join(work, 'after');
    expect(await caches[1].restore(commit, after)).toEqual(result);
    expect(await readTree(after)).toEqual(files);
    const entries = fs.readdirSync(path.join(cacheDir, '123456789012'));
    expect(entries).toHaveLength(1);
    expect(fs.readdirSync(path.join(cacheDir, '123456789012', entries[0]))).toEqual([commit]);
  });
});

describe('Git source provider', () => {
  it('exports the branch head without .git, with variables and the revision', async () => {
    const job = await gitJob({ RepositoryUrl: repo, BranchName: 'main' });
    const result = await provider.run(job.ctx);

    const out = path.join(job.ctx.outputDir, 'SourceOutput');
    expect(await readTree(out)).toEqual({ 'README.md': 'v2\n', 'bin/run.sh': '#!/bin/sh\n' });
    expect(fs.statSync(path.join(out, 'bin', 'run.sh')).mode & 0o111).not.toBe(0);
    expect(fs.existsSync(path.join(out, '.git'))).toBe(false);
    expect(result.outputVariables).toEqual({
      CommitId: headCommit,
      BranchName: 'main',
      CommitMessage: 'Second commit: add a script\n\nWith a body that explains why.',
      AuthorDate: '2024-03-01T08:20:30Z',
    });
    expect(result.revision).toMatchObject({
      revisionId: headCommit,
      revisionSummary: 'Second commit: add a script',
    });
  });

  it('accepts a file:// URL and another branch', async () => {
    const job = await gitJob({ RepositoryUrl: `file://${repo}`, BranchName: 'feature' });
    const result = await provider.run(job.ctx);
    expect(result.outputVariables.CommitMessage).toBe('Feature work');
    expect(fs.existsSync(path.join(job.ctx.outputDir, 'SourceOutput', 'feature.txt'))).toBe(true);
  });

  it('exports a specific Revision', async () => {
    const job = await gitJob({ RepositoryUrl: repo, BranchName: 'main', Revision: firstCommit });
    const result = await provider.run(job.ctx);
    expect(result.outputVariables.CommitId).toBe(firstCommit);
    expect(await readTree(path.join(job.ctx.outputDir, 'SourceOutput'))).toEqual({ 'README.md': 'v1\n' });
  });

  it('finds an abbreviated Revision through the branch history', async () => {
    const job = await gitJob({ RepositoryUrl: repo, BranchName: 'main', Revision: firstCommit.slice(0, 10) });
    const result = await provider.run(job.ctx);
    expect(result.revision?.revisionId).toBe(firstCommit);
  });

  it('gives a full clone with CODEBUILD_CLONE_REF', async () => {
    const job = await gitJob({
      RepositoryUrl: repo,
      BranchName: 'main',
      OutputArtifactFormat: 'CODEBUILD_CLONE_REF',
    });
    const result = await provider.run(job.ctx);
    expect(result.outputVariables.CommitId).toBe(headCommit);
    expect(fs.existsSync(path.join(job.ctx.outputDir, 'SourceOutput', '.git'))).toBe(true);
  });

  it('fails clearly for an unknown branch, an unknown commit and a missing repository', async () => {
    const branch = await provider
      .run((await gitJob({ RepositoryUrl: repo, BranchName: 'nope' })).ctx)
      .catch((e) => e);
    expect(branch).toBeInstanceOf(ActionFailure);
    expect(branch.type).toBe('CONFIGURATION_ERROR');
    expect(branch.message).toBe(`Branch "nope" does not exist in ${repo}`);

    const commit = await provider
      .run((await gitJob({ RepositoryUrl: repo, BranchName: 'main', Revision: 'a'.repeat(40) })).ctx)
      .catch((e) => e);
    expect(commit.type).toBe('REVISION_UNAVAILABLE');
    expect(commit.message).toMatch(/^Commit a{40} is not in /);

    const missing = path.join(path.dirname(repo), 'missing');
    const repoError = await provider
      .run((await gitJob({ RepositoryUrl: missing, BranchName: 'main' })).ctx)
      .catch((e) => e);
    expect(repoError.type).toBe('REVISION_UNAVAILABLE');
    expect(repoError.message).toMatch(
      new RegExp(`^Could not read the repository ${missing}: .*does not appear to be a git repository`),
    );
  });

  it('refuses remote helpers and option-like URLs', async () => {
    for (const url of ['ext::sh -c touch% /tmp/pwned', '--upload-pack=touch /tmp/pwned']) {
      const error = await provider
        .run((await gitJob({ RepositoryUrl: url, BranchName: 'main' })).ctx)
        .catch((e) => e);
      expect(error.type).toBe('CONFIGURATION_ERROR');
    }
  });

  it('masks credentials in URLs it shows', () => {
    expect(redactUrl('https://bot:s3cret@git.example.com/r.git')).toBe(
      'https://bot:***@git.example.com/r.git',
    );
    expect(redactUrl('https://ghp_token@github.com/r.git')).toBe('https://***@github.com/r.git');
    expect(redactUrl('/srv/git/r.git')).toBe('/srv/git/r.git');
  });
});

describe('resolveBranchHead', () => {
  it('returns the head commit of a branch', async () => {
    expect(await resolveBranchHead(repo, 'main')).toBe(headCommit);
    expect(await resolveBranchHead(`file://${repo}`, 'feature')).toBe(git(['rev-parse', 'feature']));
  });

  it('fails for an unknown branch or repository', async () => {
    await expect(resolveBranchHead(repo, 'nope')).rejects.toMatchObject({ type: 'CONFIGURATION_ERROR' });
    await expect(resolveBranchHead('/nonexistent/repo', 'main')).rejects.toMatchObject({
      type: 'REVISION_UNAVAILABLE',
    });
  });
});

describe('local repositories', () => {
  it('tells local locations from remote ones as git does', () => {
    expect(localRepositoryPath('https://git.example/repo.git')).toBeUndefined();
    expect(localRepositoryPath('ssh://git@git.example/repo.git')).toBeUndefined();
    expect(localRepositoryPath('git://git.example/repo.git')).toBeUndefined();
    expect(localRepositoryPath('git@git.example:team/repo.git')).toBeUndefined();
    expect(localRepositoryPath('git.example:repo.git')).toBeUndefined();
    expect(localRepositoryPath('/srv/git/repo.git')).toBe('/srv/git/repo.git');
    expect(localRepositoryPath('file:///srv/git/my%20repo.git')).toBe('/srv/git/my repo.git');
    expect(() => localRepositoryPath('./repo')).toThrow(ActionFailure);
    expect(() => localRepositoryPath('repo/with:colon')).toThrow(ActionFailure);
    expect(() => localRepositoryPath('file://server/srv/repo.git')).toThrow(/without a host/);
  });

  it('reads local repositories only under the roots, whatever the spelling, "..", or a symlink', async () => {
    const dir = await tempDir('sluice-git-link-');
    cleanups.push(() => fs.promises.rm(dir, { recursive: true, force: true }));
    // Folders outside the temp root: a real one, and one a dangling symlink points to.
    fs.symlinkSync('/etc', path.join(dir, 'link'));
    fs.symlinkSync('/srv/elsewhere/app.git', path.join(dir, 'dangling'));
    for (const url of [
      '/srv/elsewhere/app.git',
      'file:///srv/elsewhere/app.git',
      `${os.tmpdir()}/../srv/elsewhere/app.git`,
      path.join(dir, 'link'),
      path.join(dir, 'link', 'sub'),
      path.join(dir, 'dangling'),
    ]) {
      const job = await gitJob({ RepositoryUrl: url, BranchName: 'main' });
      await expect(provider.run(job.ctx), url).rejects.toMatchObject({
        type: 'CONFIGURATION_ERROR',
        message: expect.stringMatching(
          /is a local repository outside the allowed Git roots \(SLUICE_GIT_LOCAL_ROOTS: /,
        ),
      });
    }
    const none = new GitSourceProvider({ localRoots: new TenantRoots([]) });
    const job = await gitJob({ RepositoryUrl: repo, BranchName: 'main' });
    await expect(none.run(job.ctx)).rejects.toMatchObject({
      type: 'CONFIGURATION_ERROR',
      message: expect.stringMatching(/\(SLUICE_GIT_LOCAL_ROOTS: \(none configured\)\)/),
    });
  });
});
