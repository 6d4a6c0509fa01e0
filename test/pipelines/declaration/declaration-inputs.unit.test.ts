import 'reflect-metadata';
import {
  getNamedType,
  graphql,
  isInputObjectType,
  type GraphQLInputObjectType,
  type GraphQLSchema,
} from 'graphql';
import { GraphQLJSON } from 'graphql-scalars';
import { Arg, buildSchema, Mutation, Query, Resolver } from 'type-graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ActionDeclarationInput,
  ActionTypeIdInput,
  declarationFromInput,
  PipelineDeclarationInput,
  StageDeclarationInput,
} from '../../../src/pipelines/declaration/declaration.inputs';
import {
  declarationFields,
  validateDeclaration,
} from '../../../src/pipelines/declaration/validate-declaration';
import { fixtureNames, loadFixture, options, problemsOf } from './declaration-fixtures';

// The smallest API that takes the input the way createPipeline/updatePipeline will, and hands
// back what the resolver received, as the validator would see it.
@Resolver()
class EchoResolver {
  @Query(() => String)
  ping(): string {
    return 'pong';
  }

  @Mutation(() => GraphQLJSON)
  echoPipeline(@Arg('pipeline', () => PipelineDeclarationInput) pipeline: PipelineDeclarationInput): unknown {
    return declarationFromInput(pipeline);
  }
}

const echo = 'mutation Echo($pipeline: PipelineDeclarationInput!) { echoPipeline(pipeline: $pipeline) }';

let schema: GraphQLSchema;

beforeAll(async () => {
  schema = await buildSchema({ resolvers: [EchoResolver], validate: false });
});

async function sendThroughGraphql(pipeline: unknown): Promise<unknown> {
  const result = await graphql({ schema, source: echo, variableValues: { pipeline } });
  expect(result.errors).toBeUndefined();
  return (result.data as { echoPipeline: unknown }).echoPipeline;
}

describe('PipelineDeclarationInput', () => {
  it.each(fixtureNames)(
    'accepts the normalized %s declaration unchanged (the copy contract)',
    async (name) => {
      const normalized = validateDeclaration(loadFixture(name), options());
      const received = await sendThroughGraphql(normalized);
      expect(received).toEqual(normalized);
      expect(validateDeclaration(received, options())).toEqual(normalized);
    },
  );

  it('accepts the fixtures as written, with the same result as validating them directly', async () => {
    for (const name of fixtureNames) {
      const received = await sendThroughGraphql(loadFixture(name));
      expect(validateDeclaration(received, options())).toEqual(
        validateDeclaration(loadFixture(name), options()),
      );
    }
  });

  it('has exactly the fields the validator accepts, in every nested input', () => {
    const shapes: Record<string, keyof typeof declarationFields> = {
      PipelineDeclarationInput: 'pipeline',
      ArtifactStoreInput: 'artifactStore',
      EncryptionKeyInput: 'encryptionKey',
      StageDeclarationInput: 'stage',
      FailureConditionsInput: 'failureConditions',
      RetryConfigurationInput: 'retryConfiguration',
      ActionDeclarationInput: 'action',
      ActionTypeIdInput: 'actionTypeId',
      InputArtifactInput: 'artifact',
      OutputArtifactInput: 'artifact',
      PipelineVariableDeclarationInput: 'variable',
      PipelineTriggerDeclarationInput: 'trigger',
      GitConfigurationInput: 'gitConfiguration',
      GitPushFilterInput: 'gitPushFilter',
      GitPullRequestFilterInput: 'gitPullRequestFilter',
      GitFilterCriteriaInput: 'gitFilterCriteria',
    };
    const reached = new Set<string>();
    const visit = (type: GraphQLInputObjectType) => {
      if (reached.has(type.name)) return;
      reached.add(type.name);
      const shape = shapes[type.name];
      expect(shape, `${type.name} maps to a part of declarationFields`).toBeDefined();
      expect(Object.keys(type.getFields()).sort(), type.name).toEqual([...declarationFields[shape]].sort());
      for (const field of Object.values(type.getFields())) {
        const named = getNamedType(field.type);
        if (isInputObjectType(named)) visit(named);
      }
    };
    const root = schema.getType('PipelineDeclarationInput');
    if (!isInputObjectType(root)) throw new Error('PipelineDeclarationInput is missing from the schema');
    visit(root);
    expect([...reached].sort()).toEqual(Object.keys(shapes).sort());
  });

  it('keeps enum-like fields strings and optional fields nullable, so validation reports every problem', () => {
    const fieldType = (typeName: string, fieldName: string) => {
      const type = schema.getType(typeName);
      if (!isInputObjectType(type)) throw new Error(`${typeName} is not an input type`);
      return String(type.getFields()[fieldName].type);
    };
    expect(fieldType('PipelineDeclarationInput', 'name')).toBe('String!');
    expect(fieldType('PipelineDeclarationInput', 'stages')).toBe('[StageDeclarationInput!]!');
    expect(fieldType('PipelineDeclarationInput', 'version')).toBe('Int');
    expect(fieldType('PipelineDeclarationInput', 'executionMode')).toBe('String');
    expect(fieldType('PipelineDeclarationInput', 'pipelineType')).toBe('String');
    expect(fieldType('ActionTypeIdInput', 'category')).toBe('String!');
    expect(fieldType('ActionTypeIdInput', 'owner')).toBe('String!');
    expect(fieldType('ActionDeclarationInput', 'configuration')).toBe('JSONObject');
    expect(fieldType('ActionDeclarationInput', 'runOrder')).toBe('Int');
    expect(fieldType('FailureConditionsInput', 'result')).toBe('String!');
  });

  it('lets wrong enum values through to the validator, which reports them all', async () => {
    const declaration = loadFixture('minimal');
    Object.assign(declaration, { executionMode: 'FIFO', pipelineType: 'V9' });
    Object.assign(declaration.stages[1].actions[0].actionTypeId, { category: 'build', owner: 'aws' });
    const received = await sendThroughGraphql(declaration);
    expect(problemsOf(received).map((problem) => problem.path)).toEqual([
      'stages[1](Build).actions[0](Build).actionTypeId.category',
      'stages[1](Build).actions[0](Build).actionTypeId.owner',
      'executionMode',
      'pipelineType',
    ]);
  });
});

describe('declarationFromInput', () => {
  it('turns class instances into plain JSON without the fields left out, keeping nulls', () => {
    const actionTypeId = Object.assign(new ActionTypeIdInput(), {
      category: 'Build',
      owner: 'Sluice',
      provider: 'Shell',
      version: '1',
    });
    const action = Object.assign(new ActionDeclarationInput(), {
      name: 'Build',
      actionTypeId,
      configuration: { Commands: 'true' },
      namespace: undefined,
      roleArn: null,
    });
    const stage = Object.assign(new StageDeclarationInput(), { name: 'Build', actions: [action] });
    const input = Object.assign(new PipelineDeclarationInput(), {
      name: 'p',
      stages: [stage],
      version: undefined,
    });

    const plain = declarationFromInput(input);
    expect(plain).toStrictEqual({
      name: 'p',
      stages: [
        {
          name: 'Build',
          actions: [
            {
              name: 'Build',
              actionTypeId: { category: 'Build', owner: 'Sluice', provider: 'Shell', version: '1' },
              configuration: { Commands: 'true' },
              roleArn: null,
            },
          ],
        },
      ],
    });
  });
});
