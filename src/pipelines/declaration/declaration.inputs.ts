import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, InputType, Int } from 'type-graphql';

/**
 * `PipelineDeclarationInput`: CodePipeline's declaration JSON as a GraphQL input, field for
 * field. Contract: the `declaration` that `pipeline(name)` returns is accepted unchanged, so
 * every field the normalized declaration can hold exists here (`declarationFields` in
 * validate-declaration.ts lists them; a unit test holds the two together).
 *
 * GraphQL checks only the shape. Enum-like fields are plain strings and names are unchecked
 * so that `validateDeclaration` reports every problem at once, with paths, instead of GraphQL
 * stopping at the first unknown enum value.
 *
 * Classes are declared leaves first: decorator metadata names a field's class when the class
 * is defined, and a class used before its definition would not be.
 */

@InputType('ActionTypeIdInput', {
  description: 'e.g. {category: "Build", owner: "Sluice", provider: "Shell", version: "1"}',
})
export class ActionTypeIdInput {
  @Field(() => String, { description: 'Source, Build, Test, Deploy, Approval, Invoke or Compute.' })
  category: string;

  @Field(() => String, { description: 'Sluice (built-in) or Custom (the account’s own action types).' })
  owner: string;

  @Field(() => String)
  provider: string;

  @Field(() => String)
  version: string;
}

@InputType('InputArtifactInput')
export class InputArtifactInput {
  @Field(() => String)
  name: string;
}

@InputType('OutputArtifactInput')
export class OutputArtifactInput {
  @Field(() => String)
  name: string;
}

@InputType('ActionDeclarationInput')
export class ActionDeclarationInput {
  @Field(() => String)
  name: string;

  @Field(() => ActionTypeIdInput)
  actionTypeId: ActionTypeIdInput;

  @Field(() => Int, {
    nullable: true,
    description: '1–999; actions with the same runOrder run in parallel. Default 1.',
  })
  runOrder?: number | null;

  @Field(() => GraphQLJSONObject, {
    nullable: true,
    description: 'Provider settings: a JSON object of string values; may hold #{Namespace.Key} references.',
  })
  configuration?: Record<string, unknown> | null;

  @Field(() => [InputArtifactInput], { nullable: true })
  inputArtifacts?: InputArtifactInput[] | null;

  @Field(() => [OutputArtifactInput], { nullable: true })
  outputArtifacts?: OutputArtifactInput[] | null;

  @Field(() => String, { nullable: true, description: 'Publishes the output variables to later actions.' })
  namespace?: string | null;

  @Field(() => Int, { nullable: true, description: 'Default: the action type’s.' })
  timeoutInMinutes?: number | null;

  @Field(() => String, {
    nullable: true,
    description: 'Accepted only empty: cross-region actions are not supported.',
  })
  region?: string | null;

  @Field(() => String, { nullable: true })
  roleArn?: string | null;
}

@InputType('RetryConfigurationInput')
export class RetryConfigurationInput {
  @Field(() => String, { nullable: true, description: 'ALL_ACTIONS or FAILED_ACTIONS.' })
  retryMode?: string | null;
}

@InputType('FailureConditionsInput')
export class FailureConditionsInput {
  @Field(() => String, { description: 'ROLLBACK, FAIL or RETRY.' })
  result: string;

  @Field(() => RetryConfigurationInput, { nullable: true, description: 'Only with result RETRY.' })
  retryConfiguration?: RetryConfigurationInput | null;
}

@InputType('StageDeclarationInput')
export class StageDeclarationInput {
  @Field(() => String)
  name: string;

  @Field(() => [ActionDeclarationInput])
  actions: ActionDeclarationInput[];

  @Field(() => FailureConditionsInput, { nullable: true })
  onFailure?: FailureConditionsInput | null;
}

@InputType('EncryptionKeyInput')
export class EncryptionKeyInput {
  @Field(() => String)
  id: string;

  @Field(() => String, { description: 'KMS.' })
  type: string;
}

@InputType('ArtifactStoreInput')
export class ArtifactStoreInput {
  @Field(() => String, { description: 'S3 or Local.' })
  type: string;

  @Field(() => String)
  location: string;

  @Field(() => EncryptionKeyInput, { nullable: true })
  encryptionKey?: EncryptionKeyInput | null;
}

@InputType('PipelineVariableDeclarationInput')
export class PipelineVariableDeclarationInput {
  @Field(() => String)
  name: string;

  @Field(() => String, { nullable: true })
  defaultValue?: string | null;

  @Field(() => String, { nullable: true })
  description?: string | null;
}

@InputType('GitFilterCriteriaInput', { description: 'Glob patterns; excludes win over includes.' })
export class GitFilterCriteriaInput {
  @Field(() => [String], { nullable: true })
  includes?: string[] | null;

  @Field(() => [String], { nullable: true })
  excludes?: string[] | null;
}

@InputType('GitPushFilterInput', { description: 'Either tags, or branches with optional filePaths.' })
export class GitPushFilterInput {
  @Field(() => GitFilterCriteriaInput, { nullable: true })
  tags?: GitFilterCriteriaInput | null;

  @Field(() => GitFilterCriteriaInput, { nullable: true })
  branches?: GitFilterCriteriaInput | null;

  @Field(() => GitFilterCriteriaInput, { nullable: true })
  filePaths?: GitFilterCriteriaInput | null;
}

@InputType('GitPullRequestFilterInput')
export class GitPullRequestFilterInput {
  @Field(() => [String], { nullable: true, description: 'OPEN, UPDATED, CLOSED.' })
  events?: string[] | null;

  @Field(() => GitFilterCriteriaInput, { nullable: true })
  branches?: GitFilterCriteriaInput | null;

  @Field(() => GitFilterCriteriaInput, { nullable: true })
  filePaths?: GitFilterCriteriaInput | null;
}

@InputType('GitConfigurationInput')
export class GitConfigurationInput {
  @Field(() => String)
  sourceActionName: string;

  @Field(() => [GitPushFilterInput], { nullable: true })
  push?: GitPushFilterInput[] | null;

  @Field(() => [GitPullRequestFilterInput], { nullable: true })
  pullRequest?: GitPullRequestFilterInput[] | null;
}

@InputType('PipelineTriggerDeclarationInput')
export class PipelineTriggerDeclarationInput {
  @Field(() => String, { description: 'CodeStarSourceConnection.' })
  providerType: string;

  @Field(() => GitConfigurationInput)
  gitConfiguration: GitConfigurationInput;
}

@InputType('PipelineDeclarationInput')
export class PipelineDeclarationInput {
  @Field(() => String)
  name: string;

  @Field(() => String, { nullable: true })
  roleArn?: string | null;

  @Field(() => ArtifactStoreInput, { nullable: true })
  artifactStore?: ArtifactStoreInput | null;

  @Field(() => [StageDeclarationInput])
  stages: StageDeclarationInput[];

  @Field(() => Int, { nullable: true, description: 'The version read; on update a stale one is a CONFLICT.' })
  version?: number | null;

  @Field(() => String, { nullable: true, description: 'SUPERSEDED (default), QUEUED or PARALLEL.' })
  executionMode?: string | null;

  @Field(() => String, { nullable: true, description: 'V2 (default) or V1.' })
  pipelineType?: string | null;

  @Field(() => [PipelineVariableDeclarationInput], { nullable: true })
  variables?: PipelineVariableDeclarationInput[] | null;

  @Field(() => [PipelineTriggerDeclarationInput], { nullable: true })
  triggers?: PipelineTriggerDeclarationInput[] | null;
}

/**
 * The input as plain JSON for `validateDeclaration`: type-graphql hands resolvers class
 * instances, and fields the client left out are undefined there; explicit nulls are kept
 * (the validator reads them as "not given").
 */
export function declarationFromInput(input: PipelineDeclarationInput): unknown {
  return toPlain(input);
}

function toPlain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toPlain);
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value)
    .filter(([, item]) => item !== undefined)
    .map(([key, item]): [string, unknown] => [key, toPlain(item)]);
  return Object.fromEntries(entries);
}
