import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as delay } from 'node:timers/promises';
import { readJobFile, staysInside } from '../sandbox/job-files';
import { type ArtifactSpec, type BuildSpec, parseBuildSpec, type PhaseName, phaseNames } from './buildspec';
import { listFiles, selectPaths } from './glob';
import { checkOutputVariables } from './output-variables';
import { formatDuration, type ProcessGroup, safePath, spawnGroup, waitForGroup } from './process-group';
import {
  type ActionJobContext,
  type ActionProvider,
  type ActionResult,
  type ActionTypeKey,
  ActionFailure,
} from './provider';

/**
 * `Build/Sluice/Shell/1` and `Test/Sluice/Shell/1`: CodeBuild's buildspec v0.2 (a subset, see
 * buildspec.ts), an inline `BuildSpec`, or plain `Commands`, run with `sh` on the worker.
 *
 * Layout of the attempt's `workDir` (all of it is removed after the attempt):
 *   src/    the primary input, copied; the working directory and SLUICE_SRC_DIR
 *   home/   HOME, so tool caches (~/.npm, ~/.cache) stay out of `src/` and of artifacts
 *   tmp/    TMPDIR
 * The phase scripts go in `controlDir` (the job reads them, cannot change them); what each
 * phase leaves behind (environment, directory, current command) goes in `reportDir`, read
 * back without following symlinks: the job's processes could put anything there.
 *
 * Sandbox: every phase runs in the job's sandbox (its own uid, or a bubblewrap sandbox; see
 * src/engine/sandbox), and without one the action fails with CONFIGURATION_ERROR unless
 * SLUICE_SANDBOX=none. With bubblewrap each phase is its own sandbox, so processes a phase
 * leaves in the background end with that phase; otherwise they end with the action.
 * Secondary inputs stay where the runner unpacked them: SLUICE_SRC_DIR_<name>, the name with
 * characters other than letters, digits and `_` turned into `_` (artifact names may hold
 * `-`, which `sh` cannot carry in a variable name and drops from the environment).
 *
 * Shell session: each phase runs in one `sh -e` process, so commands of a phase share the
 * shell (`cd`, functions, variables) as in CodeBuild. Variables also carry into later phases:
 * the script runs with `set -a`, so every assignment is exported, and an EXIT trap saves the
 * environment (`env -0`) and directory, from which the next phase starts (a command that sets
 * its own EXIT trap replaces that one; the next phase then starts from the earlier state).
 * Exported variables (`env.exported-variables`) are read from the environment saved when the
 * last phase ended: CodeBuild fixes their values once post_build is over.
 *
 * Phase failures follow CodeBuild: a failing command ends its phase; after a failed install
 * or pre_build nothing else runs; after a failed build, post_build still runs, then the
 * action fails with the build's error. A timeout or a stop kills everything at once.
 *
 * Outputs: with a buildspec, the output named like a `secondary-artifacts` identifier gets
 * that selection; otherwise the first output gets `artifacts`. With `Commands`, the first
 * output is the whole working directory after the commands, and each further output is the
 * folder given to the commands as SLUICE_OUTPUT_DIR_<name> (name sanitised as above).
 */

export type ShellCategory = 'Build' | 'Test';

export class ShellProvider implements ActionProvider {
  readonly type: ActionTypeKey;

  constructor(category: ShellCategory) {
    this.type = { category, owner: 'Sluice', provider: 'Shell', version: '1' };
  }

  run(context: ActionJobContext): Promise<ActionResult> {
    return new ShellRun(context).run();
  }
}

/** What one action attempt runs: phases of commands, and how outputs are gathered. */
interface Plan {
  phases: Array<{ name: PhaseName; commands: string[] }>;
  /** Absent for `Commands`. */
  buildSpec?: BuildSpec;
}

interface EnvironmentVariable {
  name: string;
  value: string;
}

/** A phase that did not succeed, as a message for the action's failure. */
type PhaseResult = { ok: true } | { ok: false; failure: ActionFailure; stopsEverything: boolean };

/** Room kept under maxLogBytes for the truncation notice itself. */
const noticeReserve = 256;
/** After the leader exits, how long to wait for output still in its pipes. */
const pipeDrainMs = 200;

export function envNameFor(artifactName: string): string {
  return artifactName.replace(/[^A-Za-z0-9_]/g, '_');
}

/** `'…'` for sh: the only character needing care inside single quotes is `'` itself. */
export function shQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Caps what reaches the action log; the pipes keep being read so children never block. */
class CappedLog {
  private used = 0;
  private truncated = false;
  private readonly decoder = new StringDecoder('utf8');

  constructor(
    private readonly write: (text: string) => void,
    private readonly maxBytes: number,
  ) {}

  bytes(chunk: Buffer): void {
    if (this.truncated) return;
    const room = Math.max(0, this.maxBytes - noticeReserve - this.used);
    if (chunk.length <= room) {
      this.used += chunk.length;
      const text = this.decoder.write(chunk);
      if (text) this.write(text);
      return;
    }
    const text = this.decoder.write(chunk.subarray(0, room)) + this.decoder.end();
    this.used += room;
    this.truncated = true;
    this.write(
      `${text}${text.endsWith('\n') || text === '' ? '' : '\n'}` +
        `[Container] Log output truncated after ${this.used} bytes (maxLogBytes ${this.maxBytes}); ` +
        'the action keeps running\n',
    );
  }

  line(text: string): void {
    this.bytes(Buffer.from(`${text}\n`, 'utf8'));
  }

  flush(): void {
    if (this.truncated) return;
    const rest = this.decoder.end();
    if (rest) this.write(rest);
  }
}

class ShellRun {
  private readonly deadline: number;
  private readonly log: CappedLog;
  private readonly srcDir: string;
  private readonly homeDir: string;
  private readonly tmpDir: string;
  private readonly groups: ProcessGroup[] = [];

  constructor(private readonly ctx: ActionJobContext) {
    this.deadline = Date.now() + ctx.timeoutMs;
    this.log = new CappedLog((text) => ctx.log(text), ctx.limits.maxLogBytes);
    this.srcDir = path.join(ctx.workDir, 'src');
    this.homeDir = path.join(ctx.workDir, 'home');
    this.tmpDir = path.join(ctx.workDir, 'tmp');
  }

  async run(): Promise<ActionResult> {
    try {
      return await this.runPlan();
    } finally {
      await this.stopBackgroundProcesses();
      for (const group of this.groups) group.dispose();
      this.log.flush();
    }
  }

  /** Whatever a phase left running in the background does not outlive the commands. */
  private async stopBackgroundProcesses(): Promise<void> {
    await Promise.all(this.groups.map((group) => group.terminate()));
    // Also what left the process group (setsid, double forks), before the server reads what
    // the job wrote: nothing of the job may change a file while the server looks at it.
    await this.ctx.sandbox.killAll();
    await Promise.race([Promise.all(this.groups.map((group) => group.closed)), delay(pipeDrainMs)]);
  }

  private async runPlan(): Promise<ActionResult> {
    const { ctx } = this;
    if (ctx.signal.aborted) throw this.stopped('before it started');
    ctx.sandbox.require('Shell actions (they run the commands of a tenant)');
    const config = ctx.configuration;
    const primary = this.primaryInput();
    const extraVariables = parseEnvironmentVariables(config.EnvironmentVariables);

    for (const dir of [this.srcDir, this.homeDir, this.tmpDir]) {
      await fsp.mkdir(dir, { recursive: true });
    }
    if (primary) await fsp.cp(primary.path, this.srcDir, { recursive: true, verbatimSymlinks: true });
    await ctx.sandbox.handOver(ctx.workDir);

    const plan = await this.plan();
    for (const section of plan.buildSpec?.ignoredSections ?? []) {
      this.log.line(`[Container] Ignoring buildspec section "${section}": it has no meaning in Sluice`);
    }

    const commandsMode = plan.buildSpec === undefined;
    const extraOutputs = commandsMode ? ctx.outputArtifactNames.slice(1) : [];
    const environment = this.baseEnvironment(plan.buildSpec?.variables ?? {}, extraVariables, extraOutputs);
    for (const name of extraOutputs) await fsp.mkdir(path.join(ctx.outputDir, name), { recursive: true });
    await ctx.sandbox.handOver(ctx.outputDir);

    const { failure, finalEnvironment } = await this.runPhases(plan, environment);
    // Before outputs are gathered, so no leftover process changes them while they are copied.
    await this.stopBackgroundProcesses();
    if (failure) throw failure;

    const outputVariables: Record<string, string> = {};
    for (const name of plan.buildSpec?.exportedVariables ?? []) {
      const value = finalEnvironment[name];
      if (value === undefined)
        this.log.line(`[Container] Exported variable ${name} is not set; not exported`);
      else outputVariables[name] = value;
    }
    checkOutputVariables(outputVariables);

    if (plan.buildSpec) await this.collectBuildSpecArtifacts(plan.buildSpec);
    else if (ctx.outputArtifactNames.length > 0)
      await this.moveWorkingDirectoryTo(ctx.outputArtifactNames[0]);

    return { outputVariables };
  }

  private primaryInput() {
    const { inputArtifacts, configuration } = this.ctx;
    const name = configuration.PrimarySource;
    if (!name) return inputArtifacts[0];
    const found = inputArtifacts.find((input) => input.name === name);
    if (!found) {
      throw new ActionFailure(
        'CONFIGURATION_ERROR',
        `PrimarySource "${name}" is not one of the action's input artifacts (${inputArtifacts.map((i) => i.name).join(', ') || 'none'})`,
      );
    }
    return found;
  }

  private async plan(): Promise<Plan> {
    // An empty value counts as not set, as in the declaration's validation.
    const given = (value: string | undefined) => (value?.trim() ? value : undefined);
    const inline = given(this.ctx.configuration.BuildSpec);
    const commands = given(this.ctx.configuration.Commands);
    if (inline !== undefined && commands !== undefined) {
      throw new ActionFailure('CONFIGURATION_ERROR', 'Give either BuildSpec or Commands, not both');
    }
    if (commands !== undefined) return { phases: [{ name: 'build', commands: splitCommands(commands) }] };
    let text = inline;
    let source = 'BuildSpec';
    if (text === undefined) {
      source = 'buildspec.yml';
      try {
        text = await fsp.readFile(path.join(this.srcDir, 'buildspec.yml'), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        throw new ActionFailure(
          'CONFIGURATION_ERROR',
          'No BuildSpec or Commands is configured and the primary input has no buildspec.yml',
        );
      }
    }
    const buildSpec = parseBuildSpec(text, source);
    const phases = phaseNames.flatMap((name) => {
      const phaseCommands = buildSpec.phases[name];
      return phaseCommands ? [{ name, commands: phaseCommands }] : [];
    });
    return { phases, buildSpec };
  }

  /**
   * Built from nothing: the server's own environment (DATABASE_URL, tokens, SLUICE_* settings)
   * never reaches a command. Later entries win: buildspec, then the action's
   * EnvironmentVariables (as CodeBuild lets a start-build override beat the buildspec), then
   * what Sluice sets.
   */
  private baseEnvironment(
    buildSpecVariables: Record<string, string>,
    extraVariables: EnvironmentVariable[],
    extraOutputs: string[],
  ): Record<string, string> {
    const { ctx } = this;
    const env: Record<string, string> = {
      PATH: safePath,
      HOME: this.homeDir,
      TMPDIR: this.tmpDir,
      LANG: 'C.UTF-8',
      ...buildSpecVariables,
    };
    for (const variable of extraVariables) env[variable.name] = variable.value;
    Object.assign(env, {
      SLUICE_PIPELINE_NAME: ctx.pipelineName,
      SLUICE_STAGE_NAME: ctx.stageName,
      SLUICE_ACTION_NAME: ctx.actionName,
      SLUICE_PIPELINE_EXECUTION_ID: ctx.pipelineExecutionId,
      SLUICE_ACTION_EXECUTION_ID: ctx.actionExecutionId,
      SLUICE_SRC_DIR: this.srcDir,
    });
    const primary = this.primaryInput();
    for (const input of ctx.inputArtifacts) {
      env[`SLUICE_SRC_DIR_${envNameFor(input.name)}`] = input === primary ? this.srcDir : input.path;
    }
    for (const name of extraOutputs) {
      env[`SLUICE_OUTPUT_DIR_${envNameFor(name)}`] = path.join(ctx.outputDir, name);
    }
    return env;
  }

  private async runPhases(
    plan: Plan,
    initial: Record<string, string>,
  ): Promise<{ failure?: ActionFailure; finalEnvironment: Record<string, string> }> {
    let environment = initial;
    let cwd = this.srcDir;
    let failure: ActionFailure | undefined;
    for (const phase of plan.phases) {
      const started = Date.now();
      this.log.line(`[Container] ${timestamp()} Entering phase ${phase.name.toUpperCase()}`);
      const result = await this.runPhase(phase.name, phase.commands, environment, cwd);
      const saved = await this.savedState(phase.name);
      if (saved) {
        environment = saved.environment;
        cwd = saved.cwd;
      }
      const state = result.ok ? 'SUCCEEDED' : 'FAILED';
      this.log.line(
        `[Container] ${timestamp()} Phase complete: ${phase.name.toUpperCase()} State: ${state} ` +
          `(${formatDuration(Date.now() - started)})`,
      );
      if (!result.ok) {
        if (result.stopsEverything) return { failure: result.failure, finalEnvironment: environment };
        failure ??= result.failure;
        // After a failed build, post_build still runs (next in order); after any other
        // failed phase nothing does.
        if (phase.name !== 'build') break;
      }
    }
    return { failure, finalEnvironment: environment };
  }

  private async runPhase(
    phase: PhaseName,
    commands: string[],
    environment: Record<string, string>,
    cwd: string,
  ): Promise<PhaseResult> {
    const { ctx } = this;
    const script = await this.writePhaseScript(phase, commands);
    if (ctx.signal.aborted) return this.stopResult(this.stopped(`before phase ${phase.toUpperCase()}`));
    if (Date.now() >= this.deadline)
      return this.stopResult(this.timedOut(`before phase ${phase.toUpperCase()}`));

    const group = spawnGroup('/bin/sh', ['-e', script], {
      cwd,
      env: environment,
      sandbox: ctx.sandbox,
      onOutput: (chunk) => this.log.bytes(chunk),
    });
    this.groups.push(group);
    const outcome = await waitForGroup(group, { deadline: this.deadline, signal: ctx.signal });
    // Output still buffered in the pipe belongs before the phase's closing line; a background
    // process holding the pipe open must not hold up the next phase, hence the bound.
    await Promise.race([group.closed, delay(pipeDrainMs)]);

    const current = await this.currentCommand(phase, commands);
    const where = current === undefined ? '' : ` while running "${summarize(current)}"`;
    if (outcome.kind === 'timedOut') {
      return this.stopResult(this.timedOut(`${where} in phase ${phase.toUpperCase()}`.trimStart()));
    }
    if (outcome.kind === 'aborted') {
      return this.stopResult(this.stopped(`${where} in phase ${phase.toUpperCase()}`.trimStart()));
    }
    const { code, signal } = outcome.status;
    if (code === 0) return { ok: true };
    const what = current === undefined ? `Phase ${phase.toUpperCase()}` : `Command "${summarize(current)}"`;
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    const message = `${what} ${how} in phase ${phase.toUpperCase()}`;
    this.log.line(`[Container] ${timestamp()} ${message}`);
    return { ok: false, failure: new ActionFailure('JOB_FAILED', message), stopsEverything: false };
  }

  /**
   * One script per phase: headers, then each command sourced from its own file (so a quote
   * in a command cannot break the script around it), and a trap that saves the environment
   * and directory however the shell ends (success or `set -e`).
   */
  private async writePhaseScript(phase: PhaseName, commands: string[]): Promise<string> {
    const state = (name: string) => shQuote(path.join(this.ctx.reportDir, name));
    const lines = [
      'exec 2>&1',
      // Every assignment is exported, so it survives into the saved environment.
      'set -a',
      'sluice_save_state() {',
      '  set -- "$?"',
      '  set +e',
      `  command -p env -0 > ${state(`${phase}.env`)} 2>/dev/null`,
      `  pwd > ${state(`${phase}.cwd`)}`,
      '  exit "$1"',
      '}',
      'trap sluice_save_state EXIT',
    ];
    for (const [index, command] of commands.entries()) {
      const file = path.join(this.ctx.controlDir, `${phase}-${index}.sh`);
      await fsp.writeFile(file, `${command}\n`);
      lines.push(
        `echo ${index} > ${state(`${phase}.current`)}`,
        `printf '%s\\n' ${shQuote(`[Container] Running command ${command.trimEnd()}`)}`,
        `. ${shQuote(file)}`,
      );
    }
    const script = path.join(this.ctx.controlDir, `${phase}.sh`);
    await fsp.writeFile(script, `${lines.join('\n')}\n`);
    return script;
  }

  private async currentCommand(phase: PhaseName, commands: string[]): Promise<string | undefined> {
    const text = await readJobFile(path.join(this.ctx.reportDir, `${phase}.current`), 64);
    if (text === undefined || !/^\d+$/.test(text.trim())) return undefined;
    return commands[Number(text.trim())];
  }

  private async savedState(
    phase: PhaseName,
  ): Promise<{ environment: Record<string, string>; cwd: string } | undefined> {
    const raw = await readJobFile(path.join(this.ctx.reportDir, `${phase}.env`));
    const cwdText = await readJobFile(path.join(this.ctx.reportDir, `${phase}.cwd`), 64 * 1024);
    if (raw === undefined || cwdText === undefined) return undefined;
    let cwd = cwdText.replace(/\n$/, '');
    const environment: Record<string, string> = {};
    for (const entry of raw.split('\0')) {
      const equals = entry.indexOf('=');
      if (equals <= 0) continue;
      const name = entry.slice(0, equals);
      // The shell recomputes these; carried over they would describe the previous process.
      if (['PWD', 'OLDPWD', 'SHLVL', '_'].includes(name)) continue;
      environment[name] = entry.slice(equals + 1);
    }
    if (!cwd || !fs.existsSync(cwd)) cwd = this.srcDir;
    return { environment, cwd };
  }

  private stopResult(failure: ActionFailure): PhaseResult {
    this.log.line(`[Container] ${timestamp()} ${failure.message}`);
    return { ok: false, failure, stopsEverything: true };
  }

  private timedOut(where: string): ActionFailure {
    return new ActionFailure('JOB_FAILED', `Timed out after ${formatDuration(this.ctx.timeoutMs)} ${where}`);
  }

  private stopped(where: string): ActionFailure {
    return new ActionFailure('JOB_FAILED', `Stopped ${where}`);
  }

  private async moveWorkingDirectoryTo(outputName: string): Promise<void> {
    const target = path.join(this.ctx.outputDir, outputName);
    await fsp.mkdir(this.ctx.outputDir, { recursive: true });
    await fsp.rm(target, { recursive: true, force: true });
    try {
      await fsp.rename(this.srcDir, target);
    } catch (error) {
      // The output folder may be on another file system than the working one.
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
      await fsp.cp(this.srcDir, target, { recursive: true, verbatimSymlinks: true });
    }
  }

  private async collectBuildSpecArtifacts(buildSpec: BuildSpec): Promise<void> {
    const outputs = this.ctx.outputArtifactNames;
    for (const identifier of Object.keys(buildSpec.secondaryArtifacts)) {
      if (!outputs.includes(identifier)) {
        this.log.line(
          `[Container] Secondary artifact "${identifier}" matches no output artifact of the action; not kept`,
        );
      }
    }
    for (const [index, name] of outputs.entries()) {
      const spec = buildSpec.secondaryArtifacts[name] ?? (index === 0 ? buildSpec.artifacts : undefined);
      if (!spec) {
        throw new ActionFailure(
          'CONFIGURATION_ERROR',
          index === 0
            ? `The buildspec has no artifacts.files (or secondary-artifacts.${name}) for output artifact "${name}"`
            : `The buildspec has no artifacts.secondary-artifacts.${name} for output artifact "${name}"`,
        );
      }
      await this.copyArtifact(name, spec);
    }
  }

  private async copyArtifact(name: string, spec: ArtifactSpec): Promise<void> {
    const base = path.resolve(this.srcDir, spec.baseDirectory ?? '.');
    const relativeBase = path.relative(this.srcDir, base);
    // By real path too: the build may have made base-directory a symlink to anywhere, and the
    // server, which copies the files, may read what the build could not.
    const escapes = await fsp.realpath(base).then(
      async () => !(await staysInside(this.srcDir, base)),
      () => false,
    );
    if (relativeBase.startsWith('..') || path.isAbsolute(relativeBase) || escapes) {
      throw new ActionFailure(
        'CONFIGURATION_ERROR',
        `base-directory "${spec.baseDirectory}" of artifact "${name}" is outside the working directory`,
      );
    }
    let stat: fs.Stats | undefined;
    try {
      stat = await fsp.stat(base);
    } catch {
      stat = undefined;
    }
    if (!stat?.isDirectory()) {
      throw new ActionFailure(
        'JOB_FAILED',
        `base-directory "${spec.baseDirectory}" of artifact "${name}" does not exist after the build`,
      );
    }
    const selected = selectPaths(await listFiles(base), spec.files, spec.excludePaths);
    if (selected.length === 0) {
      throw new ActionFailure(
        'JOB_FAILED',
        `No files match artifacts.files [${spec.files.join(', ')}] of artifact "${name}" in ` +
          `${spec.baseDirectory ? `base-directory "${spec.baseDirectory}"` : 'the working directory'}`,
      );
    }
    const target = path.join(this.ctx.outputDir, name);
    // Made afresh by the server: whatever the build left at that name (a symlink included) goes.
    await fsp.rm(target, { recursive: true, force: true });
    await fsp.mkdir(target, { recursive: true });
    const placed = new Map<string, string>();
    for (const relPath of selected) {
      const destination = spec.discardPaths ? path.posix.basename(relPath) : relPath;
      const earlier = placed.get(destination);
      if (earlier !== undefined) {
        throw new ActionFailure(
          'JOB_FAILED',
          `discard-paths puts both "${earlier}" and "${relPath}" at "${destination}" in artifact "${name}"`,
        );
      }
      placed.set(destination, relPath);
      const from = path.join(base, relPath);
      const to = path.join(target, destination);
      await fsp.mkdir(path.dirname(to), { recursive: true });
      const linkStat = await fsp.lstat(from);
      if (linkStat.isSymbolicLink()) await fsp.symlink(await fsp.readlink(from), to);
      else await fsp.copyFile(from, to);
    }
    this.log.line(`[Container] Artifact "${name}": ${selected.length} file(s)`);
  }
}

/**
 * `Commands` is one command per line (blank lines skipped); a line ending in `\` continues
 * on the next, so long commands can wrap. Multi-line constructs (`if … fi` over lines) belong
 * in a BuildSpec, where a YAML block holds them as one command.
 */
export function splitCommands(text: string): string[] {
  const commands: string[] = [];
  let pending = '';
  for (const line of text.split(/\r?\n/)) {
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)}`;
      continue;
    }
    const command = pending + line;
    pending = '';
    if (command.trim() !== '') commands.push(command);
  }
  if (pending.trim() !== '') commands.push(pending);
  return commands;
}

function parseEnvironmentVariables(value: string | undefined): EnvironmentVariable[] {
  if (value === undefined || value.trim() === '') return [];
  const invalid = (why: string) => new ActionFailure('CONFIGURATION_ERROR', `EnvironmentVariables ${why}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw invalid('must be a JSON array of {"name", "value", "type": "PLAINTEXT"} objects');
  }
  if (!Array.isArray(parsed))
    throw invalid('must be a JSON array of {"name", "value", "type": "PLAINTEXT"} objects');
  return parsed.map((item: unknown, index) => {
    if (typeof item !== 'object' || item === null) throw invalid(`item ${index} must be an object`);
    const { name, value: itemValue, type } = item as Record<string, unknown>;
    if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw invalid(`item ${index} needs a valid "name"`);
    }
    if (name.startsWith('SLUICE_')) throw invalid(`item ${index}: names starting with SLUICE_ are reserved`);
    if (typeof itemValue !== 'string') throw invalid(`item ${index} needs a string "value"`);
    if (type !== undefined && type !== 'PLAINTEXT') throw invalid(`item ${index}: "type" must be PLAINTEXT`);
    return { name, value: itemValue };
  });
}

/** A command as shown in a message: its first line, at most 200 characters. */
function summarize(command: string): string {
  const trimmed = command.trim();
  const firstLine = trimmed.split('\n')[0];
  if (firstLine.length > 200) return `${firstLine.slice(0, 200)}…`;
  return firstLine === trimmed ? firstLine : `${firstLine} …`;
}

function timestamp(): string {
  return new Date().toISOString();
}
