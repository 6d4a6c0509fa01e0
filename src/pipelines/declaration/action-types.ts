import path from 'node:path';
import type { ActionCategory, ActionTypeId } from './declaration';

/**
 * Action types a declaration may use: the built-in ones (owner `Sluice`, DESIGN §7, run by
 * Sluice's workers) and the account's custom ones (owner `Custom`, passed in by the caller
 * because they live in the database). A definition states what the declaration validator
 * checks; what the provider does with its configuration is the engine's business.
 */

export type ConfigurationPropertyType = 'String' | 'Number' | 'Boolean';

/** CodePipeline's ActionConfigurationProperty. */
export interface ActionConfigurationProperty {
  name: string;
  required: boolean;
  /** Identifies the action's target (part of what makes two actions "the same"). */
  key: boolean;
  /** Masked when a declaration is shown to someone else than the worker running it. */
  secret: boolean;
  /** Usable as a query parameter by workers polling for jobs (custom action types). */
  queryable: boolean;
  description?: string;
  /** `Number` values must parse as a finite number, `Boolean` ones be `true` or `false`. */
  type: ConfigurationPropertyType;
}

/** CodePipeline's ArtifactDetails. */
export interface ArtifactCountRange {
  minimumCount: number;
  maximumCount: number;
}

/** A provider-specific configuration problem; `key` absent means the configuration as a whole. */
export interface ConfigurationIssue {
  key?: string;
  message: string;
}

/** What a provider-specific check sees: string values only, references still unresolved. */
export interface ConfigurationContext {
  configuration: Readonly<Record<string, string>>;
  inputArtifactNames: readonly string[];
  /** The account's folders on the server that providers may use; unchecked when absent. */
  allowedRoots?: AllowedRoots;
  /** The account the declaration belongs to, when known. */
  accountId?: string;
  /** The account of the action's own roleArn, when it has one: where the action may act. */
  roleAccountId?: string;
}

/** Absolute folders (already for one account): Deploy/Directory targets, local Git repositories. */
export interface AllowedRoots {
  deploy: readonly string[];
  gitLocal: readonly string[];
}

export interface ActionTypeDefinition {
  id: ActionTypeId;
  configurationProperties: ActionConfigurationProperty[];
  inputArtifacts: ArtifactCountRange;
  outputArtifacts: ArtifactCountRange;
  /** Used when the action declares no `timeoutInMinutes`. */
  defaultTimeoutMinutes: number;
  minTimeoutMinutes: number;
  /** Above it is LIMIT_EXCEEDED (DESIGN §10), below the minimum BAD_USER_INPUT. */
  maxTimeoutMinutes: number;
  /**
   * The fixed set of output variables, so `#{Namespace.Key}` references to them are checked.
   * Absent when the set depends on the run (exported buildspec variables, a callee's answer).
   */
  outputVariables?: string[];
  /** The source emits Git pushes and pull requests, so pipeline triggers may filter them. */
  gitEvents?: boolean;
  /** Checks beyond presence and type; values holding `#{…}` are resolved later, so skip them. */
  checkConfiguration?: (context: ConfigurationContext) => ConfigurationIssue[];
}

/** DESIGN §10: 1 h default, 8 h max, except approvals. */
const defaultTimeoutMinutes = 60;
const maxTimeoutMinutes = 8 * 60;

/** A value with a `#{…}` reference is known only when the action runs. */
export function holdsVariableReference(value: string): boolean {
  return value.includes('#{');
}

function property(
  name: string,
  description: string,
  options: { required?: boolean; key?: boolean; secret?: boolean; type?: ConfigurationPropertyType } = {},
): ActionConfigurationProperty {
  return {
    name,
    required: options.required ?? false,
    key: options.key ?? false,
    secret: options.secret ?? false,
    queryable: false,
    description,
    type: options.type ?? 'String',
  };
}

/**
 * Runs `check` on the value of `key` when it is set and free of references. An empty value
 * counts as not set (a required one is reported as missing already).
 */
function staticValue(
  context: ConfigurationContext,
  key: string,
  check: (value: string) => string | undefined,
) {
  const value = context.configuration[key];
  if (!value || holdsVariableReference(value)) return [];
  const message = check(value);
  return message ? [{ key, message }] : [];
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

// scp-like `user@host:path` is how git spells SSH remotes without a scheme.
const scpLikeGitUrl = /^[\w.-]+@[\w.-]+:[^\s]+$/;
const gitUrlSchemes = ['file:', 'http:', 'https:', 'ssh:', 'git:'];

/** `candidate` (absolute) is `root` or lies below it, by its text with `..` resolved. */
function lexicallyWithin(roots: readonly string[], candidate: string): boolean {
  const resolved = path.posix.resolve(candidate);
  return roots.some(
    (root) => resolved === root || resolved.startsWith(root.endsWith('/') ? root : `${root}/`),
  );
}

function listRoots(roots: readonly string[]): string {
  return roots.length ? roots.join(', ') : 'none are configured';
}

function checkRepositoryUrl(value: string, roots: AllowedRoots | undefined): string | undefined {
  let localPath: string | undefined;
  if (path.posix.isAbsolute(value)) localPath = value;
  else if (scpLikeGitUrl.test(value)) return undefined;
  else {
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      // Not a URL: falls through to the message below.
    }
    if (!url || !gitUrlSchemes.includes(url.protocol)) {
      return 'must be an absolute path, a file:// URL, or a git URL (https://, ssh://, git://, user@host:path)';
    }
    if (url.protocol !== 'file:') return undefined;
    if (url.host !== '') return 'must be a file:// URL without a host (file:///path)';
    localPath = decodeURIComponent(url.pathname);
  }
  if (roots && !lexicallyWithin(roots.gitLocal, localPath)) {
    return `is a local repository outside the allowed Git roots (SLUICE_GIT_LOCAL_ROOTS: ${listRoots(roots.gitLocal)}); use a remote URL or a path under one of them`;
  }
  return undefined;
}

// git check-ref-format, in short: what a branch name can't contain.
function checkBranchName(value: string): string | undefined {
  const invalid =
    value.startsWith('-') ||
    value.startsWith('/') ||
    value.endsWith('/') ||
    value.endsWith('.') ||
    value.endsWith('.lock') ||
    value.includes('..') ||
    value.includes('//') ||
    value.includes('@{') ||
    // eslint-disable-next-line no-control-regex
    /[\s~^:?*[\\\x00-\x1f\x7f]/.test(value);
  return invalid ? 'is not a valid Git branch name' : undefined;
}

function checkJsonArray(
  value: string,
  describe: string,
  checkItem: (item: Record<string, unknown>, index: number) => string | undefined,
): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return `must be a JSON array of ${describe}`;
  }
  if (!Array.isArray(parsed)) return `must be a JSON array of ${describe}`;
  for (const [index, item] of parsed.entries()) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      return `item ${index} must be an object (${describe})`;
    }
    const message = checkItem(item as Record<string, unknown>, index);
    if (message) return message;
  }
  return undefined;
}

const environmentVariableName = /^[A-Za-z_][A-Za-z0-9_]*$/;

// Sluice sets SLUICE_* itself (SLUICE_SRC_DIR_<name> for secondary inputs, DESIGN §7).
function checkEnvironmentVariables(value: string): string | undefined {
  const seen = new Set<string>();
  return checkJsonArray(value, '{"name", "value", "type"} objects', (item, index) => {
    const unknown = Object.keys(item).filter((key) => !['name', 'value', 'type'].includes(key));
    if (unknown.length) return `item ${index} has unknown field(s) ${unknown.join(', ')}`;
    if (typeof item.name !== 'string' || !environmentVariableName.test(item.name)) {
      return `item ${index} needs a "name" that is a valid environment variable name`;
    }
    if (item.name.startsWith('SLUICE_')) return `item ${index}: names starting with SLUICE_ are reserved`;
    if (seen.has(item.name)) return `item ${index}: ${item.name} is set twice`;
    seen.add(item.name);
    if (typeof item.value !== 'string') return `item ${index} needs a string "value"`;
    // Sluice holds no parameter store or secrets manager to resolve other types from.
    if (item.type !== undefined && item.type !== 'PLAINTEXT')
      return `item ${index}: "type" must be PLAINTEXT`;
    return undefined;
  });
}

function checkShellConfiguration(context: ConfigurationContext): ConfigurationIssue[] {
  const { configuration, inputArtifactNames } = context;
  const issues: ConfigurationIssue[] = [];
  if (configuration.BuildSpec !== undefined && configuration.Commands !== undefined) {
    issues.push({ key: 'Commands', message: 'give either BuildSpec or Commands, not both' });
  }
  const primary = configuration.PrimarySource;
  if (primary === undefined) {
    if (inputArtifactNames.length > 1) {
      issues.push({
        key: 'PrimarySource',
        message: 'is required when the action has more than one input artifact',
      });
    }
  } else if (!holdsVariableReference(primary) && !inputArtifactNames.includes(primary)) {
    issues.push({ key: 'PrimarySource', message: `must name one of the action's input artifacts` });
  }
  issues.push(...staticValue(context, 'EnvironmentVariables', checkEnvironmentVariables));
  return issues;
}

function shellActionType(category: ActionCategory): ActionTypeDefinition {
  return {
    id: { category, owner: 'Sluice', provider: 'Shell', version: '1' },
    configurationProperties: [
      property(
        'BuildSpec',
        'An inline buildspec (YAML, version 0.2). Without BuildSpec and Commands, buildspec.yml from the primary input runs.',
      ),
      property('Commands', 'Shell commands, one per line, run in order with `sh -e`.'),
      property(
        'PrimarySource',
        'The input artifact unpacked at the working directory; required with several inputs.',
      ),
      property(
        'EnvironmentVariables',
        'A JSON array of {"name", "value", "type": "PLAINTEXT"} set in the build environment.',
      ),
    ],
    inputArtifacts: { minimumCount: 1, maximumCount: 5 },
    outputArtifacts: { minimumCount: 0, maximumCount: 5 },
    defaultTimeoutMinutes,
    minTimeoutMinutes: 1,
    maxTimeoutMinutes,
    checkConfiguration: checkShellConfiguration,
  };
}

const pipelineNamePattern = /^[A-Za-z0-9.@\-_]{1,100}$/;

export const builtInActionTypes: readonly ActionTypeDefinition[] = [
  {
    id: { category: 'Source', owner: 'Sluice', provider: 'Git', version: '1' },
    configurationProperties: [
      property('RepositoryUrl', 'An absolute path, a file:// URL, or a git URL.', {
        required: true,
        key: true,
      }),
      property('BranchName', 'The branch whose head is the revision.', { required: true, key: true }),
      property(
        'OutputArtifactFormat',
        'CODE_ZIP (default): the tree at the commit; CODEBUILD_CLONE_REF: a full clone, .git included.',
      ),
      property('DetectChanges', 'false: new commits do not start the pipeline (manual starts still do).', {
        type: 'Boolean',
      }),
    ],
    inputArtifacts: { minimumCount: 0, maximumCount: 0 },
    outputArtifacts: { minimumCount: 1, maximumCount: 1 },
    defaultTimeoutMinutes,
    minTimeoutMinutes: 1,
    maxTimeoutMinutes,
    outputVariables: ['CommitId', 'BranchName', 'CommitMessage', 'AuthorDate'],
    gitEvents: true,
    checkConfiguration: (context) => [
      ...staticValue(context, 'RepositoryUrl', (value) => checkRepositoryUrl(value, context.allowedRoots)),
      ...staticValue(context, 'BranchName', checkBranchName),
      ...staticValue(context, 'OutputArtifactFormat', (value) =>
        ['CODE_ZIP', 'CODEBUILD_CLONE_REF'].includes(value)
          ? undefined
          : 'must be CODE_ZIP or CODEBUILD_CLONE_REF',
      ),
    ],
  },
  {
    id: { category: 'Source', owner: 'Sluice', provider: 'Archive', version: '1' },
    configurationProperties: [
      property('ObjectKey', 'The key archives are uploaded under; each upload is a new revision.', {
        required: true,
        key: true,
      }),
    ],
    inputArtifacts: { minimumCount: 0, maximumCount: 0 },
    outputArtifacts: { minimumCount: 1, maximumCount: 1 },
    defaultTimeoutMinutes,
    minTimeoutMinutes: 1,
    maxTimeoutMinutes,
    checkConfiguration: (context) =>
      staticValue(context, 'ObjectKey', (value) =>
        // The key becomes a path in the artifact store: no way out of it.
        value.startsWith('/') || value.split('/').some((part) => part === '..' || part === '.' || part === '')
          ? 'must be a relative key without empty, "." or ".." segments'
          : undefined,
      ),
  },
  shellActionType('Build'),
  shellActionType('Test'),
  {
    id: { category: 'Deploy', owner: 'Sluice', provider: 'Directory', version: '1' },
    configurationProperties: [
      property(
        'TargetDirectory',
        'Releases go to <TargetDirectory>/releases/<id>; <TargetDirectory>/current points to the latest.',
        {
          required: true,
          key: true,
        },
      ),
      property('KeepReleases', 'How many releases to keep, 1–100.', { type: 'Number' }),
    ],
    inputArtifacts: { minimumCount: 1, maximumCount: 1 },
    outputArtifacts: { minimumCount: 0, maximumCount: 0 },
    defaultTimeoutMinutes,
    minTimeoutMinutes: 1,
    maxTimeoutMinutes,
    checkConfiguration: (context) => [
      ...staticValue(context, 'TargetDirectory', (value) => {
        if (!path.posix.isAbsolute(value) || path.posix.normalize(value) === '/') {
          return 'must be an absolute path other than /';
        }
        const roots = context.allowedRoots?.deploy;
        return roots && !lexicallyWithin(roots, value)
          ? `must lie under an allowed deploy root (SLUICE_DEPLOY_ROOTS: ${listRoots(roots)})`
          : undefined;
      }),
      ...staticValue(context, 'KeepReleases', (value) =>
        /^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 100
          ? undefined
          : 'must be a whole number from 1 to 100',
      ),
    ],
  },
  {
    id: { category: 'Approval', owner: 'Sluice', provider: 'Manual', version: '1' },
    configurationProperties: [
      property('CustomData', 'Shown to approvers, at most 500 characters.'),
      property('ExternalEntityLink', 'An http(s) URL for approvers to review.'),
      property('NotificationArn', 'Where to announce that an approval is waiting.'),
    ],
    inputArtifacts: { minimumCount: 0, maximumCount: 0 },
    outputArtifacts: { minimumCount: 0, maximumCount: 0 },
    // DESIGN §6: 7 days by default, 5 minutes to 60 days.
    defaultTimeoutMinutes: 7 * 24 * 60,
    minTimeoutMinutes: 5,
    maxTimeoutMinutes: 60 * 24 * 60,
    checkConfiguration: (context) => [
      ...staticValue(context, 'CustomData', (value) =>
        value.length > 500 ? 'must be at most 500 characters' : undefined,
      ),
      ...staticValue(context, 'ExternalEntityLink', (value) =>
        isHttpUrl(value) ? undefined : 'must be an http(s) URL',
      ),
      ...staticValue(context, 'NotificationArn', (value) =>
        /^arn:[^:\s]+:[^:\s]+:[^:\s]*:[^:\s]*:\S+$/.test(value) ? undefined : 'must be an ARN',
      ),
    ],
  },
  {
    id: { category: 'Invoke', owner: 'Sluice', provider: 'Webhook', version: '1' },
    configurationProperties: [
      property('Url', 'The http(s) URL the job is POSTed to.', { required: true, key: true }),
      property('SecretName', 'The secret whose value signs each request (HMAC).'),
    ],
    inputArtifacts: { minimumCount: 0, maximumCount: 5 },
    outputArtifacts: { minimumCount: 0, maximumCount: 5 },
    defaultTimeoutMinutes,
    minTimeoutMinutes: 1,
    maxTimeoutMinutes,
    checkConfiguration: (context) => [
      ...staticValue(context, 'Url', (value) => (isHttpUrl(value) ? undefined : 'must be an http(s) URL')),
      ...staticValue(context, 'SecretName', (value) =>
        /^[A-Za-z0-9/_+=.@-]{1,512}$/.test(value)
          ? undefined
          : 'must be 1–512 characters of letters, digits and /_+=.@-',
      ),
    ],
  },
  {
    id: { category: 'Invoke', owner: 'Sluice', provider: 'Pipeline', version: '1' },
    configurationProperties: [
      property(
        'PipelineName',
        "The pipeline to start: its name or ARN (another account's through a role there in roleArn).",
        {
          required: true,
          key: true,
        },
      ),
      property('Variables', 'A JSON array of {"name", "value"} overriding its pipeline variables.'),
    ],
    inputArtifacts: { minimumCount: 0, maximumCount: 0 },
    outputArtifacts: { minimumCount: 0, maximumCount: 0 },
    defaultTimeoutMinutes,
    minTimeoutMinutes: 1,
    maxTimeoutMinutes,
    checkConfiguration: (context) => [
      ...staticValue(context, 'PipelineName', (value) => {
        const arnParts = /^arn:sluice:codepipeline:[^:]*:(\d{12}):([^:/]+)$/.exec(value);
        if (arnParts) {
          const account = arnParts[1];
          if (
            context.accountId !== undefined &&
            account !== context.accountId &&
            account !== context.roleAccountId
          ) {
            return (
              "must be a pipeline of this account: a pipeline starts another account's pipeline only " +
              "through a role of that account in the action's roleArn"
            );
          }
          return pipelineNamePattern.test(arnParts[2]) ? undefined : 'is not a valid pipeline ARN';
        }
        return pipelineNamePattern.test(value) ? undefined : 'is not a valid pipeline name or ARN';
      }),
      ...staticValue(context, 'Variables', (value) =>
        checkJsonArray(value, '{"name", "value"} objects', (item, index) =>
          typeof item.name === 'string' && typeof item.value === 'string' && Object.keys(item).length === 2
            ? undefined
            : `item ${index} must be {"name": string, "value": string}`,
        ),
      ),
    ],
  },
];

/** The parts of an action type id, possibly not yet validated. */
export interface ActionTypeIdLike {
  category: string;
  owner: string;
  provider: string;
  version: string;
}

/** The built-in or custom type with exactly this id (CodePipeline's ids are case-sensitive). */
export function findActionType(
  id: ActionTypeIdLike,
  customTypes: readonly ActionTypeDefinition[] = [],
): ActionTypeDefinition | undefined {
  const same = (type: ActionTypeDefinition) =>
    type.id.category === id.category &&
    type.id.owner === id.owner &&
    type.id.provider === id.provider &&
    type.id.version === id.version;
  return builtInActionTypes.find(same) ?? customTypes.find(same);
}

/** What `createCustomActionType` records (CodePipeline's CreateCustomActionType input). */
export interface CustomActionTypeSpec {
  category: ActionCategory;
  provider: string;
  version: string;
  configurationProperties?: ActionConfigurationProperty[];
  inputArtifactDetails: ArtifactCountRange;
  outputArtifactDetails: ArtifactCountRange;
}

/** A custom type's definition: external workers run it, with the usual action timeouts. */
export function customActionTypeDefinition(spec: CustomActionTypeSpec): ActionTypeDefinition {
  return {
    id: { category: spec.category, owner: 'Custom', provider: spec.provider, version: spec.version },
    configurationProperties: spec.configurationProperties ?? [],
    inputArtifacts: spec.inputArtifactDetails,
    outputArtifacts: spec.outputArtifactDetails,
    defaultTimeoutMinutes,
    minTimeoutMinutes: 1,
    maxTimeoutMinutes,
  };
}
