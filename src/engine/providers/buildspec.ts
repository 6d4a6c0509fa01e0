import { parse } from 'yaml';
import { ActionFailure } from './provider';

/**
 * The subset of CodeBuild's buildspec v0.2 that Shell actions run. Sections that would change
 * what runs or where (`finally`, `on-failure`, `run-as`, parameter-store and secrets-manager
 * variables) are refused rather than ignored; sections that only concern CodeBuild's own
 * services (`cache`, `reports`, `batch`, `proxy`) are ignored and named in the log.
 */

export const phaseNames = ['install', 'pre_build', 'build', 'post_build'] as const;
export type PhaseName = (typeof phaseNames)[number];

export interface ArtifactSpec {
  files: string[];
  excludePaths: string[];
  baseDirectory?: string;
  discardPaths: boolean;
}

export interface BuildSpec {
  variables: Record<string, string>;
  exportedVariables: string[];
  phases: Partial<Record<PhaseName, string[]>>;
  /** The primary artifact (`artifacts.files`), when given. */
  artifacts?: ArtifactSpec;
  /** `artifacts.secondary-artifacts`, by identifier (an output artifact name). */
  secondaryArtifacts: Record<string, ArtifactSpec>;
  /** Top-level sections present but without meaning here. */
  ignoredSections: string[];
}

const environmentVariableName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ignoredTopLevel = ['cache', 'reports', 'batch', 'proxy'];

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class SpecReader {
  constructor(private readonly source: string) {}

  fail(message: string): never {
    throw new ActionFailure('CONFIGURATION_ERROR', `${this.source}: ${message}`);
  }

  /** A mapping (absent counts as empty); with `allowed`, other keys are refused. */
  object(value: unknown, where: string, allowed?: readonly string[]): Json {
    if (value === null || value === undefined) return {};
    if (!isObject(value)) this.fail(`${where} must be a mapping`);
    if (!allowed) return value;
    const unknown = Object.keys(value).filter((key) => !allowed.includes(key));
    if (unknown.length) {
      this.fail(`${where} has unsupported key(s) ${unknown.join(', ')} (supported: ${allowed.join(', ')})`);
    }
    return value;
  }

  /** A list of strings; a single string counts as a list of one, as in CodeBuild. */
  strings(value: unknown, where: string): string[] {
    if (value === null || value === undefined) return [];
    const list = Array.isArray(value) ? value : [value];
    return list.map((item, index) => {
      if (typeof item === 'string') return item;
      if (typeof item === 'number' || typeof item === 'boolean') return String(item);
      return this.fail(`${where}[${index}] must be a string`);
    });
  }

  flag(value: unknown, where: string): boolean {
    if (value === undefined || value === null) return false;
    if (value === true || value === 'yes' || value === 'true') return true;
    if (value === false || value === 'no' || value === 'false') return false;
    return this.fail(`${where} must be yes or no`);
  }
}

/** Parses and checks a buildspec; problems are CONFIGURATION_ERRORs naming `source`. */
export function parseBuildSpec(text: string, source: string): BuildSpec {
  // Annotated so TypeScript treats `reader.fail(…)` (returns never) as ending the flow.
  const reader: SpecReader = new SpecReader(source);
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    reader.fail(`not valid YAML: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!isObject(document)) reader.fail('must be a YAML mapping with version: 0.2');
  const top = reader.object(document, 'the buildspec', [
    'version',
    'env',
    'phases',
    'artifacts',
    'run-as',
    ...ignoredTopLevel,
  ]);
  if (String(top.version) !== '0.2') reader.fail(`version must be 0.2 (found ${String(top.version)})`);
  if (top['run-as'] !== undefined) reader.fail('run-as is not supported: commands run as the worker user');

  const env = reader.object(top.env, 'env', [
    'shell',
    'variables',
    'exported-variables',
    'git-credential-helper',
  ]);
  if (env.shell !== undefined && env.shell !== 'sh')
    reader.fail('env.shell must be sh (the only shell used)');
  const variables: Record<string, string> = {};
  for (const [name, value] of Object.entries(reader.object(env.variables, 'env.variables'))) {
    if (!environmentVariableName.test(name))
      reader.fail(`env.variables: ${name} is not a valid variable name`);
    if (name.startsWith('SLUICE_')) reader.fail(`env.variables: names starting with SLUICE_ are reserved`);
    if (value !== null && typeof value === 'object') reader.fail(`env.variables.${name} must be a string`);
    variables[name] = value === null || value === undefined ? '' : String(value);
  }
  const exportedVariables = reader.strings(env['exported-variables'], 'env.exported-variables');
  for (const name of exportedVariables) {
    if (!environmentVariableName.test(name)) {
      reader.fail(`env.exported-variables: ${name} is not a valid variable name`);
    }
  }

  const phasesNode = reader.object(top.phases, 'phases', phaseNames);
  const phases: Partial<Record<PhaseName, string[]>> = {};
  for (const name of phaseNames) {
    if (phasesNode[name] === undefined || phasesNode[name] === null) continue;
    const phase = reader.object(phasesNode[name], `phases.${name}`, ['commands', 'runtime-versions']);
    if (name !== 'install' && phase['runtime-versions'] !== undefined) {
      reader.fail(`phases.${name}.runtime-versions is only valid in install`);
    }
    phases[name] = reader.strings(phase.commands, `phases.${name}.commands`);
  }

  const artifactKeys = [
    'files',
    'name',
    'base-directory',
    'discard-paths',
    'exclude-paths',
    'enable-symlinks',
    's3-prefix',
  ];
  const readArtifact = (node: unknown, where: string): ArtifactSpec | undefined => {
    const spec = reader.object(
      node,
      where,
      where === 'artifacts' ? [...artifactKeys, 'secondary-artifacts'] : artifactKeys,
    );
    if (spec.files === undefined) return undefined;
    const files = reader.strings(spec.files, `${where}.files`);
    if (files.length === 0) reader.fail(`${where}.files must list at least one path`);
    const base = spec['base-directory'];
    if (base !== undefined && typeof base !== 'string')
      reader.fail(`${where}.base-directory must be a string`);
    return {
      files,
      excludePaths: reader.strings(spec['exclude-paths'], `${where}.exclude-paths`),
      baseDirectory: base,
      discardPaths: reader.flag(spec['discard-paths'], `${where}.discard-paths`),
    };
  };
  const artifacts = readArtifact(top.artifacts, 'artifacts');
  const secondaryArtifacts: Record<string, ArtifactSpec> = {};
  const artifactsNode = reader.object(top.artifacts, 'artifacts');
  const secondary = reader.object(artifactsNode['secondary-artifacts'], 'artifacts.secondary-artifacts');
  for (const [identifier, node] of Object.entries(secondary)) {
    const spec = readArtifact(node, `artifacts.secondary-artifacts.${identifier}`);
    if (!spec) reader.fail(`artifacts.secondary-artifacts.${identifier}.files is required`);
    secondaryArtifacts[identifier] = spec;
  }

  return {
    variables,
    exportedVariables,
    phases,
    artifacts,
    secondaryArtifacts,
    ignoredSections: ignoredTopLevel.filter((key) => top[key] !== undefined),
  };
}
