import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GitExportCache } from './git-export-cache';
import { checkRepositoryLocation, localRepositoryPath } from './git-location';
import type { JobSandbox } from '../sandbox/job-sandbox';
import { truncateUtf8 } from './output-variables';
import { ProcessAborted, ProcessTimedOut, runCaptured, safePath, formatDuration } from './process-group';
import {
  type ActionJobContext,
  type ActionProvider,
  type ActionResult,
  type ActionTypeKey,
  ActionFailure,
} from './provider';
import type { TenantRoots } from './tenant-roots';

/**
 * `Source/Sluice/Git/1`: the tree of `BranchName`'s head (or of the commit in `Revision`,
 * which the engine sets for a source revision override) becomes the output artifact.
 *
 * Git runs as a CLI with arguments (never a shell string) and a scrubbed environment: no
 * server variables, no user or system git config, no terminal prompts, and only the file,
 * git, http(s) and ssh transports (`ext::` would run commands named in the URL). Credentials
 * therefore come only from the URL itself or the worker user's ssh setup (ssh reads the
 * user's ~/.ssh from the password database, not from $HOME).
 *
 * OutputArtifactFormat CODE_ZIP (default) exports the tree without `.git`;
 * CODEBUILD_CLONE_REF gives a full clone with the commit checked out.
 */

export const gitSourceType: ActionTypeKey = {
  category: 'Source',
  owner: 'Sluice',
  provider: 'Git',
  version: '1',
};

/** CodePipeline gives the full message; a cap keeps one commit from eating the variables' budget. */
export const maxCommitMessageBytes = 4096;
const defaultResolveTimeoutMs = 60_000;
const revisionPattern = /^[0-9a-f]{4,64}$/;

export interface GitSourceOptions {
  /**
   * Where exported trees are kept by (account, repository, commit), so an execution of a
   * commit this worker exported before for the same account copies it instead of fetching
   * again (commits never change).
   */
  cacheDir?: string;
  /** Where local repositories (paths, file:// URLs) may be read from, per account. */
  localRoots: TenantRoots;
}

export class GitSourceProvider implements ActionProvider {
  readonly type = gitSourceType;

  constructor(private readonly options: GitSourceOptions) {}

  async run(ctx: ActionJobContext): Promise<ActionResult> {
    checkUrl(ctx.configuration.RepositoryUrl);
    await checkRepositoryLocation(ctx.configuration.RepositoryUrl, ctx.accountId, this.options.localRoots);
    const cache =
      this.options.cacheDir && (ctx.configuration.OutputArtifactFormat || 'CODE_ZIP') === 'CODE_ZIP'
        ? new GitExportCache(this.options.cacheDir, ctx.accountId, ctx.configuration.RepositoryUrl)
        : undefined;
    if (cache) {
      checkBranch(ctx.configuration.BranchName);
      const commit = await this.verifiedCommit(ctx);
      const outputName = ctx.outputArtifactNames[0];
      if (commit && outputName) {
        const hit = await cache.restore(commit, path.join(ctx.outputDir, outputName));
        if (hit) {
          ctx.log(
            `Reused this worker's export of ${commit.slice(0, 12)} "${hit.summary}" for ${outputName}\n`,
          );
          return {
            ...hit,
            outputVariables: { ...hit.outputVariables, BranchName: ctx.configuration.BranchName },
          };
        }
      }
    }
    const result = await this.export(ctx);
    const outputName = ctx.outputArtifactNames[0];
    if (cache && result.revision && outputName) {
      await cache
        .store(result.revision.revisionId, path.join(ctx.outputDir, outputName), result)
        .catch(() => undefined);
    }
    return result;
  }

  /**
   * The commit to look up in the cache, as the remote states it now: the branch head, or a
   * `Revision` override that the remote still has at the tip of one of its refs. An override
   * the remote does not show that way is fetched for real (which verifies it) instead.
   */
  private async verifiedCommit(ctx: ActionJobContext): Promise<string | undefined> {
    const url = ctx.configuration.RepositoryUrl;
    const revision = ctx.configuration.Revision?.trim();
    if (!revision) {
      return resolveBranchHead(url, ctx.configuration.BranchName, ctx.signal, {
        timeoutMs: ctx.timeoutMs,
        sandbox: ctx.sandbox,
        workDir: ctx.workDir,
      });
    }
    if (!/^[0-9a-f]{40}$/.test(revision)) return undefined;
    const tips = await remoteRefTips(url, ctx.signal, {
      timeoutMs: ctx.timeoutMs,
      sandbox: ctx.sandbox,
      workDir: ctx.workDir,
    });
    return tips.has(revision) ? revision : undefined;
  }

  private async export(ctx: ActionJobContext): Promise<ActionResult> {
    const url = ctx.configuration.RepositoryUrl;
    const branch = ctx.configuration.BranchName;
    const revision = ctx.configuration.Revision?.trim() || undefined;
    const format = ctx.configuration.OutputArtifactFormat || 'CODE_ZIP';
    checkUrl(url);
    checkBranch(branch);
    if (revision !== undefined && !revisionPattern.test(revision)) {
      throw new ActionFailure('CONFIGURATION_ERROR', `Revision "${revision}" is not a commit id (hex)`);
    }
    if (format !== 'CODE_ZIP' && format !== 'CODEBUILD_CLONE_REF') {
      throw new ActionFailure(
        'CONFIGURATION_ERROR',
        'OutputArtifactFormat must be CODE_ZIP or CODEBUILD_CLONE_REF',
      );
    }
    const outputName = ctx.outputArtifactNames[0];
    if (!outputName) throw new ActionFailure('CONFIGURATION_ERROR', 'A Git source needs one output artifact');
    const outDir = path.join(ctx.outputDir, outputName);
    await fsp.mkdir(outDir, { recursive: true });
    await ctx.sandbox.handOver(outDir);

    const git = new Git(ctx.workDir, Date.now() + ctx.timeoutMs, ctx.signal, ctx.timeoutMs, url, ctx.sandbox);
    const shown = redactUrl(url);
    ctx.log(`Fetching ${revision ? `commit ${revision} of ` : ''}branch ${branch} from ${shown}\n`);

    let gitDir: string;
    let commit: string;
    if (format === 'CODE_ZIP') {
      gitDir = path.join(ctx.workDir, 'repo.git');
      await git.run(['init', '--quiet', '--bare', gitDir]);
      commit = revision
        ? await fetchRevision(git, gitDir, url, branch, revision)
        : await fetchBranch(git, gitDir, url, branch, true);
      // read-tree -u writes the commit's tree into the output (files, modes, symlinks), and
      // the index it needs stays inside the bare repository, out of the artifact.
      await git.run([
        `--git-dir=${gitDir}`,
        `--work-tree=${outDir}`,
        '-c',
        'core.bare=false',
        'read-tree',
        '--reset',
        '-u',
        commit,
      ]);
    } else {
      gitDir = path.join(outDir, '.git');
      const cloned = await git.tryRun([
        'clone',
        '--quiet',
        '--no-hardlinks',
        '--branch',
        branch,
        '--',
        url,
        outDir,
      ]);
      if (cloned.code !== 0) throw fetchFailure(cloned.stderr, url, branch);
      if (revision) {
        const checkout = await git.tryRun(['-C', outDir, 'checkout', '--quiet', '--detach', revision]);
        if (checkout.code !== 0) {
          throw new ActionFailure('REVISION_UNAVAILABLE', `Commit ${revision} is not in ${shown}`);
        }
      }
      commit = await git.output(['-C', outDir, 'rev-parse', 'HEAD']);
    }

    const shownCommit = await git.output([
      `--git-dir=${gitDir}`,
      'show',
      '-s',
      '--format=%H%x00%aI%x00%cI%x00%B',
      commit,
    ]);
    const [commitId, authorDate, commitDate, ...messageParts] = shownCommit.split('\0');
    const message = messageParts.join('\0').replace(/\s+$/, '');
    const summary = message.split('\n')[0];
    ctx.log(`Exported ${commitId.slice(0, 12)} "${summary}" to ${outputName}\n`);

    return {
      outputVariables: {
        CommitId: commitId,
        BranchName: branch,
        CommitMessage: truncateUtf8(message, maxCommitMessageBytes),
        AuthorDate: isoUtc(authorDate),
      },
      summary,
      revision: { revisionId: commitId, revisionSummary: summary, created: isoUtc(commitDate) },
    };
  }
}

/**
 * The commit at the head of `branch` in the repository at `url`, for change detection.
 * Throws ActionFailure: CONFIGURATION_ERROR when the branch does not exist,
 * REVISION_UNAVAILABLE when the repository cannot be read.
 */
export async function resolveBranchHead(
  url: string,
  branch: string,
  signal?: AbortSignal,
  options: GitRunOptions = {},
): Promise<string> {
  checkUrl(url);
  checkBranch(branch);
  return withRemoteGit(url, signal, options, async (git) => {
    const ref = `refs/heads/${branch}`;
    const listed = await git.tryRun(['ls-remote', '--heads', '--', url, ref]);
    if (listed.code !== 0) throw unreachable(listed.stderr, url);
    for (const line of listed.stdout.split('\n')) {
      const [commit, name] = line.split('\t');
      if (name === ref) return commit;
    }
    throw branchMissing(url, branch);
  });
}

/** The commits at the tips of the remote's branches and tags (what `git ls-remote` lists). */
export async function remoteRefTips(
  url: string,
  signal?: AbortSignal,
  options: GitRunOptions = {},
): Promise<Set<string>> {
  checkUrl(url);
  return withRemoteGit(url, signal, options, async (git) => {
    const listed = await git.tryRun(['ls-remote', '--', url]);
    if (listed.code !== 0) throw unreachable(listed.stderr, url);
    return new Set(
      listed.stdout
        .split('\n')
        .map((line) => line.split('\t')[0])
        .filter(Boolean),
    );
  });
}

/** Runs `work` with a git for questions to the remote at `url`, in a throw-away home. */
async function withRemoteGit<T>(
  url: string,
  signal: AbortSignal | undefined,
  options: GitRunOptions,
  work: (git: Git) => Promise<T>,
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? defaultResolveTimeoutMs;
  const home = await gitHome(options);
  try {
    const git = new Git(
      home,
      Date.now() + timeoutMs,
      signal ?? new AbortController().signal,
      timeoutMs,
      url,
      options.sandbox,
    );
    return await work(git);
  } finally {
    await fsp.rm(home, { recursive: true, force: true });
  }
}

async function fetchBranch(
  git: Git,
  gitDir: string,
  url: string,
  branch: string,
  shallow: boolean,
): Promise<string> {
  const ref = 'refs/sluice/source';
  const fetched = await git.tryRun([
    `--git-dir=${gitDir}`,
    'fetch',
    '--quiet',
    '--no-tags',
    ...(shallow ? ['--depth=1'] : []),
    '--',
    url,
    `+refs/heads/${branch}:${ref}`,
  ]);
  if (fetched.code !== 0) throw fetchFailure(fetched.stderr, url, branch);
  return git.output([`--git-dir=${gitDir}`, 'rev-parse', '--verify', `${ref}^{commit}`]);
}

/**
 * Fetching one commit by id is what servers speaking protocol v2 allow (GitHub, GitLab, local
 * repositories); where refused, the branch's whole history is fetched and searched instead.
 */
async function fetchRevision(
  git: Git,
  gitDir: string,
  url: string,
  branch: string,
  revision: string,
): Promise<string> {
  if (revision.length >= 40) {
    const direct = await git.tryRun([
      `--git-dir=${gitDir}`,
      'fetch',
      '--quiet',
      '--no-tags',
      '--depth=1',
      '--',
      url,
      revision,
    ]);
    if (direct.code === 0)
      return git.output([`--git-dir=${gitDir}`, 'rev-parse', '--verify', `${revision}^{commit}`]);
  }
  await fetchBranch(git, gitDir, url, branch, false);
  const found = await git.tryRun([
    `--git-dir=${gitDir}`,
    'rev-parse',
    '--verify',
    '--quiet',
    `${revision}^{commit}`,
  ]);
  if (found.code !== 0) {
    throw new ActionFailure(
      'REVISION_UNAVAILABLE',
      `Commit ${revision} is not in ${redactUrl(url)} (looked up directly and in branch ${branch})`,
    );
  }
  return found.stdout.trim();
}

export interface GitRunOptions {
  timeoutMs?: number;
  /** The job's sandbox, which git then runs in; `workDir` is the job's folder to use as HOME. */
  sandbox?: JobSandbox;
  workDir?: string;
}

/** An empty HOME for one git run: in the job's own folder when it has one (the sandbox sees only that). */
async function gitHome(options: GitRunOptions): Promise<string> {
  const home = await fsp.mkdtemp(
    path.join(options.workDir ?? os.tmpdir(), options.workDir ? '.git-home-' : 'sluice-git-'),
  );
  await options.sandbox?.handOver(home);
  return home;
}

/**
 * Runs git with a deadline, a stop signal and the scrubbed environment, in the job's sandbox
 * (a local repository is shown to it read-only; without a sandbox, reading one is refused);
 * messages name the URL safely.
 */
class Git {
  private readonly env: Record<string, string>;
  private readonly localRepository: string | undefined;

  constructor(
    private readonly cwd: string,
    private readonly deadline: number,
    private readonly signal: AbortSignal,
    private readonly timeoutMs: number,
    private readonly url: string,
    private readonly sandbox?: JobSandbox,
  ) {
    try {
      this.localRepository = localRepositoryPath(url);
    } catch {
      this.localRepository = undefined;
    }
    this.env = {
      PATH: safePath,
      HOME: cwd,
      LANG: 'C',
      GIT_TERMINAL_PROMPT: '0',
      GIT_ASKPASS: '/bin/false',
      SSH_ASKPASS: '/bin/false',
      GIT_SSH_COMMAND: 'ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_ALLOW_PROTOCOL: 'file:git:http:https:ssh',
    };
  }

  async tryRun(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    // A local repository's hooks and config are the tenant's: git must not read them unconfined.
    if (this.localRepository !== undefined) this.sandbox?.require('A Git source reading a local repository');
    await this.trustLocalRepository();
    try {
      const result = await runCaptured('git', args, {
        cwd: this.cwd,
        env: this.env,
        deadline: this.deadline,
        signal: this.signal,
        sandbox: this.sandbox,
        readable: this.localRepository === undefined ? [] : [this.localRepository],
      });
      return { code: result.status.code, stdout: result.stdout.toString('utf8'), stderr: result.stderr };
    } catch (error) {
      if (error instanceof ProcessTimedOut) {
        throw new ActionFailure(
          'JOB_FAILED',
          `Timed out after ${formatDuration(this.timeoutMs)} reading ${redactUrl(this.url)}`,
        );
      }
      if (error instanceof ProcessAborted) throw new ActionFailure('JOB_FAILED', 'Stopped');
      throw error;
    }
  }

  /**
   * Run as a slot uid, git refuses a repository another user owns ("dubious ownership"), and
   * git 2.39 takes `safe.directory` only from system or global config: a global config of
   * our own says so. Reading that repository, confined, is what the sandbox is for.
   */
  private async trustLocalRepository(): Promise<void> {
    if (this.localRepository === undefined || this.env.GIT_CONFIG_GLOBAL !== '/dev/null') return;
    const file = path.join(this.cwd, '.sluice-gitconfig');
    await fsp.rm(file, { force: true });
    await fsp.writeFile(file, '[safe]\n\tdirectory = *\n', { flag: 'wx', mode: 0o644 });
    this.env.GIT_CONFIG_GLOBAL = file;
  }

  async run(args: string[]): Promise<void> {
    const result = await this.tryRun(args);
    if (result.code !== 0) {
      throw new Error(`git ${args[0]} failed (${result.code}): ${redact(result.stderr.trim(), this.url)}`);
    }
  }

  async output(args: string[]): Promise<string> {
    const result = await this.tryRun(args);
    if (result.code !== 0) {
      throw new Error(
        `git ${args.find((a) => !a.startsWith('-'))} failed (${result.code}): ${redact(result.stderr.trim(), this.url)}`,
      );
    }
    return result.stdout.trim();
  }
}

function fetchFailure(stderr: string, url: string, branch: string): ActionFailure {
  if (/couldn't find remote ref|Remote branch .* not found/i.test(stderr)) return branchMissing(url, branch);
  return unreachable(stderr, url);
}

function branchMissing(url: string, branch: string): ActionFailure {
  return new ActionFailure('CONFIGURATION_ERROR', `Branch "${branch}" does not exist in ${redactUrl(url)}`);
}

function unreachable(stderr: string, url: string): ActionFailure {
  const reason = redact(stderr, url)
    .split('\n')
    .map((line) => line.replace(/^fatal: /, '').trim())
    .filter(Boolean)
    .slice(0, 2)
    .join('; ');
  return new ActionFailure(
    'REVISION_UNAVAILABLE',
    `Could not read the repository ${redactUrl(url)}: ${reason || 'git failed'}`,
  );
}

export function checkUrl(url: string | undefined): asserts url is string {
  if (!url) throw new ActionFailure('CONFIGURATION_ERROR', 'RepositoryUrl is required');
  // An argument starting with "-" would be read by git as an option.
  if (url.startsWith('-'))
    throw new ActionFailure('CONFIGURATION_ERROR', 'RepositoryUrl must not start with "-"');
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(url)) {
    throw new ActionFailure(
      'CONFIGURATION_ERROR',
      'RepositoryUrl must not name a git remote helper (<transport>::)',
    );
  }
}

function checkBranch(branch: string | undefined): asserts branch is string {
  if (!branch) throw new ActionFailure('CONFIGURATION_ERROR', 'BranchName is required');
  // git check-ref-format's rules, in short; also keeps the refspec built from it well formed.
  if (
    branch.startsWith('-') ||
    branch.startsWith('/') ||
    branch.endsWith('/') ||
    branch.endsWith('.lock') ||
    branch.includes('..') ||
    branch.includes('@{') ||
    // eslint-disable-next-line no-control-regex
    /[\s~^:?*[\\\x00-\x1f\x7f]/.test(branch)
  ) {
    throw new ActionFailure('CONFIGURATION_ERROR', `BranchName "${branch}" is not a valid Git branch name`);
  }
}

/** A URL as shown in logs and messages: any password or token in it masked. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password && !parsed.username) return url;
    if (parsed.password) parsed.password = '***';
    else parsed.username = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

function redact(text: string, url: string): string {
  try {
    const parsed = new URL(url);
    const secrets = [parsed.password, parsed.password ? '' : parsed.username].filter((s) => s.length > 0);
    return secrets.reduce(
      (acc, secret) => acc.split(secret).join('***'),
      text.split(url).join(redactUrl(url)),
    );
  } catch {
    return text;
  }
}

/** Git's ISO dates carry the author's offset; variables read better in UTC, to the second. */
function isoUtc(date: string): string {
  const parsed = new Date(date);
  return Number.isNaN(parsed.getTime()) ? date : parsed.toISOString().replace('.000Z', 'Z');
}
