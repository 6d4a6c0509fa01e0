import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ActionJobContext } from '../../../src/engine/providers/provider';
import { noSandbox } from '../../../src/engine/sandbox/job-sandbox';

/** A job context over fresh temp folders, collecting the log; `cleanup` removes it all. */
export interface TestJob {
  ctx: ActionJobContext;
  root: string;
  logText(): string;
  cleanup(): Promise<void>;
}

export async function tempDir(prefix = 'sluice-test-'): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function makeJob(overrides: Partial<ActionJobContext> = {}): Promise<TestJob> {
  const root = await tempDir();
  const workDir = path.join(root, 'work');
  const outputDir = path.join(root, 'out');
  const controlDir = path.join(root, 'control');
  const reportDir = path.join(root, 'report');
  for (const dir of [workDir, outputDir, controlDir, reportDir]) await fsp.mkdir(dir);
  const chunks: string[] = [];
  const ctx: ActionJobContext = {
    jobId: 'job-0001',
    accountId: '123456789012',
    pipelineName: 'demo',
    stageName: 'Build',
    actionName: 'Compile',
    pipelineExecutionId: '3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b',
    actionExecutionId: 'a1b2c3d4-0000-4000-8000-000000000001',
    configuration: {},
    inputArtifacts: [],
    outputArtifactNames: [],
    workDir,
    controlDir,
    reportDir,
    // The providers alone, as the server's user: test/engine/sandbox runs them sandboxed.
    sandbox: noSandbox,
    outputDir,
    timeoutMs: 60_000,
    signal: new AbortController().signal,
    log: (text) => chunks.push(text),
    limits: { maxLogBytes: 1024 * 1024, maxArtifactBytes: 100 * 1024 * 1024 },
    ...overrides,
  };
  return {
    ctx,
    root,
    logText: () => chunks.join(''),
    cleanup: () => fsp.rm(root, { recursive: true, force: true }),
  };
}

/** Writes `files` (relative path → content) under `dir`. */
export async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [relPath, content] of Object.entries(files)) {
    const file = path.join(dir, relPath);
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await fsp.writeFile(file, content);
  }
}

/** Every file under `dir` (relative path → content), symlinks as `-> target`. */
export async function readTree(dir: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  async function walk(absDir: string, relDir: string): Promise<void> {
    for (const child of await fsp.readdir(absDir, { withFileTypes: true })) {
      const relPath = relDir ? `${relDir}/${child.name}` : child.name;
      const abs = path.join(absDir, child.name);
      if (child.isSymbolicLink()) result[relPath] = `-> ${await fsp.readlink(abs)}`;
      else if (child.isDirectory()) await walk(abs, relPath);
      else result[relPath] = await fsp.readFile(abs, 'utf8');
    }
  }
  await walk(dir, '');
  return result;
}
