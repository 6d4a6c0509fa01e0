import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
};

/** A real git repository in a temp folder, branch `main`, for Source/Git actions. */
export class GitRepo {
  private constructor(readonly dir: string) {}

  static create(files: Record<string, string>, message = 'first'): GitRepo {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-repo-'));
    fs.chmodSync(dir, 0o755);
    execFileSync('git', ['init', '-q', '-b', 'main', dir], { env: GIT_ENV });
    const repo = new GitRepo(dir);
    repo.commit(files, message);
    return repo;
  }

  /** Writes the files, commits, and returns the commit id. */
  commit(files: Record<string, string>, message: string): string {
    for (const [name, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(this.dir, name)), { recursive: true });
      fs.writeFileSync(path.join(this.dir, name), content);
    }
    execFileSync('git', ['-C', this.dir, 'add', '-A'], { env: GIT_ENV });
    execFileSync('git', ['-C', this.dir, 'commit', '-q', '-m', message], { env: GIT_ENV });
    return this.head();
  }

  head(): string {
    return execFileSync('git', ['-C', this.dir, 'rev-parse', 'HEAD'], { env: GIT_ENV }).toString().trim();
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
