import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actionExecutions, CREATE_PIPELINE, latestExecution, sourceAndBuild } from '../../support/executions';
import { newAccount, type TestAccount } from '../../support/factories';
import { GitRepo } from '../../support/git-repo';
import type { GraphQLClient } from '../../support/graphql-client';
import { startTestServer, type TestServer } from '../../support/test-server';

/**
 * Issue 7, point 1: what a tenant's build can reach, as real pipeline runs through GraphQL,
 * on a server that runs as root (as here and in CI) with its own embedded PostgreSQL, in
 * both sandbox modes root offers. Each probe prints READ/LISTED/SIGNALLED when it got
 * through and DENIED when not; the build itself proves the probe works on its own files.
 * With bubblewrap the work root exists inside the sandbox only as the way to the job's own
 * folders (mounted at their host paths), so listing it may show that one attempt and no other.
 */

/** The work root as the job saw it: not at all, or holding its own attempt only. */
function expectOnlyOwnAttempt(log: string, workRoot: string, others: string[] = []): void {
  const listed = new RegExp(`^LISTED ${workRoot}: (.*)$`, 'm').exec(log);
  if (!listed) {
    expect(log).toContain(`DENIED ${workRoot}`);
    return;
  }
  const entries = listed[1].trim().split(' ').filter(Boolean);
  expect(entries.length).toBeLessThanOrEqual(1);
  for (const other of others) expect(entries).not.toContain(other);
}

const TERMINAL = ['SUCCEEDED', 'FAILED', 'STOPPED', 'SUPERSEDED', 'CANCELLED'];

const PROBES = [
  'probe() { if head -c 64 "$1" > /dev/null 2>&1; then echo "READ $1"; else echo "DENIED $1"; fi; }',
  'probe_dir() { if ls -A "$1" > /dev/null 2>&1; then echo "LISTED $1: $(ls -A "$1" | tr "\\n" " ")"; else echo "DENIED $1"; fi; }',
  'probe_kill() { if kill -0 "$1" 2> /dev/null; then echo "SIGNALLED $1"; else echo "DENIED kill $1"; fi; }',
];

async function until<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Host pids of live processes whose command line is exactly `argv`. */
function processesRunning(argv: string[]): number[] {
  const wanted = argv.join('\0');
  const found: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0$/, '');
      const state = /^State:\s+(\S)/m.exec(fs.readFileSync(`/proc/${name}/status`, 'utf8'))?.[1];
      if (cmdline === wanted && state !== 'Z') found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function hostUidOf(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

/** Every file under `dir` (as root sees it). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(full));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

async function buildLog(client: GraphQLClient, pipeline: string, executionId: string): Promise<string> {
  const build = (await actionExecutions(client, pipeline, executionId)).find((a) => a.stageName === 'Build');
  if (!build) return '';
  const data = await client.ok<{ actionExecutionLog: { text: string } }>(
    `query($p: String!) { actionExecutionLog(pipelineName: $p, actionExecutionId: ${JSON.stringify(
      build.actionExecutionId,
    )}, limit: 1048576) { text } }`,
    { p: pipeline },
  );
  return data.actionExecutionLog.text;
}

/** Creates the pipeline (which starts it) and returns its first execution's id. */
async function startBuild(
  client: GraphQLClient,
  name: string,
  repo: GitRepo,
  commands: string[],
): Promise<string> {
  await client.ok(CREATE_PIPELINE, { p: sourceAndBuild(name, repo.dir, commands.join('\n')) });
  const execution = await until(() => latestExecution(client, name), `an execution of ${name}`);
  return execution.pipelineExecutionId;
}

async function finished(
  client: GraphQLClient,
  name: string,
): Promise<{ status: string; log: string; summary: string }> {
  const execution = await until(async () => {
    const latest = await latestExecution(client, name);
    return latest && TERMINAL.includes(latest.status) ? latest : undefined;
  }, `${name} to end`);
  const log = await buildLog(client, name, execution.pipelineExecutionId);
  // The summary names a failed action's error; shown with the log when an expectation fails.
  return { status: execution.status, log, summary: `${execution.statusSummary ?? ''}\n${log}` };
}

async function runBuild(client: GraphQLClient, name: string, repo: GitRepo, commands: string[]) {
  await startBuild(client, name, repo, commands);
  return finished(client, name);
}

// Digits only (they end up in `sleep 30.<tag>`), unique per run: runs may overlap on one machine.
const runTag = String(process.pid % 100_000).padStart(5, '0');

describe.each([
  { mode: 'bwrap', tag: `1${runTag}` },
  { mode: 'uid', tag: `2${runTag}` },
])('SLUICE_SANDBOX=$mode (server running as root)', ({ mode, tag }) => {
  let server: TestServer;
  let alice: TestAccount;
  let mallory: TestAccount;
  let repo: GitRepo;
  let workRoot: string;

  beforeAll(async () => {
    expect(process.getuid?.(), 'these tests run as root, as CI does').toBe(0);
    // The embedded PostgreSQL (`databaseUrl: null`), so pg.password and the cluster exist.
    server = await startTestServer({ SLUICE_SANDBOX: mode }, { databaseUrl: null });
    workRoot = `${server.dataDir}-work`;
    alice = await newAccount(server, 'alice');
    mallory = await newAccount(server, 'mallory');
    // The probes come with the sources (a pipeline's Commands are at most 1000 characters).
    repo = GitRepo.create({ 'app.txt': 'hello from the repository\n', 'probe.sh': `${PROBES.join('\n')}\n` });
    // As a server with a generated admin password and webhook key has them (these tests set
    // the admin password, and webhook keys may be kept elsewhere).
    for (const name of ['admin-password', 'webhook-secret']) {
      const file = path.join(server.dataDir, name);
      if (!fs.existsSync(file)) fs.writeFileSync(file, `secret-${name}-${tag}\n`, { mode: 0o600 });
    }
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    repo?.remove();
  });

  it(`is what /readyz reports, and keeps the data folder 0700 with its files 0600`, async () => {
    const ready = (await (await fetch(server.url.replace('/graphql', '/readyz'))).json()) as Record<
      string,
      string
    >;
    expect(ready).toMatchObject({ status: 'ready', sandbox: mode });
    expect(fs.statSync(server.dataDir).mode & 0o777).toBe(0o700);
    for (const name of ['signing-key.pem', 'pg.password']) {
      expect(fs.statSync(path.join(server.dataDir, name)).mode & 0o777, name).toBe(0o600);
    }
  });

  it("runs the build as an unprivileged uid that cannot read the server's secrets, database or artifacts", async () => {
    // A first run puts artifacts in the store; the second one goes looking for them.
    const warmUp = await runBuild(mallory.root, 'warm-up', repo, ['cat app.txt']);
    expect(warmUp.status, warmUp.summary).toBe('SUCCEEDED');
    const artifacts = filesUnder(path.join(server.dataDir, 'artifacts'));
    expect(artifacts.length).toBeGreaterThan(0);
    const secrets = [
      path.join(server.dataDir, 'signing-key.pem'),
      path.join(server.dataDir, 'pg.password'),
      path.join(server.dataDir, 'admin-password'),
      path.join(server.dataDir, 'webhook-secret'),
      `/proc/${process.pid}/environ`,
      artifacts[0],
    ];
    const cluster = filesUnder(`${server.dataDir}-pg`).find((f) => f.endsWith('PG_VERSION'));
    expect(cluster, 'the embedded cluster').toBeDefined();
    secrets.push(cluster as string);
    for (const file of secrets) expect(fs.existsSync(file), file).toBe(true);
    const folders = [server.dataDir, path.join(server.dataDir, 'artifacts'), `${server.dataDir}-pg`];

    const { status, log, summary } = await runBuild(mallory.root, 'snoop', repo, [
      '. ./probe.sh',
      'echo "UID $(id -u)"',
      'echo "USER $(id -un 2> /dev/null || echo unnamed)"',
      'probe app.txt',
      ...secrets.map((file) => `probe ${file}`),
      ...folders.map((dir) => `probe_dir ${dir}`),
      `probe_dir ${workRoot}`,
      'echo "ENV $(env | cut -d= -f1 | sort | tr "\\n" " ")"',
    ]);
    expect(status, summary).toBe('SUCCEEDED');
    expect(log).toContain('READ app.txt');
    for (const file of secrets) expect(log).toContain(`DENIED ${file}`);
    for (const dir of folders) expect(log).toContain(`DENIED ${dir}`);
    expect(log).not.toMatch(/^READ \//m);
    expectOnlyOwnAttempt(log, workRoot);
    const uid = Number(/^UID (\d+)$/m.exec(log)?.[1]);
    expect(uid).toBeGreaterThanOrEqual(100_000);
    // ssh needs a passwd entry for its uid: bubblewrap shows one; the uid mode has none.
    expect(log).toMatch(mode === 'bwrap' ? /^USER sluice-job-\d+$/m : /^USER \d+$/m);
    // Only what a build needs: nothing of the server's environment.
    const names = (/^ENV (.*)$/m.exec(log)?.[1] ?? '').trim().split(' ');
    const allowed = /^(PATH|HOME|TMPDIR|LANG|PWD|OLDPWD|SHLVL|_|SLUICE_[A-Za-z0-9_]+)$/;
    expect(names.filter((name) => !allowed.test(name))).toEqual([]);
    expect(names).toContain('SLUICE_SRC_DIR');
  });

  it("cannot read another account's running job, signal it or the server; abandoning kills its whole tree", async () => {
    const sleeper = ['sleep', `30.${tag}`];
    const detached = ['sleep', `31.${tag}`];
    const aliceRun = await startBuild(alice.root, 'long-build', repo, [
      `echo "alice-private-${tag}" > private.txt`,
      // One process leaves the process group for good; it must still end with the job.
      `setsid ${detached.join(' ')} > /dev/null 2>&1 &`,
      sleeper.join(' '),
    ]);
    const [sleeperPid] = await until(() => {
      const pids = processesRunning(sleeper);
      return pids.length && processesRunning(detached).length ? pids : undefined;
    }, "alice's build to be running");
    const hostUid = hostUidOf(sleeperPid);
    expect(hostUid, "the job's uid on the host").toBeGreaterThanOrEqual(100_000);
    const privateFile = await until(
      () => filesUnder(workRoot).find((file) => file.endsWith(`${path.sep}private.txt`)),
      "alice's workspace",
    );
    const attempt = privateFile.slice(0, privateFile.indexOf('/work/'));
    expect(fs.statSync(attempt).mode & 0o777, 'the attempt folder').toBe(0o711);
    expect(fs.statSync(path.join(attempt, 'work')).uid).toBe(hostUid);
    expect(fs.statSync(path.join(attempt, 'work')).mode & 0o777).toBe(0o700);

    const { status, log, summary } = await runBuild(mallory.root, 'peek', repo, [
      '. ./probe.sh',
      `probe ${privateFile}`,
      `probe_dir ${path.join(attempt, 'work')}`,
      `probe_dir ${workRoot}`,
      `probe_kill ${sleeperPid}`,
      `probe_kill ${process.pid}`,
    ]);
    expect(status, summary).toBe('SUCCEEDED');
    expect(log).toContain(`DENIED ${privateFile}`);
    expect(log).toContain(`DENIED ${path.join(attempt, 'work')}`);
    expectOnlyOwnAttempt(log, workRoot, [path.basename(attempt)]);
    expect(log).toContain(`DENIED kill ${sleeperPid}`);
    expect(log).toContain(`DENIED kill ${process.pid}`);
    expect(log).not.toContain(`alice-private-${tag}`);
    expect(processesRunning(sleeper), "alice's build lives on").toEqual([sleeperPid]);

    await alice.root.ok(
      `mutation { stopPipelineExecution(pipelineName: "long-build", pipelineExecutionId: ${JSON.stringify(
        aliceRun,
      )}, abandon: true, reason: "test") { status } }`,
    );
    await until(
      () => (processesRunning(sleeper).length + processesRunning(detached).length === 0 ? true : undefined),
      "every process of alice's build to end",
      15_000,
    );
    await until(
      () => (fs.existsSync(attempt) ? undefined : true),
      "alice's attempt folder to be removed",
      15_000,
    );
  });

  it('cannot make the server read for it: symlinks the build plants are not followed', async () => {
    const key = fs.readFileSync(path.join(server.dataDir, 'signing-key.pem'), 'utf8');
    const keyLine = key.split('\n')[1]; // the first line of the key's base64
    // install: the saved-state file of the phase points at the key (and the trap cannot write
    // through it); build: prints its environment; artifacts: base-directory is a symlink to
    // the data folder.
    const buildSpec = [
      'version: 0.2',
      'phases:',
      '  install:',
      '    commands:',
      '      - R="$(dirname "$(dirname "$0")")/report"; ln -sf ' +
        `${path.join(server.dataDir, 'signing-key.pem')} "$R/install.env"; ls -l "$R"`,
      '  build:',
      '    commands:',
      '      - env',
      `      - ln -s ${server.dataDir} leak`,
      'artifacts:',
      '  base-directory: leak',
      "  files: ['**/*']",
    ].join('\n');
    const declaration = sourceAndBuild('planted', repo.dir, 'true') as {
      stages: Array<{ actions: Array<{ configuration: Record<string, string> }> }>;
    };
    declaration.stages[1].actions[0].configuration = { BuildSpec: buildSpec };
    await mallory.root.ok(CREATE_PIPELINE, { p: declaration });
    const { status, log, summary } = await finished(mallory.root, 'planted');
    expect(status).toBe('FAILED');
    expect(summary).toMatch(/base-directory "leak" of artifact "Built" is outside the working directory/);
    expect(log).toContain('install.env ->'); // the link was there when the server read the state
    expect(log).not.toContain(keyLine);
  });

  it('leaves nothing of a job where every uid may write, for the next job of its slot', async () => {
    const leftovers = [`/tmp/leftover-${tag}`, `/dev/shm/leftover-${tag}`];
    await startBuild(mallory.root, 'litter', repo, [
      ...leftovers.map((file) => `(umask 077; echo "mallory-${tag}" > ${file})`),
      `sleep 2.${tag}`,
    ]);
    if (mode === 'uid') {
      // Without bubblewrap these are the host's own folders: the files are really there.
      await until(() => (leftovers.every((file) => fs.existsSync(file)) ? true : undefined), 'the files');
    }
    const litter = await finished(mallory.root, 'litter');
    expect(litter.status, litter.summary).toBe('SUCCEEDED');
    // Removed when the job ends (a failed job's, just after its result is reported).
    await until(
      () => (leftovers.some((file) => fs.existsSync(file)) ? undefined : true),
      'the leftovers to go',
      10_000,
    );
  });

  it('keeps network access', async () => {
    const web = http.createServer((_req, res) => res.end(`fetched-${tag}`));
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    try {
      const port = (web.address() as { port: number }).port;
      const { status, log, summary } = await runBuild(mallory.root, 'fetch', repo, [
        `echo "GOT $(curl -fsS http://127.0.0.1:${port}/)"`,
      ]);
      expect(status, summary).toBe('SUCCEEDED');
      expect(log).toContain(`GOT fetched-${tag}`);
    } finally {
      web.close();
    }
  });
});
