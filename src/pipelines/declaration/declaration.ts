/**
 * A pipeline declaration in CodePipeline's JSON shape (the `pipeline` object of
 * `aws codepipeline get-pipeline`), field for field, so users can carry declarations between
 * the two after mapping providers. These are plain types: the GraphQL input lives in
 * `declaration.inputs.ts`, the rules in `validate-declaration.ts`.
 *
 * A declaration that passed `validateDeclaration` is normalized: defaults are filled, absent
 * optional fields are left out (except `version`, always present, `null` when unknown) and keys
 * come in a fixed order, so it can be stored, compared and sent back as input unchanged.
 */

export const actionCategories = [
  'Source',
  'Build',
  'Test',
  'Deploy',
  'Approval',
  'Invoke',
  'Compute',
] as const;
export type ActionCategory = (typeof actionCategories)[number];

export const actionOwners = ['AWS', 'Sluice', 'Custom', 'ThirdParty'] as const;
export type ActionOwner = (typeof actionOwners)[number];

export const executionModes = ['SUPERSEDED', 'QUEUED', 'PARALLEL'] as const;
export type ExecutionMode = (typeof executionModes)[number];

export const pipelineTypes = ['V1', 'V2'] as const;
export type PipelineType = (typeof pipelineTypes)[number];

export const failureResults = ['ROLLBACK', 'FAIL', 'RETRY'] as const;
export type FailureResult = (typeof failureResults)[number];

export const retryModes = ['ALL_ACTIONS', 'FAILED_ACTIONS'] as const;
export type RetryMode = (typeof retryModes)[number];

export const artifactStoreTypes = ['S3', 'Local'] as const;
export type ArtifactStoreType = (typeof artifactStoreTypes)[number];

export const encryptionKeyTypes = ['KMS'] as const;
export type EncryptionKeyType = (typeof encryptionKeyTypes)[number];

/** CodePipeline's only trigger provider; Sluice's Git source plays the connection's part. */
export const triggerProviderTypes = ['CodeStarSourceConnection'] as const;
export type TriggerProviderType = (typeof triggerProviderTypes)[number];

export const pullRequestEvents = ['OPEN', 'UPDATED', 'CLOSED'] as const;
export type PullRequestEvent = (typeof pullRequestEvents)[number];

export interface ActionTypeId {
  category: ActionCategory;
  owner: ActionOwner;
  provider: string;
  version: string;
}

export interface InputArtifact {
  name: string;
}

export interface OutputArtifact {
  name: string;
}

export interface ActionDeclaration {
  name: string;
  actionTypeId: ActionTypeId;
  runOrder: number;
  /** Provider settings; values may hold `#{Namespace.Key}` / `#{variables.Name}` references. */
  configuration: Record<string, string>;
  inputArtifacts: InputArtifact[];
  outputArtifacts: OutputArtifact[];
  /** Publishes the action's output variables as `#{<namespace>.<Key>}` to later actions. */
  namespace?: string | null;
  /** Absent means the action type's default (see `ActionTypeDefinition.defaultTimeoutMinutes`). */
  timeoutInMinutes?: number | null;
  /** Accepted only empty: Sluice runs every action in its own region. */
  region?: null;
  roleArn?: string | null;
}

export interface RetryConfiguration {
  retryMode: RetryMode;
}

export interface FailureConditions {
  result: FailureResult;
  /** Only with `result: 'RETRY'`. */
  retryConfiguration?: RetryConfiguration | null;
}

export interface StageDeclaration {
  name: string;
  actions: ActionDeclaration[];
  onFailure?: FailureConditions | null;
}

export interface EncryptionKey {
  id: string;
  type: EncryptionKeyType;
}

export interface ArtifactStore {
  type: ArtifactStoreType;
  location: string;
  encryptionKey?: EncryptionKey | null;
}

export interface PipelineVariableDeclaration {
  name: string;
  defaultValue?: string | null;
  description?: string | null;
}

/** Glob patterns; an excluded match wins over an included one (DESIGN §6). */
export interface GitFilterCriteria {
  includes?: string[] | null;
  excludes?: string[] | null;
}

/** Either `tags`, or `branches` with optional `filePaths` (CodePipeline's rule). */
export interface GitPushFilter {
  tags?: GitFilterCriteria | null;
  branches?: GitFilterCriteria | null;
  filePaths?: GitFilterCriteria | null;
}

export interface GitPullRequestFilter {
  events?: PullRequestEvent[] | null;
  branches?: GitFilterCriteria | null;
  filePaths?: GitFilterCriteria | null;
}

export interface GitConfiguration {
  /** A source action (first stage) whose type carries Git events. */
  sourceActionName: string;
  push?: GitPushFilter[] | null;
  pullRequest?: GitPullRequestFilter[] | null;
}

export interface PipelineTriggerDeclaration {
  providerType: TriggerProviderType;
  gitConfiguration: GitConfiguration;
}

export type TriggerDeclaration = PipelineTriggerDeclaration;

export interface PipelineDeclaration {
  name: string;
  roleArn?: string | null;
  artifactStore?: ArtifactStore | null;
  stages: StageDeclaration[];
  /** The version the declaration was read at; on update a stale one is a CONFLICT. */
  version?: number | null;
  executionMode: ExecutionMode;
  pipelineType: PipelineType;
  variables: PipelineVariableDeclaration[];
  triggers: TriggerDeclaration[];
}

/** `Source/Sluice/Git/1`: how messages name an action type (category first, as CodePipeline's console does). */
export function formatActionTypeId(id: ActionTypeId): string {
  return `${id.category}/${id.owner}/${id.provider}/${id.version}`;
}

/**
 * The roles a declaration names (the pipeline's, then its actions'), each once as written:
 * what creating or updating it passes to the service (`iam:PassRole`).
 */
export function roleArnsOf(declaration: PipelineDeclaration): string[] {
  const named = [
    declaration.roleArn,
    ...declaration.stages.flatMap((s) => s.actions.map((a) => a.roleArn)),
  ].filter((r): r is string => typeof r === 'string');
  return [...new Set(named)];
}
