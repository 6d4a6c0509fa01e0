import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ActionFailure } from '../../../src/engine/providers/provider';
import { ShellProvider, splitCommands } from '../../../src/engine/providers/shell';
import { makeJob, readTree, tempDir, type TestJob, writeTree } from './job-context';

const provider = new ShellProvider('Build');
const jobs: TestJob[] = [];

afterEach(async () => {
  await Promise.all(jobs.splice(0).map((job) => job.cleanup()));
});

/** A job whose primary input `src` holds `files` (and optional further inputs). */
async function shellJob(
  configuration: Record<string, string>,
  options: {
    files?: Record<string, string>;
    inputs?: Record<string, Record<string, string>>;
    outputs?: string[];
    timeoutMs?: number;
    signal?: AbortSignal;
    maxLogBytes?: number;
  } = {},
): Promise<TestJob> {
  const job = await makeJob({
    configuration,
    outputArtifactNames: options.outputs ?? [],
    timeoutMs: options.timeoutMs ?? 30_000,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  jobs.push(job);
  if (options.maxLogBytes !== undefined) job.ctx.limits.maxLogBytes = options.maxLogBytes;
  const inputs = { src: options.files ?? {}, ...(options.inputs ?? {}) };
  for (const [name, files] of Object.entries(inputs)) {
    const dir = path.join(job.root, 'inputs', name);
    await fsp.mkdir(dir, { recursive: true });
    await writeTree(dir, files);
    job.ctx.inputArtifacts.push({ name, path: dir });
  }
  return job;
}

async function failureOf(promise: Promise<unknown>): Promise<ActionFailure> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ActionFailure);
  return error as ActionFailure;
}

function buildspec(lines: string[]): string {
  return lines.join('\n');
}

/** Whether a process is gone (or a zombie nobody reaps, which is as good as gone). */
function processGone(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

describe('Shell provider: Commands', () => {
  it('has the types Build/Sluice/Shell/1 and Test/Sluice/Shell/1', () => {
    expect(provider.type).toEqual({ category: 'Build', owner: 'Sluice', provider: 'Shell', version: '1' });
    expect(new ShellProvider('Test').type.category).toBe('Test');
  });

  it('runs each line in order, in the primary input, logging a header per command', async () => {
    const job = await shellJob(
      { Commands: 'echo "hello from $(cat greeting.txt)"\necho to-stderr >&2\n\necho done' },
      { files: { 'greeting.txt': 'the input' } },
    );
    const result = await provider.run(job.ctx);
    expect(result.outputVariables).toEqual({});
    const log = job.logText();
    expect(log).toContain(
      '[Container] Running command echo "hello from $(cat greeting.txt)"\nhello from the input\n',
    );
    expect(log).toContain('[Container] Running command echo to-stderr >&2\nto-stderr\n');
    expect(log.indexOf('to-stderr\n')).toBeLessThan(log.indexOf('Running command echo done'));
    expect(log).toMatch(/Phase complete: BUILD State: SUCCEEDED/);
  });

  it('fails with the command and its exit code, and runs nothing after it', async () => {
    const job = await shellJob({ Commands: 'true\nsh -c "exit 3"\ntouch after' });
    const failure = await failureOf(provider.run(job.ctx));
    expect(failure.type).toBe('JOB_FAILED');
    expect(failure.message).toBe('Command "sh -c "exit 3"" exited with code 3 in phase BUILD');
    expect(fs.existsSync(path.join(job.ctx.workDir, 'src', 'after'))).toBe(false);
    expect(job.logText()).toMatch(/Phase complete: BUILD State: FAILED/);
  });

  it('runs all commands in one shell session (exports, plain variables and cd carry over)', async () => {
    const job = await shellJob(
      { Commands: 'export A=1\nB=2\nmkdir -p sub && cd sub\ntest "$A$B" = 12 && pwd > ../where.txt' },
      { outputs: ['Out'] },
    );
    await provider.run(job.ctx);
    expect(await fsp.readFile(path.join(job.ctx.outputDir, 'Out', 'where.txt'), 'utf8')).toMatch(
      /\/src\/sub\n$/,
    );
  });

  it('outputs the working directory as the first output, SLUICE_OUTPUT_DIR_<name> as further ones', async () => {
    const job = await shellJob(
      { Commands: 'echo built > app.bin\necho report > "$SLUICE_OUTPUT_DIR_test_reports/summary.txt"' },
      { files: { 'main.c': 'int main;' }, outputs: ['BuildOut', 'test-reports'] },
    );
    await provider.run(job.ctx);
    expect(await readTree(path.join(job.ctx.outputDir, 'BuildOut'))).toEqual({
      'app.bin': 'built\n',
      'main.c': 'int main;',
    });
    expect(await readTree(path.join(job.ctx.outputDir, 'test-reports'))).toEqual({
      'summary.txt': 'report\n',
    });
  });

  it('passes EnvironmentVariables and the SLUICE_ variables', async () => {
    const job = await shellJob(
      {
        Commands: 'env > "$SLUICE_SRC_DIR/env.txt"',
        EnvironmentVariables: JSON.stringify([{ name: 'STAGE', value: 'prod', type: 'PLAINTEXT' }]),
      },
      { outputs: ['Out'] },
    );
    await provider.run(job.ctx);
    const env = await fsp.readFile(path.join(job.ctx.outputDir, 'Out', 'env.txt'), 'utf8');
    expect(env).toContain('STAGE=prod\n');
    expect(env).toContain('SLUICE_PIPELINE_NAME=demo\n');
    expect(env).toContain(`SLUICE_PIPELINE_EXECUTION_ID=${job.ctx.pipelineExecutionId}\n`);
    expect(env).toContain(`SLUICE_ACTION_EXECUTION_ID=${job.ctx.actionExecutionId}\n`);
    expect(env).toContain(`SLUICE_SRC_DIR=${path.join(job.ctx.workDir, 'src')}\n`);
    expect(env).toContain('LANG=C.UTF-8\n');
    expect(env).toContain('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n');
    expect(env).toContain(`HOME=${path.join(job.ctx.workDir, 'home')}\n`);
  });

  it('never shows the server environment to commands', async () => {
    const saved = { ...process.env };
    process.env.DATABASE_URL = 'postgres://sluice:secret@localhost/sluice';
    process.env.SLUICE_JWT_SECRET = 'server-signing-key';
    process.env.AWS_SECRET_ACCESS_KEY = 'token-of-the-server';
    try {
      const job = await shellJob({ Commands: 'env > env.txt\nset > set.txt' }, { outputs: ['Out'] });
      await provider.run(job.ctx);
      const out = path.join(job.ctx.outputDir, 'Out');
      const seen =
        (await fsp.readFile(path.join(out, 'env.txt'), 'utf8')) +
        (await fsp.readFile(path.join(out, 'set.txt'), 'utf8'));
      expect(seen).not.toContain('DATABASE_URL');
      expect(seen).not.toContain('secret');
      expect(seen).not.toContain('SLUICE_JWT_SECRET');
      expect(seen).not.toContain('server-signing-key');
      expect(seen).not.toContain('token-of-the-server');
      const names = seen.split('\n').map((line) => line.split('=')[0]);
      for (const name of Object.keys(saved)) {
        if (
          ['PATH', 'HOME', 'LANG', 'PWD', 'TMPDIR', 'IFS', 'PS1', 'PS2', 'PS4', 'OPTIND', 'PPID'].includes(
            name,
          )
        )
          continue;
        expect(names, `${name} leaked`).not.toContain(name);
      }
    } finally {
      process.env = saved;
    }
  });

  it('gives further inputs as SLUICE_SRC_DIR_<name>, with - turned into _', async () => {
    const job = await shellJob(
      {
        Commands: 'cat "$SLUICE_SRC_DIR_shared_lib/lib.txt" "$SLUICE_SRC_DIR_Assets/logo.txt" > combined.txt',
      },
      {
        files: { 'app.txt': 'app' },
        inputs: { 'shared-lib': { 'lib.txt': 'lib;' }, Assets: { 'logo.txt': 'logo' } },
        outputs: ['Out'],
      },
    );
    await provider.run(job.ctx);
    expect(await fsp.readFile(path.join(job.ctx.outputDir, 'Out', 'combined.txt'), 'utf8')).toBe('lib;logo');
  });

  it('uses PrimarySource as the working directory', async () => {
    const job = await shellJob(
      { Commands: 'test -f second.txt', PrimarySource: 'Second' },
      { files: { 'first.txt': '' }, inputs: { Second: { 'second.txt': '' } } },
    );
    await provider.run(job.ctx);
    const wrong = await shellJob({ Commands: 'true', PrimarySource: 'Nope' });
    const failure = await failureOf(provider.run(wrong.ctx));
    expect(failure.type).toBe('CONFIGURATION_ERROR');
  });

  it('kills the whole process tree on timeout', async () => {
    const job = await shellJob(
      { Commands: "sleep 30 & echo $! > pids; sh -c 'echo $$ >> pids; exec sleep 30'; wait" },
      { timeoutMs: 1500 },
    );
    const started = Date.now();
    const failure = await failureOf(provider.run(job.ctx));
    // The bound is the children's 30 s sleep: well short of it proves no one waited for them.
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(failure.message).toMatch(/^Timed out after 1\.5 seconds while running "sleep 30 & echo/);
    expect(failure.message).toMatch(/in phase BUILD$/);
    const pids = (await fsp.readFile(path.join(job.ctx.workDir, 'src', 'pids'), 'utf8'))
      .trim()
      .split('\n')
      .map(Number);
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(processGone(pid), `sleep ${pid} still running`).toBe(true);
  });

  it('ends background processes a phase left running when the action ends', async () => {
    const job = await shellJob({ Commands: 'sleep 30 &\necho $! > "$SLUICE_SRC_DIR/bg.pid"' });
    const started = Date.now();
    await provider.run(job.ctx);
    // Well short of the background sleep's 30 s: the action did not wait for it.
    expect(Date.now() - started).toBeLessThan(15_000);
    const pid = Number(await fsp.readFile(path.join(job.ctx.workDir, 'src', 'bg.pid'), 'utf8'));
    expect(processGone(pid)).toBe(true);
  });

  it('stops at once when the signal aborts', async () => {
    const controller = new AbortController();
    const job = await shellJob({ Commands: 'echo $$ > pid\nsleep 30' }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    const started = Date.now();
    const failure = await failureOf(provider.run(job.ctx));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(failure.message).toBe('Stopped while running "sleep 30" in phase BUILD');
    const pid = Number(await fsp.readFile(path.join(job.ctx.workDir, 'src', 'pid'), 'utf8'));
    expect(processGone(pid)).toBe(true);
  });

  it('caps the log but keeps running the commands', async () => {
    const job = await shellJob(
      { Commands: 'yes "a log line" | head -c 200000\necho finished > done.txt' },
      { maxLogBytes: 4000, outputs: ['Out'] },
    );
    await provider.run(job.ctx);
    const log = job.logText();
    expect(Buffer.byteLength(log)).toBeLessThanOrEqual(4000);
    expect(log.match(/Log output truncated/g)).toHaveLength(1);
    expect(fs.existsSync(path.join(job.ctx.outputDir, 'Out', 'done.txt'))).toBe(true);
  });

  it('joins lines ending in a backslash', () => {
    expect(splitCommands('echo a \\\n  b\n\n  \necho c')).toEqual(['echo a   b', 'echo c']);
  });
});

describe('Shell provider: buildspec', () => {
  const phases = buildspec([
    'version: 0.2',
    'env:',
    '  variables:',
    '    GREETING: hello',
    '    NUMBER: 42',
    '  exported-variables:',
    '    - VERSION',
    '    - COMMIT',
    '    - GREETING',
    'phases:',
    '  post_build:',
    '    commands:',
    '      - echo post_build >> order.txt',
    '  install:',
    '    commands:',
    '      - echo install >> order.txt',
    '  pre_build:',
    '    commands:',
    '      - echo pre_build >> order.txt',
    '      - COMMIT=abc123',
    '  build:',
    '    commands:',
    '      - echo "build $COMMIT $NUMBER" >> order.txt',
    '      - export VERSION=1.2.$NUMBER',
    'artifacts:',
    '  files:',
    '    - order.txt',
  ]);

  it('runs install, pre_build, build, post_build in order and exports variables', async () => {
    const job = await shellJob({ BuildSpec: phases }, { outputs: ['Out'] });
    const result = await provider.run(job.ctx);
    expect(await fsp.readFile(path.join(job.ctx.outputDir, 'Out', 'order.txt'), 'utf8')).toBe(
      'install\npre_build\nbuild abc123 42\npost_build\n',
    );
    expect(result.outputVariables).toEqual({ VERSION: '1.2.42', COMMIT: 'abc123', GREETING: 'hello' });
    const log = job.logText();
    for (const phase of ['INSTALL', 'PRE_BUILD', 'BUILD', 'POST_BUILD']) {
      expect(log).toMatch(new RegExp(`Entering phase ${phase}\\n`));
    }
  });

  it('reads buildspec.yml from the primary input when nothing is configured', async () => {
    const job = await shellJob({}, { files: { 'buildspec.yml': phases }, outputs: ['Out'] });
    const result = await provider.run(job.ctx);
    expect(result.outputVariables.VERSION).toBe('1.2.42');
  });

  it('runs post_build after a failed build, then fails with the build error', async () => {
    const marker = path.join(await tempDir('sluice-marker-'), 'm');
    const job = await shellJob({
      BuildSpec: buildspec([
        'version: 0.2',
        'phases:',
        '  build:',
        '    commands:',
        '      - "false"',
        '      - echo never >> "$MARKER"',
        '  post_build:',
        '    commands:',
        '      - echo post_build >> "$MARKER"',
      ]),
      EnvironmentVariables: JSON.stringify([{ name: 'MARKER', value: marker }]),
    });
    try {
      const failure = await failureOf(provider.run(job.ctx));
      expect(failure.message).toBe('Command "false" exited with code 1 in phase BUILD');
      expect(await fsp.readFile(marker, 'utf8')).toBe('post_build\n');
    } finally {
      await fsp.rm(path.dirname(marker), { recursive: true, force: true });
    }
  });

  it('runs nothing more after a failed install', async () => {
    const job = await shellJob({
      BuildSpec: buildspec([
        'version: 0.2',
        'phases:',
        '  install: { commands: ["exit 4"] }',
        '  build: { commands: ["touch build-ran"] }',
        '  post_build: { commands: ["touch post-ran"] }',
      ]),
    });
    const failure = await failureOf(provider.run(job.ctx));
    expect(failure.message).toBe('Command "exit 4" exited with code 4 in phase INSTALL');
    const src = path.join(job.ctx.workDir, 'src');
    expect(fs.existsSync(path.join(src, 'build-ran')) || fs.existsSync(path.join(src, 'post-ran'))).toBe(
      false,
    );
  });

  it('selects artifacts with base-directory, ** globs, exclude-paths and discard-paths, and secondary artifacts', async () => {
    const job = await shellJob(
      {
        BuildSpec: buildspec([
          'version: 0.2',
          'phases:',
          '  build:',
          '    commands:',
          '      - mkdir -p dist/js/vendor dist/css reports/unit reports/e2e',
          '      - echo app > dist/js/app.js; echo lib > dist/js/vendor/lib.js; echo css > dist/css/site.css',
          '      - echo map > dist/js/app.js.map; echo idx > dist/index.html',
          '      - echo u > reports/unit/junit.xml; echo e > reports/e2e/results.xml; echo x > reports/notes.txt',
          'artifacts:',
          '  base-directory: dist',
          '  files:',
          '    - "**/*"',
          '  exclude-paths:',
          '    - "**/*.map"',
          '  secondary-artifacts:',
          '    Reports:',
          '      base-directory: reports',
          '      discard-paths: yes',
          '      files:',
          '        - "**/*.xml"',
          '    Styles:',
          '      files: [dist/css]',
        ]),
      },
      { outputs: ['Site', 'Reports', 'Styles'] },
    );
    await provider.run(job.ctx);
    expect(await readTree(path.join(job.ctx.outputDir, 'Site'))).toEqual({
      'index.html': 'idx\n',
      'css/site.css': 'css\n',
      'js/app.js': 'app\n',
      'js/vendor/lib.js': 'lib\n',
    });
    expect(await readTree(path.join(job.ctx.outputDir, 'Reports'))).toEqual({
      'junit.xml': 'u\n',
      'results.xml': 'e\n',
    });
    expect(await readTree(path.join(job.ctx.outputDir, 'Styles'))).toEqual({ 'dist/css/site.css': 'css\n' });
  });

  it('fails clearly when no file matches, or an output has no artifact section', async () => {
    const noMatch = await shellJob(
      {
        BuildSpec: 'version: 0.2\nphases: { build: { commands: ["true"] } }\nartifacts: { files: ["*.jar"] }',
      },
      { outputs: ['Out'] },
    );
    expect((await failureOf(provider.run(noMatch.ctx))).message).toBe(
      'No files match artifacts.files [*.jar] of artifact "Out" in the working directory',
    );
    const missing = await shellJob(
      {
        BuildSpec:
          'version: 0.2\nphases: { build: { commands: ["touch a"] } }\nartifacts: { files: ["**/*"] }',
      },
      { outputs: ['Out', 'Extra'] },
    );
    const failure = await failureOf(provider.run(missing.ctx));
    expect(failure.type).toBe('CONFIGURATION_ERROR');
    expect(failure.message).toMatch(/no artifacts.secondary-artifacts.Extra for output artifact "Extra"/);
  });

  it('refuses output variables over 122,880 bytes', async () => {
    const job = await shellJob({
      BuildSpec: buildspec([
        'version: 0.2',
        'env: { exported-variables: [BIG] }',
        'phases:',
        '  build:',
        '    commands:',
        '      - BIG=$(head -c 130000 /dev/zero | tr "\\0" x)',
      ]),
    });
    const failure = await failureOf(provider.run(job.ctx));
    expect(failure.message).toMatch(/^Output variables total 130003 bytes, over the limit of 122880 bytes/);
  });

  it.each([
    ['version: 0.1\nphases: {}', /version must be 0.2/],
    [
      'version: 0.2\nphases: { build: { commands: [x], finally: { commands: [y] } } }',
      /unsupported key\(s\) finally/,
    ],
    ['version: 0.2\nenv: { parameter-store: { A: /x } }', /unsupported key\(s\) parameter-store/],
    ['version: 0.2\nenv: { variables: { SLUICE_X: a } }', /SLUICE_ are reserved/],
    ['version: [0.2', /not valid YAML/],
  ])('refuses a bad buildspec: %s', async (spec, message) => {
    const job = await shellJob({ BuildSpec: spec });
    const failure = await failureOf(provider.run(job.ctx));
    expect(failure.type).toBe('CONFIGURATION_ERROR');
    expect(failure.message).toMatch(message);
  });

  it('says so when there is nothing to run', async () => {
    const job = await shellJob({});
    const failure = await failureOf(provider.run(job.ctx));
    expect(failure.type).toBe('CONFIGURATION_ERROR');
    expect(failure.message).toMatch(/no buildspec.yml/);
  });
});
