import { BadInputError, LimitExceededError, type Problem } from '../../platform/errors';
import {
  findActionType,
  holdsVariableReference,
  type ActionTypeDefinition,
  type AllowedRoots,
  type ConfigurationIssue,
} from './action-types';
import {
  actionCategories,
  actionOwners,
  artifactStoreTypes,
  encryptionKeyTypes,
  executionModes,
  failureResults,
  formatActionTypeId,
  pipelineTypes,
  pullRequestEvents,
  retryModes,
  triggerProviderTypes,
  type ActionCategory,
  type ActionDeclaration,
  type ArtifactStore,
  type ExecutionMode,
  type FailureConditions,
  type GitConfiguration,
  type GitFilterCriteria,
  type GitPullRequestFilter,
  type GitPushFilter,
  type PipelineDeclaration,
  type PipelineTriggerDeclaration,
  type PipelineType,
  type PipelineVariableDeclaration,
  type StageDeclaration,
} from './declaration';

/**
 * Checks a pipeline declaration against CodePipeline's rules and returns it normalized, or
 * throws one error listing every problem, so a user fixes a declaration in one round trip.
 *
 * Problem paths locate the field from the declaration's root: dots between fields, `[i]` for
 * the (zero-based) index in a list, then `(Name)` when that element has a name, and
 * configuration keys as fields:
 *
 *     name
 *     stages[1](Build).actions[0](Compile).runOrder
 *     stages[1](Build).actions[0](Compile).configuration.Commands
 *     stages[1](Build).actions[0](Compile).inputArtifacts[0](SourceOutput).name
 *     variables[2](Env).defaultValue
 *     triggers[0].gitConfiguration.push[1].branches.includes[0]
 *
 * A problem about the declaration as a whole has the path `""`.
 *
 * The normalized declaration is what is stored and what `pipeline(name)` returns: defaults
 * filled (executionMode SUPERSEDED, pipelineType V2, runOrder 1, empty configuration,
 * artifacts, variables and triggers), absent optional fields left out except `version`
 * (always present, `null` when not given), keys in a fixed order. Validating it again returns
 * a deep-equal object, and every field in it exists in `PipelineDeclarationInput`.
 */

/** Configurable limits (DESIGN §10); exceeding one is LIMIT_EXCEEDED naming it. */
export interface PipelineLimits {
  stagesPerPipeline: number;
  actionsPerStage: number;
  actionsPerPipeline: number;
  /** Characters in one configuration value. */
  configurationValueLength: number;
  variablesPerPipeline: number;
}

export const defaultPipelineLimits: Readonly<PipelineLimits> = Object.freeze({
  stagesPerPipeline: 50,
  actionsPerStage: 50,
  actionsPerPipeline: 500,
  configurationValueLength: 1000,
  variablesPerPipeline: 50,
});

/** Also a limit, though each action type sets its own maximum (8 h build, 60 days approval). */
export type LimitName = keyof PipelineLimits | 'actionTimeoutMinutes';

export interface ValidateDeclarationOptions {
  limits: PipelineLimits;
  /** The account's custom action types (owner `Custom`). */
  customActionTypes?: readonly ActionTypeDefinition[];
  /**
   * The account the declaration belongs to, when known: the pipeline's roleArn must be a role
   * of it (an action's may be of any account, as CodePipeline's cross-account actions).
   */
  accountId?: string;
  /** When given, local paths of Deploy/Directory and Source/Git must lie under these. */
  allowedRoots?: AllowedRoots;
}

/**
 * The fields each part of a declaration accepts; `PipelineDeclarationInput` and its nested
 * inputs have exactly these (a unit test holds the two together).
 */
export const declarationFields = {
  pipeline: [
    'name',
    'roleArn',
    'artifactStore',
    'stages',
    'version',
    'executionMode',
    'pipelineType',
    'variables',
    'triggers',
  ],
  artifactStore: ['type', 'location', 'encryptionKey'],
  encryptionKey: ['id', 'type'],
  stage: ['name', 'actions', 'onFailure'],
  failureConditions: ['result', 'retryConfiguration'],
  retryConfiguration: ['retryMode'],
  action: [
    'name',
    'actionTypeId',
    'runOrder',
    'configuration',
    'inputArtifacts',
    'outputArtifacts',
    'namespace',
    'timeoutInMinutes',
    'region',
    'roleArn',
  ],
  actionTypeId: ['category', 'owner', 'provider', 'version'],
  artifact: ['name'],
  variable: ['name', 'defaultValue', 'description'],
  trigger: ['providerType', 'gitConfiguration'],
  gitConfiguration: ['sourceActionName', 'push', 'pullRequest'],
  gitPushFilter: ['tags', 'branches', 'filePaths'],
  gitPullRequestFilter: ['events', 'branches', 'filePaths'],
  gitFilterCriteria: ['includes', 'excludes'],
} as const satisfies Record<string, readonly string[]>;

export function validateDeclaration(
  input: unknown,
  options: ValidateDeclarationOptions,
): PipelineDeclaration {
  const report = new Report();
  const declaration = new DeclarationChecker(report, options).check(input);
  if (report.limits.length) {
    const list = report.limits.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; ');
    throw new LimitExceededError(report.limits[0].limit, `Pipeline declaration exceeds a limit: ${list}`);
  }
  if (report.problems.length) throw BadInputError.of('Pipeline declaration', report.problems);
  return declaration;
}

// ---------------------------------------------------------------------------------------------
// Names and patterns (CodePipeline's)

const pipelineNamePattern = /^[A-Za-z0-9.@\-_]{1,100}$/;
const stageOrActionNamePattern = /^[A-Za-z0-9.@\-_]{1,100}$/;
const artifactNamePattern = /^[a-zA-Z0-9_-]{1,100}$/;
const namespacePattern = /^[A-Za-z0-9@\-_]{1,100}$/;
const variableNamePattern = /^[A-Za-z0-9@\-_]{1,128}$/;
const roleArnPattern = /^arn:sluice:iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
/** `#{Namespace.Key}`; anything else between `#{` and `}` is a malformed reference. */
const referencePattern = /#\{([^{}]*)\}/g;
const referenceBodyPattern = /^([A-Za-z0-9@\-_]+)\.([A-Za-z0-9@\-_]+)$/;
const reservedNamespaces = ['variables', 'codepipeline'];

const runOrderRange = { min: 1, max: 999 };
const maxVariableDefaultValueLength = 1000;
const maxVariableDescriptionLength = 200;
const maxFiltersPerTriggerEvent = 3;
const maxPatternsPerCriteria = 8;
const maxPatternLength = 255;

// ---------------------------------------------------------------------------------------------
// Reporting and reading helpers

interface LimitProblem extends Problem {
  limit: LimitName;
}

class Report {
  readonly problems: Problem[] = [];
  readonly limits: LimitProblem[] = [];

  add(path: string, message: string): void {
    this.problems.push({ path, message });
  }

  exceeded(limit: LimitName, path: string, message: string): void {
    this.limits.push({ limit, path, message: `${message} (limit ${limit})` });
  }
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function field(base: string, name: string): string {
  return base ? `${base}.${name}` : name;
}

/** `base[i](Name)`: the index always, the name when the element has one, to read at a glance. */
function element(base: string, index: number, name?: unknown): string {
  const label =
    typeof name === 'string' && name !== '' ? `(${name.length > 100 ? `${name.slice(0, 100)}…` : name})` : '';
  return `${base}[${index}]${label}`;
}

function nameOf(value: unknown): unknown {
  return isObject(value) ? value.name : undefined;
}

function oneOf(choices: readonly string[]): string {
  return choices.join(', ');
}

/** Reads one object's fields, reporting unknown, missing and mistyped ones as it goes. */
class Reader {
  constructor(
    private readonly report: Report,
    readonly value: JsonObject,
    readonly path: string,
    allowed: readonly string[],
    what: string,
  ) {
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) report.add(field(path, key), `is not a field of ${what}`);
    }
  }

  at(key: string): string {
    return field(this.path, key);
  }

  /** GraphQL sends absent optional fields as null: both mean "not given". */
  has(key: string): boolean {
    return this.value[key] !== undefined && this.value[key] !== null;
  }

  private missing(key: string, required: boolean): boolean {
    if (this.has(key)) return false;
    if (required) this.report.add(this.at(key), 'is required');
    return true;
  }

  string(key: string, required = false): string | undefined {
    if (this.missing(key, required)) return undefined;
    const value = this.value[key];
    if (typeof value === 'string') return value;
    this.report.add(this.at(key), 'must be a string');
    return undefined;
  }

  /** A string that must match `pattern`; `rule` describes it for the user. */
  name(key: string, pattern: RegExp, rule: string, required = true): string | undefined {
    const value = this.string(key, required);
    if (value === undefined) return undefined;
    if (pattern.test(value)) return value;
    this.report.add(this.at(key), rule);
    return undefined;
  }

  integer(key: string, min: number, max: number, rule: string): number | undefined {
    if (this.missing(key, false)) return undefined;
    const value = this.value[key];
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
    this.report.add(this.at(key), rule);
    return undefined;
  }

  choice<T extends string>(key: string, choices: readonly T[], required = false): T | undefined {
    const value = this.string(key, required);
    if (value === undefined) return undefined;
    if ((choices as readonly string[]).includes(value)) return value as T;
    this.report.add(this.at(key), `must be one of ${oneOf(choices)}, not "${value}"`);
    return undefined;
  }

  array(key: string, required = false): unknown[] | undefined {
    if (this.missing(key, required)) return undefined;
    const value = this.value[key];
    if (Array.isArray(value)) return value;
    this.report.add(this.at(key), 'must be a list');
    return undefined;
  }

  object(key: string, allowed: readonly string[], what: string, required = false): Reader | undefined {
    if (this.missing(key, required)) return undefined;
    return readerFor(this.report, this.value[key], this.at(key), allowed, what);
  }
}

function readerFor(
  report: Report,
  value: unknown,
  path: string,
  allowed: readonly string[],
  what: string,
): Reader | undefined {
  if (isObject(value)) return new Reader(report, value, path, allowed, what);
  report.add(path, 'must be an object');
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The checker

/** What the cross-action checks need to know about one action. */
interface ActionInfo {
  path: string;
  stageIndex: number;
  /** Undefined when invalid: ordering checks against it are skipped rather than guessed. */
  runOrder: number | undefined;
  declaration: ActionDeclaration;
  category: ActionCategory | undefined;
  type: ActionTypeDefinition | undefined;
  inputPaths: string[];
  outputPaths: string[];
  namespacePath: string;
}

interface StageInfo {
  path: string;
  onFailure: FailureConditions | undefined;
}

type Order = 'before' | 'not-before' | 'unknown';

function order(producer: ActionInfo, consumer: ActionInfo): Order {
  if (producer.stageIndex !== consumer.stageIndex) {
    return producer.stageIndex < consumer.stageIndex ? 'before' : 'not-before';
  }
  if (producer.runOrder === undefined || consumer.runOrder === undefined) return 'unknown';
  return producer.runOrder < consumer.runOrder ? 'before' : 'not-before';
}

class DeclarationChecker {
  private readonly actions: ActionInfo[] = [];
  private readonly stageInfos: StageInfo[] = [];

  constructor(
    private readonly report: Report,
    private readonly options: ValidateDeclarationOptions,
  ) {}

  private get limits(): PipelineLimits {
    return this.options.limits;
  }

  check(input: unknown): PipelineDeclaration {
    const fallback: PipelineDeclaration = {
      name: '',
      stages: [],
      version: null,
      executionMode: 'SUPERSEDED',
      pipelineType: 'V2',
      variables: [],
      triggers: [],
    };
    if (!isObject(input)) {
      this.report.add('', 'a pipeline declaration must be a JSON object');
      return fallback;
    }
    const top = new Reader(this.report, input, '', declarationFields.pipeline, 'a pipeline declaration');

    const name = top.name(
      'name',
      pipelineNamePattern,
      'must be 1–100 characters of letters, digits and . @ - _',
    );
    const roleArn = this.roleArn(top, 'roleArn', true);
    const artifactStore = this.artifactStore(top);
    const stages = this.stages(top);
    const version = top.integer('version', 1, Number.MAX_SAFE_INTEGER, 'must be a positive integer');
    const executionMode = top.choice('executionMode', executionModes);
    const pipelineType = top.choice('pipelineType', pipelineTypes);
    const variables = this.variables(top);
    const triggers = this.triggers(top);

    // An invalid mode or type was reported already; checking the rest against the default
    // keeps one mistake from surfacing as several.
    const mode = executionMode ?? 'SUPERSEDED';
    const type = pipelineType ?? 'V2';
    this.checkV2Features(top, type, mode, variables, triggers);
    this.checkFailureConditions(mode);
    this.checkActionCounts();
    this.checkArtifactFlow();
    this.checkNamespaces();
    this.checkReferences(variables);

    return {
      name: name ?? '',
      ...(roleArn !== undefined && { roleArn }),
      ...(artifactStore !== undefined && { artifactStore }),
      stages,
      version: version ?? null,
      executionMode: mode,
      pipelineType: type,
      variables,
      triggers,
    };
  }

  // --- pipeline-level fields ---------------------------------------------------------------

  private roleArn(reader: Reader, key: string, ofThisAccount: boolean): string | undefined {
    const value = reader.string(key);
    if (value === undefined) return undefined;
    const match = roleArnPattern.exec(value);
    if (!match) {
      this.report.add(reader.at(key), 'must be a role ARN, arn:sluice:iam::<account>:role/<name>');
      return undefined;
    }
    if (ofThisAccount && this.options.accountId !== undefined && match[1] !== this.options.accountId) {
      this.report.add(reader.at(key), `must be a role of account ${this.options.accountId}`);
      return undefined;
    }
    return value;
  }

  private artifactStore(top: Reader): ArtifactStore | undefined {
    const reader = top.object('artifactStore', declarationFields.artifactStore, 'an artifact store');
    if (!reader) return undefined;
    const type = reader.choice('type', artifactStoreTypes, true);
    const location = reader.string('location', true);
    if (location !== undefined && (location.length < 1 || location.length > 1024)) {
      this.report.add(reader.at('location'), 'must be 1–1024 characters');
    }
    const keyReader = reader.object('encryptionKey', declarationFields.encryptionKey, 'an encryption key');
    let encryptionKey: ArtifactStore['encryptionKey'];
    if (keyReader) {
      const id = keyReader.string('id', true);
      if (id !== undefined && (id.length < 1 || id.length > 400)) {
        this.report.add(keyReader.at('id'), 'must be 1–400 characters');
      }
      const keyType = keyReader.choice('type', encryptionKeyTypes, true);
      encryptionKey = { id: id ?? '', type: keyType ?? 'KMS' };
    }
    return {
      type: type ?? 'Local',
      location: location ?? '',
      ...(encryptionKey !== undefined && { encryptionKey }),
    };
  }

  private variables(top: Reader): PipelineVariableDeclaration[] {
    const list = top.array('variables') ?? [];
    if (list.length > this.limits.variablesPerPipeline) {
      this.report.exceeded(
        'variablesPerPipeline',
        top.at('variables'),
        `${list.length} variables, more than ${this.limits.variablesPerPipeline}`,
      );
    }
    const seen = new Map<string, string>();
    const variables: PipelineVariableDeclaration[] = [];
    list.forEach((raw, index) => {
      const path = element(top.at('variables'), index, nameOf(raw));
      const reader = readerFor(this.report, raw, path, declarationFields.variable, 'a pipeline variable');
      if (!reader) return;
      const name = reader.name(
        'name',
        variableNamePattern,
        'must be 1–128 characters of letters, digits and @ - _',
      );
      if (name !== undefined) {
        const earlier = seen.get(name);
        if (earlier) this.report.add(reader.at('name'), `duplicates the variable at ${earlier}`);
        else seen.set(name, path);
      }
      const defaultValue = reader.string('defaultValue');
      if (defaultValue !== undefined && defaultValue.length > maxVariableDefaultValueLength) {
        this.report.add(
          reader.at('defaultValue'),
          `must be at most ${maxVariableDefaultValueLength} characters`,
        );
      }
      const description = reader.string('description');
      if (description !== undefined && description.length > maxVariableDescriptionLength) {
        this.report.add(
          reader.at('description'),
          `must be at most ${maxVariableDescriptionLength} characters`,
        );
      }
      variables.push({
        name: name ?? '',
        ...(defaultValue !== undefined && { defaultValue }),
        ...(description !== undefined && { description }),
      });
    });
    return variables;
  }

  // --- stages and actions --------------------------------------------------------------------

  private stages(top: Reader): StageDeclaration[] {
    const list = top.array('stages', true);
    if (!list) return [];
    if (list.length < 2) {
      this.report.add(top.at('stages'), `a pipeline needs at least 2 stages, not ${list.length}`);
    }
    if (list.length > this.limits.stagesPerPipeline) {
      this.report.exceeded(
        'stagesPerPipeline',
        top.at('stages'),
        `${list.length} stages, more than ${this.limits.stagesPerPipeline}`,
      );
    }
    const seen = new Map<string, string>();
    const stages: StageDeclaration[] = [];
    list.forEach((raw, index) => {
      const path = element(top.at('stages'), index, nameOf(raw));
      const reader = readerFor(this.report, raw, path, declarationFields.stage, 'a stage declaration');
      if (!reader) {
        this.stageInfos.push({ path, onFailure: undefined });
        return;
      }
      const name = reader.name(
        'name',
        stageOrActionNamePattern,
        'must be 1–100 characters of letters, digits and . @ - _',
      );
      if (name !== undefined) {
        const earlier = seen.get(name);
        if (earlier) this.report.add(reader.at('name'), `duplicates the stage name of ${earlier}`);
        else seen.set(name, path);
      }
      const actions = this.stageActions(reader, index);
      const onFailure = this.failureConditions(reader);
      this.stageInfos.push({ path, onFailure });
      stages.push({ name: name ?? '', actions, ...(onFailure !== undefined && { onFailure }) });
    });
    return stages;
  }

  private stageActions(stage: Reader, stageIndex: number): ActionDeclaration[] {
    const list = stage.array('actions', true);
    if (!list) return [];
    if (list.length === 0) this.report.add(stage.at('actions'), 'a stage needs at least one action');
    if (list.length > this.limits.actionsPerStage) {
      this.report.exceeded(
        'actionsPerStage',
        stage.at('actions'),
        `${list.length} actions, more than ${this.limits.actionsPerStage}`,
      );
    }
    const seen = new Map<string, string>();
    const actions: ActionDeclaration[] = [];
    list.forEach((raw, index) => {
      const path = element(stage.at('actions'), index, nameOf(raw));
      const reader = readerFor(this.report, raw, path, declarationFields.action, 'an action declaration');
      if (!reader) return;
      const action = this.action(reader, stageIndex);
      if (action.name) {
        const earlier = seen.get(action.name);
        if (earlier)
          this.report.add(reader.at('name'), `duplicates the action name of ${earlier} in this stage`);
        else seen.set(action.name, path);
      }
      actions.push(action);
    });
    return actions;
  }

  private action(reader: Reader, stageIndex: number): ActionDeclaration {
    const name = reader.name(
      'name',
      stageOrActionNamePattern,
      'must be 1–100 characters of letters, digits and . @ - _',
    );
    const { id, category, type } = this.actionTypeId(reader, stageIndex);
    const runOrder = reader.integer(
      'runOrder',
      runOrderRange.min,
      runOrderRange.max,
      `must be an integer from ${runOrderRange.min} to ${runOrderRange.max}`,
    );
    const configuration = this.configuration(reader);
    const inputs = this.artifacts(reader, 'inputArtifacts');
    const outputs = this.artifacts(reader, 'outputArtifacts');
    const namespace = this.namespace(reader);
    const timeoutInMinutes = this.timeout(reader, type);
    if (reader.has('region')) {
      this.report.add(reader.at('region'), 'cross-region actions are not supported: leave region out');
    }
    // Any account's: an action acting in another account does so through a role there.
    const roleArn = this.roleArn(reader, 'roleArn', false);

    const declaration: ActionDeclaration = {
      name: name ?? '',
      actionTypeId: id,
      runOrder: runOrder ?? 1,
      configuration,
      inputArtifacts: inputs.names.map((artifactName) => ({ name: artifactName })),
      outputArtifacts: outputs.names.map((artifactName) => ({ name: artifactName })),
      ...(namespace !== undefined && { namespace }),
      ...(timeoutInMinutes !== undefined && { timeoutInMinutes }),
      ...(roleArn !== undefined && { roleArn }),
    };
    // A runOrder that was given but invalid is unknown; one left out is 1.
    const runOrderKnown = runOrder !== undefined || !reader.has('runOrder');
    const info: ActionInfo = {
      path: reader.path,
      stageIndex,
      runOrder: runOrderKnown ? declaration.runOrder : undefined,
      declaration,
      category,
      type,
      inputPaths: inputs.paths,
      outputPaths: outputs.paths,
      namespacePath: reader.at('namespace'),
    };
    this.actions.push(info);
    if (type) this.checkAgainstType(reader, info, type);
    return declaration;
  }

  private actionTypeId(
    action: Reader,
    stageIndex: number,
  ): {
    id: ActionDeclaration['actionTypeId'];
    category: ActionCategory | undefined;
    type: ActionTypeDefinition | undefined;
  } {
    const reader = action.object('actionTypeId', declarationFields.actionTypeId, 'an action type id', true);
    const category = reader?.choice('category', actionCategories, true);
    const owner = reader?.choice('owner', actionOwners, true);
    const provider = reader?.string('provider', true);
    const version = reader?.string('version', true);
    const id = {
      category: category ?? 'Source',
      owner: owner ?? 'Sluice',
      provider: provider ?? '',
      version: version ?? '',
    };
    if (reader && category !== undefined) {
      if (stageIndex === 0 && category !== 'Source') {
        this.report.add(reader.at('category'), 'the first stage may contain only Source actions');
      } else if (stageIndex > 0 && category === 'Source') {
        this.report.add(reader.at('category'), 'Source actions may appear only in the first stage');
      }
    }
    let type: ActionTypeDefinition | undefined;
    if (
      reader &&
      category !== undefined &&
      owner !== undefined &&
      provider !== undefined &&
      version !== undefined
    ) {
      type = findActionType(id, this.options.customActionTypes);
      if (!type) {
        const hint =
          owner === 'Sluice' || owner === 'Custom'
            ? ''
            : ': Sluice runs its own providers (owner Sluice) and the account’s custom action types (owner Custom)';
        this.report.add(action.at('actionTypeId'), `unknown action type ${formatActionTypeId(id)}${hint}`);
      }
    }
    return { id, category, type };
  }

  private configuration(action: Reader): Record<string, string> {
    if (!action.has('configuration')) return {};
    const raw = action.value.configuration;
    if (!isObject(raw)) {
      this.report.add(action.at('configuration'), 'must be a JSON object of string values');
      return {};
    }
    const entries: [string, string][] = [];
    for (const [key, value] of Object.entries(raw)) {
      const path = field(action.at('configuration'), key);
      if (typeof value !== 'string') {
        this.report.add(path, 'must be a string');
        continue;
      }
      if (value.length > this.limits.configurationValueLength) {
        this.report.exceeded(
          'configurationValueLength',
          path,
          `${value.length} characters, more than ${this.limits.configurationValueLength}`,
        );
      }
      entries.push([key, value]);
    }
    // fromEntries defines keys as own data properties, so a "__proto__" key stays a key.
    return Object.fromEntries(entries);
  }

  private artifacts(
    action: Reader,
    key: 'inputArtifacts' | 'outputArtifacts',
  ): { names: string[]; paths: string[] } {
    const names: string[] = [];
    const paths: string[] = [];
    const list = action.array(key) ?? [];
    list.forEach((raw, index) => {
      const path = element(action.at(key), index, nameOf(raw));
      const reader = readerFor(this.report, raw, path, declarationFields.artifact, 'an artifact');
      if (!reader) return;
      const name = reader.name(
        'name',
        artifactNamePattern,
        'must be 1–100 characters of letters, digits, _ and -',
      );
      if (name === undefined) return;
      if (key === 'inputArtifacts' && names.includes(name)) {
        this.report.add(reader.at('name'), `the action already takes ${name} as input`);
        return;
      }
      names.push(name);
      paths.push(path);
    });
    return { names, paths };
  }

  private namespace(action: Reader): string | undefined {
    const namespace = action.name(
      'namespace',
      namespacePattern,
      'must be 1–100 characters of letters, digits and @ - _',
      false,
    );
    if (namespace !== undefined && reservedNamespaces.includes(namespace.toLowerCase())) {
      this.report.add(action.at('namespace'), `"${namespace}" is reserved`);
      return undefined;
    }
    return namespace;
  }

  private timeout(action: Reader, type: ActionTypeDefinition | undefined): number | undefined {
    const timeout = action.integer(
      'timeoutInMinutes',
      1,
      Number.MAX_SAFE_INTEGER,
      'must be a positive integer',
    );
    if (timeout === undefined || !type) return timeout;
    const range = `${type.minTimeoutMinutes}–${type.maxTimeoutMinutes} minutes for ${formatActionTypeId(type.id)}`;
    if (timeout < type.minTimeoutMinutes) {
      this.report.add(action.at('timeoutInMinutes'), `must be within ${range}`);
    } else if (timeout > type.maxTimeoutMinutes) {
      this.report.exceeded(
        'actionTimeoutMinutes',
        action.at('timeoutInMinutes'),
        `${timeout} minutes, outside ${range}`,
      );
    }
    return timeout;
  }

  private checkAgainstType(action: Reader, info: ActionInfo, type: ActionTypeDefinition): void {
    const typeName = formatActionTypeId(type.id);
    const { configuration } = info.declaration;
    const configPath = action.at('configuration');
    const known = new Map(type.configurationProperties.map((p) => [p.name, p]));
    for (const [key, value] of Object.entries(configuration)) {
      const property = known.get(key);
      if (!property) {
        const allowed = [...known.keys()].join(', ') || 'none';
        this.report.add(
          field(configPath, key),
          `is not a configuration key of ${typeName} (allowed: ${allowed})`,
        );
        continue;
      }
      if (holdsVariableReference(value)) continue;
      if (property.type === 'Number' && (value.trim() === '' || !Number.isFinite(Number(value)))) {
        this.report.add(field(configPath, key), 'must be a number');
      } else if (property.type === 'Boolean' && value !== 'true' && value !== 'false') {
        this.report.add(field(configPath, key), 'must be true or false');
      }
    }
    for (const property of type.configurationProperties) {
      if (
        property.required &&
        !(Object.hasOwn(configuration, property.name) && configuration[property.name])
      ) {
        this.report.add(field(configPath, property.name), `is required by ${typeName}`);
      }
    }
    const issues: ConfigurationIssue[] =
      type.checkConfiguration?.({
        configuration,
        inputArtifactNames: info.declaration.inputArtifacts.map((a) => a.name),
        allowedRoots: this.options.allowedRoots,
        accountId: this.options.accountId,
        roleAccountId: info.declaration.roleArn?.split(':')[4],
      }) ?? [];
    for (const issue of issues) {
      this.report.add(issue.key === undefined ? configPath : field(configPath, issue.key), issue.message);
    }

    this.checkCount(
      action.at('inputArtifacts'),
      info.declaration.inputArtifacts.length,
      type.inputArtifacts,
      typeName,
      'input',
    );
    this.checkCount(
      action.at('outputArtifacts'),
      info.declaration.outputArtifacts.length,
      type.outputArtifacts,
      typeName,
      'output',
    );
  }

  private checkCount(
    path: string,
    count: number,
    range: ActionTypeDefinition['inputArtifacts'],
    typeName: string,
    kind: string,
  ): void {
    if (count >= range.minimumCount && count <= range.maximumCount) return;
    const expected =
      range.minimumCount === range.maximumCount
        ? `exactly ${range.minimumCount}`
        : `${range.minimumCount} to ${range.maximumCount}`;
    this.report.add(path, `${typeName} takes ${expected} ${kind} artifact(s), not ${count}`);
  }

  private failureConditions(stage: Reader): FailureConditions | undefined {
    const reader = stage.object('onFailure', declarationFields.failureConditions, 'failure conditions');
    if (!reader) return undefined;
    const result = reader.choice('result', failureResults, true);
    const retryReader = reader.object(
      'retryConfiguration',
      declarationFields.retryConfiguration,
      'a retry configuration',
    );
    let retryConfiguration: FailureConditions['retryConfiguration'];
    if (retryReader) {
      const retryMode = retryReader.choice('retryMode', retryModes, true);
      if (result !== undefined && result !== 'RETRY') {
        this.report.add(reader.at('retryConfiguration'), 'applies only with result RETRY');
      }
      retryConfiguration = { retryMode: retryMode ?? 'FAILED_ACTIONS' };
    }
    return { result: result ?? 'FAIL', ...(retryConfiguration !== undefined && { retryConfiguration }) };
  }

  // --- triggers ------------------------------------------------------------------------------

  private triggers(top: Reader): PipelineTriggerDeclaration[] {
    const list = top.array('triggers') ?? [];
    const triggers: PipelineTriggerDeclaration[] = [];
    const bySourceAction = new Map<string, string>();
    list.forEach((raw, index) => {
      const path = element(top.at('triggers'), index);
      const reader = readerFor(this.report, raw, path, declarationFields.trigger, 'a trigger');
      if (!reader) return;
      const providerType = reader.choice('providerType', triggerProviderTypes, true);
      const git = reader.object(
        'gitConfiguration',
        declarationFields.gitConfiguration,
        'a Git configuration',
        true,
      );
      const gitConfiguration = git ? this.gitConfiguration(git, bySourceAction) : undefined;
      triggers.push({
        providerType: providerType ?? 'CodeStarSourceConnection',
        gitConfiguration: gitConfiguration ?? { sourceActionName: '' },
      });
    });
    return triggers;
  }

  private gitConfiguration(git: Reader, bySourceAction: Map<string, string>): GitConfiguration {
    const sourceActionName = git.string('sourceActionName', true);
    if (sourceActionName !== undefined) {
      const path = git.at('sourceActionName');
      const action = this.actions.find((a) => a.stageIndex === 0 && a.declaration.name === sourceActionName);
      const earlier = bySourceAction.get(sourceActionName);
      if (!action) {
        this.report.add(path, `names no action of the first stage`);
      } else if (action.category !== 'Source') {
        this.report.add(path, `${sourceActionName} is not a Source action`);
      } else if (action.type && !action.type.gitEvents) {
        this.report.add(
          path,
          `${formatActionTypeId(action.type.id)} actions have no Git events to trigger on`,
        );
      } else if (earlier) {
        this.report.add(path, `${sourceActionName} already has a trigger (${earlier})`);
      } else {
        bySourceAction.set(sourceActionName, git.path);
      }
    }
    const push = this.filters(git, 'push', (reader) => this.pushFilter(reader));
    const pullRequest = this.filters(git, 'pullRequest', (reader) => this.pullRequestFilter(reader));
    if (!push && !pullRequest) this.report.add(git.path, 'needs a push or pullRequest filter');
    return {
      sourceActionName: sourceActionName ?? '',
      ...(push && { push }),
      ...(pullRequest && { pullRequest }),
    };
  }

  private filters<T>(git: Reader, key: 'push' | 'pullRequest', read: (reader: Reader) => T): T[] | undefined {
    const list = git.array(key);
    if (!list || list.length === 0) return undefined;
    if (list.length > maxFiltersPerTriggerEvent) {
      this.report.add(git.at(key), `at most ${maxFiltersPerTriggerEvent} filters`);
    }
    const allowed = key === 'push' ? declarationFields.gitPushFilter : declarationFields.gitPullRequestFilter;
    const filters: T[] = [];
    list.forEach((raw, index) => {
      const reader = readerFor(this.report, raw, element(git.at(key), index), allowed, `a ${key} filter`);
      if (reader) filters.push(read(reader));
    });
    return filters;
  }

  private pushFilter(reader: Reader): GitPushFilter {
    const tags = this.criteria(reader, 'tags');
    const branches = this.criteria(reader, 'branches');
    const filePaths = this.criteria(reader, 'filePaths');
    // CodePipeline's rule: a push filter is on tags, or on branches (and maybe file paths).
    if (tags && (branches || filePaths)) {
      this.report.add(reader.at('tags'), 'a push filter on tags can’t also filter branches or file paths');
    } else if (!tags && !branches) {
      this.report.add(reader.path, 'a push filter needs tags or branches');
    }
    return {
      ...(tags && { tags }),
      ...(branches && { branches }),
      ...(filePaths && { filePaths }),
    };
  }

  private pullRequestFilter(reader: Reader): GitPullRequestFilter {
    const events: GitPullRequestFilter['events'] = [];
    (reader.array('events') ?? []).forEach((event, index) => {
      const path = element(reader.at('events'), index);
      if (typeof event !== 'string' || !(pullRequestEvents as readonly string[]).includes(event)) {
        this.report.add(path, `must be one of ${oneOf(pullRequestEvents)}`);
      } else if (events.includes(event as (typeof pullRequestEvents)[number])) {
        this.report.add(path, `${event} is listed twice`);
      } else {
        events.push(event as (typeof pullRequestEvents)[number]);
      }
    });
    const branches = this.criteria(reader, 'branches');
    const filePaths = this.criteria(reader, 'filePaths');
    if (!branches) this.report.add(reader.at('branches'), 'a pull request filter needs branches');
    return {
      ...(events.length > 0 && { events }),
      ...(branches && { branches }),
      ...(filePaths && { filePaths }),
    };
  }

  private criteria(filter: Reader, key: string): GitFilterCriteria | undefined {
    const reader = filter.object(key, declarationFields.gitFilterCriteria, 'filter criteria');
    if (!reader) return undefined;
    const patterns = (listKey: 'includes' | 'excludes'): string[] | undefined => {
      const list = reader.array(listKey);
      if (!list || list.length === 0) return undefined;
      if (list.length > maxPatternsPerCriteria) {
        this.report.add(reader.at(listKey), `at most ${maxPatternsPerCriteria} patterns`);
      }
      const valid: string[] = [];
      list.forEach((pattern, index) => {
        if (typeof pattern === 'string' && pattern.length >= 1 && pattern.length <= maxPatternLength) {
          valid.push(pattern);
        } else {
          this.report.add(
            element(reader.at(listKey), index),
            `must be a glob pattern of 1–${maxPatternLength} characters`,
          );
        }
      });
      return valid;
    };
    const includes = patterns('includes');
    const excludes = patterns('excludes');
    if (!includes && !excludes) this.report.add(reader.path, 'needs includes or excludes');
    return { ...(includes && { includes }), ...(excludes && { excludes }) };
  }

  // --- rules across the declaration ---------------------------------------------------------

  private checkV2Features(
    top: Reader,
    pipelineType: PipelineType,
    executionMode: ExecutionMode,
    variables: PipelineVariableDeclaration[],
    triggers: PipelineTriggerDeclaration[],
  ): void {
    if (pipelineType !== 'V1') return;
    const needsV2 = 'needs pipelineType V2';
    if (executionMode !== 'SUPERSEDED')
      this.report.add(top.at('executionMode'), `${executionMode} ${needsV2}`);
    if (variables.length) this.report.add(top.at('variables'), `pipeline variables ${needsV2}`);
    if (triggers.length) this.report.add(top.at('triggers'), `triggers ${needsV2}`);
    for (const stage of this.stageInfos) {
      if (stage.onFailure) this.report.add(field(stage.path, 'onFailure'), `onFailure ${needsV2}`);
    }
  }

  private checkFailureConditions(executionMode: ExecutionMode): void {
    this.stageInfos.forEach((stage, index) => {
      if (stage.onFailure?.result !== 'ROLLBACK') return;
      const path = field(field(stage.path, 'onFailure'), 'result');
      if (index === 0) this.report.add(path, 'the source stage can’t roll back');
      else if (executionMode === 'PARALLEL') this.report.add(path, 'PARALLEL pipelines can’t roll back');
    });
  }

  private checkActionCounts(): void {
    if (this.actions.length > this.limits.actionsPerPipeline) {
      this.report.exceeded(
        'actionsPerPipeline',
        'stages',
        `${this.actions.length} actions in the pipeline, more than ${this.limits.actionsPerPipeline}`,
      );
    }
  }

  /** Inputs come from an action that runs earlier; each output name is produced once. */
  private checkArtifactFlow(): void {
    const producers = new Map<string, ActionInfo>();
    for (const action of this.actions) {
      action.declaration.outputArtifacts.forEach(({ name }, index) => {
        const producer = producers.get(name);
        if (producer) {
          this.report.add(
            field(action.outputPaths[index], 'name'),
            `${name} is already an output of ${producer.path}`,
          );
        } else {
          producers.set(name, action);
        }
      });
    }
    for (const action of this.actions) {
      action.declaration.inputArtifacts.forEach(({ name }, index) => {
        const path = field(action.inputPaths[index], 'name');
        const producer = producers.get(name);
        if (!producer) {
          this.report.add(path, `no action outputs an artifact named ${name}`);
        } else if (order(producer, action) === 'not-before') {
          this.report.add(path, `${name} comes from ${producer.path}, which does not run before this action`);
        }
      });
    }
  }

  private checkNamespaces(): void {
    const owners = new Map<string, ActionInfo>();
    for (const action of this.actions) {
      const { namespace } = action.declaration;
      if (!namespace) continue;
      const owner = owners.get(namespace);
      if (owner)
        this.report.add(action.namespacePath, `${namespace} is already the namespace of ${owner.path}`);
      else owners.set(namespace, action);
    }
  }

  /** `#{variables.X}`, `#{codepipeline.PipelineExecutionId}`, `#{Namespace.Key}` of an earlier action. */
  private checkReferences(variables: PipelineVariableDeclaration[]): void {
    const variableNames = new Set(variables.map((v) => v.name));
    const namespaces = new Map<string, ActionInfo>();
    for (const action of this.actions) {
      const { namespace } = action.declaration;
      if (namespace && !namespaces.has(namespace)) namespaces.set(namespace, action);
    }
    for (const action of this.actions) {
      for (const [key, value] of Object.entries(action.declaration.configuration)) {
        const path = field(field(action.path, 'configuration'), key);
        for (const [reference, body] of value.matchAll(referencePattern)) {
          const message = this.referenceProblem(body, action, variableNames, namespaces);
          if (message) this.report.add(path, `${reference}: ${message}`);
        }
      }
    }
  }

  private referenceProblem(
    body: string,
    action: ActionInfo,
    variableNames: Set<string>,
    namespaces: Map<string, ActionInfo>,
  ): string | undefined {
    const match = referenceBodyPattern.exec(body);
    if (!match) return 'is not a variable reference; write #{Namespace.Key}';
    const [, namespace, key] = match;
    if (namespace === 'variables') {
      return variableNames.has(key) ? undefined : `the pipeline declares no variable ${key}`;
    }
    if (namespace === 'codepipeline') {
      return key === 'PipelineExecutionId' ? undefined : 'codepipeline offers only PipelineExecutionId';
    }
    const producer = namespaces.get(namespace);
    if (!producer) return `no action declares the namespace ${namespace}`;
    if (order(producer, action) === 'not-before') {
      return `${namespace} belongs to ${producer.path}, which does not run before this action`;
    }
    const type = producer.type;
    if (type?.outputVariables && !type.outputVariables.includes(key)) {
      const outputs = type.outputVariables.join(', ');
      return `${formatActionTypeId(type.id)} outputs no variable ${key} (it outputs ${outputs})`;
    }
    return undefined;
  }
}
