import { describe, expect, it } from 'vitest';
import { BadInputError, LimitExceededError } from '../../../src/platform/errors';
import { customActionTypeDefinition } from '../../../src/pipelines/declaration/action-types';
import type { PipelineDeclaration, StageDeclaration } from '../../../src/pipelines/declaration/declaration';
import {
  defaultPipelineLimits,
  validateDeclaration,
  type ValidateDeclarationOptions,
} from '../../../src/pipelines/declaration/validate-declaration';
import {
  buildAction,
  fixtureNames,
  limitErrorOf,
  loadFixture,
  options,
  problemsOf,
  set,
  type FixtureName,
} from './declaration-fixtures';

const source = 'stages[0](Source).actions[0](Checkout)';
const build = 'stages[1](Build).actions[0](Build)';
const compile = 'stages[1](Build).actions[0](Compile)';
const approval = 'stages[2](Approve).actions[0](ReleaseApproval)';
const publish = 'stages[3](Deploy).actions[0](Publish)';

describe('validateDeclaration on the fixtures', () => {
  it.each(fixtureNames)('accepts %s and normalizes it idempotently', (name) => {
    const normalized = validateDeclaration(loadFixture(name), options({ accountId: '123456789012' }));
    const again = validateDeclaration(structuredClone(normalized), options());
    expect(again).toEqual(normalized);
    // Stable key order too, so stored JSON compares byte for byte.
    expect(JSON.stringify(again)).toBe(JSON.stringify(normalized));
  });

  it('fills the defaults and keeps keys in a fixed order', () => {
    const normalized = validateDeclaration(loadFixture('minimal'), options());
    expect(Object.keys(normalized)).toEqual([
      'name',
      'stages',
      'version',
      'executionMode',
      'pipelineType',
      'variables',
      'triggers',
    ]);
    expect(normalized).toMatchObject({
      version: null,
      executionMode: 'SUPERSEDED',
      pipelineType: 'V2',
      variables: [],
      triggers: [],
    });
    expect(normalized.stages[0].actions[0]).toEqual({
      name: 'Checkout',
      actionTypeId: { category: 'Source', owner: 'Sluice', provider: 'Git', version: '1' },
      runOrder: 1,
      configuration: { RepositoryUrl: '/srv/git/app.git', BranchName: 'main' },
      inputArtifacts: [],
      outputArtifacts: [{ name: 'SourceOutput' }],
    });
    // timeoutInMinutes stays absent: the action type's default applies when it runs.
    expect(normalized.stages[1].actions[0]).not.toHaveProperty('timeoutInMinutes');
  });

  it('orders every optional key the same way whatever the input order', () => {
    const fixture = loadFixture('all-features');
    const reversed = Object.fromEntries(Object.entries(fixture).reverse());
    const normalized = validateDeclaration(reversed, options());
    expect(Object.keys(normalized)).toEqual([
      'name',
      'roleArn',
      'artifactStore',
      'stages',
      'version',
      'executionMode',
      'pipelineType',
      'variables',
      'triggers',
    ]);
    expect(JSON.stringify(normalized)).toBe(JSON.stringify(validateDeclaration(fixture, options())));
  });

  it('reads nulls, as GraphQL sends them for optional fields, as absent', () => {
    const fixture = loadFixture('minimal');
    Object.assign(fixture, { roleArn: null, artifactStore: null, executionMode: null, variables: null });
    Object.assign(fixture.stages[1], { onFailure: null });
    Object.assign(fixture.stages[1].actions[0], { namespace: null, timeoutInMinutes: null, region: null });
    expect(validateDeclaration(fixture, options())).toEqual(
      validateDeclaration(loadFixture('minimal'), options()),
    );
  });

  it("accepts an action's roleArn of another account, and an Invoke/Pipeline of that account", () => {
    const fixture = loadFixture('minimal');
    fixture.stages[1].actions.push(
      buildAction('Release', {
        actionTypeId: { category: 'Invoke', owner: 'Sluice', provider: 'Pipeline', version: '1' },
        configuration: { PipelineName: 'arn:sluice:codepipeline:local:999999999999:theirs' },
        inputArtifacts: [],
        outputArtifacts: [],
        roleArn: 'arn:sluice:iam::999999999999:role/starter',
      }),
    );
    const normalized = validateDeclaration(fixture, options({ accountId: '123456789012' }));
    expect(normalized.stages[1].actions[1].roleArn).toBe('arn:sluice:iam::999999999999:role/starter');
  });

  it('accepts an account’s custom action types', () => {
    const fixture = loadFixture('minimal');
    fixture.stages[1].actions.push(
      buildAction('Scan', {
        actionTypeId: { category: 'Test', owner: 'Custom', provider: 'SecurityScan', version: '2' },
        configuration: { Profile: 'strict' },
      }),
    );
    const scan = customActionTypeDefinition({
      category: 'Test',
      provider: 'SecurityScan',
      version: '2',
      configurationProperties: [
        { name: 'Profile', required: true, key: true, secret: false, queryable: true, type: 'String' },
      ],
      inputArtifactDetails: { minimumCount: 1, maximumCount: 1 },
      outputArtifactDetails: { minimumCount: 0, maximumCount: 0 },
    });
    expect(() => validateDeclaration(fixture, options())).toThrow(
      /unknown action type Test\/Custom\/SecurityScan\/2/,
    );
    expect(
      validateDeclaration(fixture, options({ customActionTypes: [scan] })).stages[1].actions,
    ).toHaveLength(2);
  });
});

describe('validateDeclaration reports every problem at once', () => {
  it('lists all problems of a declaration with many, each with its path', () => {
    const fixture = loadFixture('git-build-approve-deploy');
    fixture.name = 'web app';
    fixture.executionMode = 'SOMETIMES' as PipelineDeclaration['executionMode'];
    fixture.stages[1].actions[0].runOrder = 0;
    fixture.stages[1].actions[0].inputArtifacts = [{ name: 'Nowhere' }];
    fixture.stages[1].actions[0].configuration.Colour = 'blue';
    fixture.stages[2].name = 'Build';
    fixture.stages[2].actions[0].timeoutInMinutes = 2;
    fixture.stages[3].actions[0].configuration.TargetDirectory = '/srv/#{BuildVariable.Version}';
    fixture.stages[3].actions[0].actionTypeId.provider = 'Rsync';
    set(fixture, 'metadata', { created: 'yesterday' });
    fixture.variables = [{ name: 'bad name' }];

    const error = (() => {
      try {
        validateDeclaration(fixture, options());
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(BadInputError);
    const { problems, code, details } = error as BadInputError;
    expect(code).toBe('BAD_USER_INPUT');
    expect(details).toEqual({ problems });
    // Unknown fields first (each object is checked for them as it is read), then document order,
    // then the rules that span actions.
    expect(problems).toEqual([
      { path: 'metadata', message: 'is not a field of a pipeline declaration' },
      { path: 'name', message: expect.stringContaining('1–100 characters') },
      { path: `${compile}.runOrder`, message: 'must be an integer from 1 to 999' },
      {
        path: `${compile}.configuration.Colour`,
        message: expect.stringContaining('not a configuration key'),
      },
      { path: 'stages[2](Build).name', message: 'duplicates the stage name of stages[1](Build)' },
      {
        path: 'stages[2](Build).actions[0](ReleaseApproval).timeoutInMinutes',
        message: 'must be within 5–86400 minutes for Approval/Sluice/Manual/1',
      },
      { path: `${publish}.actionTypeId`, message: 'unknown action type Deploy/Sluice/Rsync/1' },
      { path: 'executionMode', message: 'must be one of SUPERSEDED, QUEUED, PARALLEL, not "SOMETIMES"' },
      { path: 'variables[0](bad name).name', message: expect.stringContaining('1–128 characters') },
      {
        path: `${compile}.inputArtifacts[0](Nowhere).name`,
        message: 'no action outputs an artifact named Nowhere',
      },
      {
        path: `${publish}.configuration.TargetDirectory`,
        message: '#{BuildVariable.Version}: no action declares the namespace BuildVariable',
      },
    ]);
    // The message carries them all too, for clients that show only the message.
    expect((error as BadInputError).message).toMatch(
      /^Pipeline declaration is invalid: metadata: .*; name: .*; executionMode: /,
    );
  });

  it('rejects what is not a declaration at all', () => {
    expect(problemsOf('pipeline')).toEqual([
      { path: '', message: 'a pipeline declaration must be a JSON object' },
    ]);
    expect(problemsOf({})).toEqual([
      { path: 'name', message: 'is required' },
      { path: 'stages', message: 'is required' },
    ]);
  });
});

type Change = (declaration: PipelineDeclaration) => void;

interface RuleCase {
  rule: string;
  fixture?: FixtureName;
  change: Change;
  /** The exact problems, as [path, message fragment]. */
  problems: [string, string][];
  options?: Partial<ValidateDeclarationOptions>;
}

function stage(declaration: PipelineDeclaration, index: number): StageDeclaration {
  return declaration.stages[index];
}

const ruleCases: RuleCase[] = [
  // --- names
  {
    rule: 'pipeline name charset',
    change: (d) => (d.name = 'my/pipeline'),
    problems: [['name', 'must be 1–100 characters of letters, digits and . @ - _']],
  },
  { rule: 'pipeline name length', change: (d) => (d.name = 'p'.repeat(101)), problems: [['name', '1–100']] },
  { rule: 'pipeline name required', change: (d) => set(d, 'name', ''), problems: [['name', '1–100']] },
  {
    rule: 'stage name charset',
    change: (d) => (stage(d, 1).name = 'Build it'),
    problems: [['stages[1](Build it).name', '1–100 characters']],
  },
  {
    rule: 'action name charset',
    change: (d) => (stage(d, 1).actions[0].name = 'Build#1'),
    problems: [['stages[1](Build).actions[0](Build#1).name', '1–100 characters']],
  },
  {
    rule: 'unique stage names',
    change: (d) => (stage(d, 1).name = 'Source'),
    problems: [['stages[1](Source).name', 'duplicates the stage name of stages[0](Source)']],
  },
  {
    rule: 'unique action names within a stage',
    change: (d) => stage(d, 1).actions.push(buildAction('Build', { runOrder: 2 })),
    problems: [
      [
        'stages[1](Build).actions[1](Build).name',
        'duplicates the action name of stages[1](Build).actions[0](Build)',
      ],
    ],
  },
  // --- stage and action structure
  {
    rule: 'at least 2 stages',
    change: (d) => d.stages.pop(),
    problems: [['stages', 'a pipeline needs at least 2 stages, not 1']],
  },
  {
    rule: 'at least 1 action per stage',
    change: (d) => (stage(d, 1).actions = []),
    problems: [['stages[1](Build).actions', 'a stage needs at least one action']],
  },
  {
    rule: 'first stage holds only Source actions',
    change: (d) => stage(d, 0).actions.push(buildAction('Lint', { inputArtifacts: [] })),
    problems: [
      [
        'stages[0](Source).actions[1](Lint).actionTypeId.category',
        'the first stage may contain only Source actions',
      ],
      [
        'stages[0](Source).actions[1](Lint).inputArtifacts',
        'Build/Sluice/Shell/1 takes 1 to 5 input artifact(s), not 0',
      ],
    ],
  },
  {
    rule: 'Source actions only in the first stage',
    change: (d) =>
      stage(d, 1).actions.push({
        ...structuredClone(stage(d, 0).actions[0]),
        outputArtifacts: [{ name: 'More' }],
      }),
    problems: [
      [
        'stages[1](Build).actions[1](Checkout).actionTypeId.category',
        'Source actions may appear only in the first stage',
      ],
    ],
  },
  {
    rule: 'runOrder below 1',
    change: (d) => (stage(d, 1).actions[0].runOrder = 0),
    problems: [[`${build}.runOrder`, 'must be an integer from 1 to 999']],
  },
  {
    rule: 'runOrder above 999',
    change: (d) => (stage(d, 1).actions[0].runOrder = 1000),
    problems: [[`${build}.runOrder`, 'from 1 to 999']],
  },
  {
    rule: 'runOrder not an integer',
    change: (d) => set(stage(d, 1).actions[0], 'runOrder', 1.5),
    problems: [[`${build}.runOrder`, 'from 1 to 999']],
  },
  {
    rule: 'runOrder given as a string',
    change: (d) => set(stage(d, 1).actions[0], 'runOrder', '2'),
    problems: [[`${build}.runOrder`, 'from 1 to 999']],
  },
  // --- artifacts
  {
    rule: 'input artifact that nothing produces',
    change: (d) => (stage(d, 1).actions[0].inputArtifacts = [{ name: 'Missing' }]),
    problems: [[`${build}.inputArtifacts[0](Missing).name`, 'no action outputs an artifact named Missing']],
  },
  {
    rule: 'input artifact produced by a later stage',
    fixture: 'git-build-approve-deploy',
    change: (d) => {
      stage(d, 2).actions[0].actionTypeId = {
        category: 'Test',
        owner: 'Sluice',
        provider: 'Shell',
        version: '1',
      };
      stage(d, 2).actions[0].configuration = { Commands: 'true' };
      stage(d, 2).actions[0].inputArtifacts = [{ name: 'Deployed' }];
      delete stage(d, 2).actions[0].timeoutInMinutes;
      stage(d, 3).actions[0].outputArtifacts = [{ name: 'Deployed' }];
    },
    problems: [
      [`${publish}.outputArtifacts`, 'Deploy/Sluice/Directory/1 takes exactly 0 output artifact(s), not 1'],
      [
        `${approval}.inputArtifacts[0](Deployed).name`,
        `Deployed comes from ${publish}, which does not run before this action`,
      ],
    ],
  },
  {
    rule: 'input artifact produced at the same runOrder',
    change: (d) => {
      stage(d, 1).actions[0].outputArtifacts = [{ name: 'Binary' }];
      stage(d, 1).actions.push(buildAction('Package', { inputArtifacts: [{ name: 'Binary' }] }));
    },
    problems: [
      [
        'stages[1](Build).actions[1](Package).inputArtifacts[0](Binary).name',
        `Binary comes from ${build}, which does not run before this action`,
      ],
    ],
  },
  {
    rule: 'output artifact names unique across the pipeline',
    change: (d) => (stage(d, 1).actions[0].outputArtifacts = [{ name: 'SourceOutput' }]),
    problems: [
      [`${build}.outputArtifacts[0](SourceOutput).name`, `SourceOutput is already an output of ${source}`],
    ],
  },
  {
    rule: 'artifact name charset',
    change: (d) => (stage(d, 1).actions[0].outputArtifacts = [{ name: 'build output' }]),
    problems: [
      [`${build}.outputArtifacts[0](build output).name`, '1–100 characters of letters, digits, _ and -'],
    ],
  },
  {
    rule: 'artifact name length',
    change: (d) => (stage(d, 1).actions[0].outputArtifacts = [{ name: 'a'.repeat(101) }]),
    problems: [[`${build}.outputArtifacts[0](${'a'.repeat(100)}…).name`, '1–100 characters']],
  },
  {
    rule: 'the same input twice',
    change: (d) => stage(d, 1).actions[0].inputArtifacts.push({ name: 'SourceOutput' }),
    problems: [
      [`${build}.inputArtifacts[1](SourceOutput).name`, 'the action already takes SourceOutput as input'],
    ],
  },
  {
    rule: 'input artifact count of the action type',
    change: (d) => (stage(d, 1).actions[0].inputArtifacts = []),
    problems: [[`${build}.inputArtifacts`, 'Build/Sluice/Shell/1 takes 1 to 5 input artifact(s), not 0']],
  },
  {
    rule: 'output artifact count of the action type',
    change: (d) => (stage(d, 0).actions[0].outputArtifacts = []),
    problems: [
      [`${source}.outputArtifacts`, 'Source/Sluice/Git/1 takes exactly 1 output artifact(s), not 0'],
      [`${build}.inputArtifacts[0](SourceOutput).name`, 'no action outputs an artifact named SourceOutput'],
    ],
  },
  // --- action types and configuration
  {
    rule: 'unknown action type',
    change: (d) => (stage(d, 1).actions[0].actionTypeId.version = '2'),
    problems: [[`${build}.actionTypeId`, 'unknown action type Build/Sluice/Shell/2']],
  },
  {
    rule: 'AWS action types point to Sluice’s own',
    change: (d) =>
      (stage(d, 1).actions[0].actionTypeId = {
        category: 'Build',
        owner: 'AWS',
        provider: 'CodeBuild',
        version: '1',
      }),
    problems: [
      [`${build}.actionTypeId`, 'unknown action type Build/AWS/CodeBuild/1: Sluice runs its own providers'],
    ],
  },
  {
    rule: 'category among CodePipeline’s',
    change: (d) => set(stage(d, 1).actions[0].actionTypeId, 'category', 'build'),
    problems: [
      [
        `${build}.actionTypeId.category`,
        'must be one of Source, Build, Test, Deploy, Approval, Invoke, Compute, not "build"',
      ],
    ],
  },
  {
    rule: 'owner among CodePipeline’s',
    change: (d) => set(stage(d, 1).actions[0].actionTypeId, 'owner', 'Me'),
    problems: [[`${build}.actionTypeId.owner`, 'must be one of AWS, Sluice, Custom, ThirdParty']],
  },
  {
    rule: 'unknown configuration key',
    change: (d) => (stage(d, 1).actions[0].configuration.ProjectName = 'web'),
    problems: [
      [
        `${build}.configuration.ProjectName`,
        'is not a configuration key of Build/Sluice/Shell/1 (allowed: BuildSpec, Commands, PrimarySource, EnvironmentVariables)',
      ],
    ],
  },
  {
    rule: 'missing required configuration key',
    change: (d) => delete stage(d, 0).actions[0].configuration.BranchName,
    problems: [[`${source}.configuration.BranchName`, 'is required by Source/Sluice/Git/1']],
  },
  {
    rule: 'empty required configuration value',
    change: (d) => (stage(d, 0).actions[0].configuration.RepositoryUrl = ''),
    problems: [[`${source}.configuration.RepositoryUrl`, 'is required by Source/Sluice/Git/1']],
  },
  {
    rule: 'configuration values are strings',
    fixture: 'git-build-approve-deploy',
    change: (d) => set(stage(d, 3).actions[0].configuration, 'KeepReleases', 5),
    problems: [[`${publish}.configuration.KeepReleases`, 'must be a string']],
  },
  {
    rule: 'configuration is an object',
    change: (d) => set(stage(d, 1).actions[0], 'configuration', ['Commands=true']),
    problems: [[`${build}.configuration`, 'must be a JSON object of string values']],
  },
  {
    rule: 'Boolean configuration properties',
    change: (d) => (stage(d, 0).actions[0].configuration.DetectChanges = 'no'),
    problems: [[`${source}.configuration.DetectChanges`, 'must be true or false']],
  },
  {
    rule: 'Number configuration properties',
    fixture: 'git-build-approve-deploy',
    change: (d) => (stage(d, 3).actions[0].configuration.KeepReleases = 'five'),
    problems: [
      [`${publish}.configuration.KeepReleases`, 'must be a number'],
      [`${publish}.configuration.KeepReleases`, 'must be a whole number from 1 to 100'],
    ],
  },
  // --- namespaces and variable references
  {
    rule: 'namespace charset',
    change: (d) => (stage(d, 1).actions[0].namespace = 'Build.Vars'),
    problems: [[`${build}.namespace`, '1–100 characters of letters, digits and @ - _']],
  },
  {
    rule: 'namespace unique across the pipeline',
    fixture: 'git-build-approve-deploy',
    change: (d) => (stage(d, 3).actions[0].namespace = 'SourceVariables'),
    problems: [[`${publish}.namespace`, `SourceVariables is already the namespace of ${source}`]],
  },
  {
    rule: 'namespace variables is reserved',
    change: (d) => (stage(d, 1).actions[0].namespace = 'variables'),
    problems: [[`${build}.namespace`, '"variables" is reserved']],
  },
  {
    rule: 'namespace codepipeline is reserved',
    change: (d) => (stage(d, 1).actions[0].namespace = 'CodePipeline'),
    problems: [[`${build}.namespace`, '"CodePipeline" is reserved']],
  },
  {
    rule: 'reference to an undeclared namespace',
    change: (d) => (stage(d, 1).actions[0].configuration.Commands = 'echo #{Nobody.Key}'),
    problems: [[`${build}.configuration.Commands`, '#{Nobody.Key}: no action declares the namespace Nobody']],
  },
  {
    rule: 'reference to a namespace of an action that runs later',
    fixture: 'git-build-approve-deploy',
    change: (d) => {
      stage(d, 1).actions[0].configuration.BuildSpec = 'version: 0.2 # #{Deployed.Path}';
      stage(d, 3).actions[0].namespace = 'Deployed';
    },
    problems: [
      [
        `${compile}.configuration.BuildSpec`,
        `#{Deployed.Path}: Deployed belongs to ${publish}, which does not run before this action`,
      ],
    ],
  },
  {
    rule: 'reference to a namespace of the same runOrder',
    change: (d) => {
      stage(d, 1).actions[0].namespace = 'First';
      stage(d, 1).actions.push(buildAction('Second', { configuration: { Commands: 'echo #{First.Value}' } }));
    },
    problems: [
      [
        'stages[1](Build).actions[1](Second).configuration.Commands',
        `#{First.Value}: First belongs to ${build}, which does not run before this action`,
      ],
    ],
  },
  {
    rule: 'reference to a variable the source type does not output',
    fixture: 'git-build-approve-deploy',
    change: (d) => (stage(d, 2).actions[0].configuration.CustomData = 'Ship #{SourceVariables.Tag}?'),
    problems: [
      [
        `${approval}.configuration.CustomData`,
        '#{SourceVariables.Tag}: Source/Sluice/Git/1 outputs no variable Tag (it outputs CommitId, BranchName, CommitMessage, AuthorDate)',
      ],
    ],
  },
  {
    rule: 'reference to an undeclared pipeline variable',
    change: (d) => (stage(d, 1).actions[0].configuration.Commands = 'deploy #{variables.Target}'),
    problems: [
      [`${build}.configuration.Commands`, '#{variables.Target}: the pipeline declares no variable Target'],
    ],
  },
  {
    rule: 'codepipeline offers only PipelineExecutionId',
    change: (d) => (stage(d, 1).actions[0].configuration.Commands = 'echo #{codepipeline.PipelineName}'),
    problems: [
      [
        `${build}.configuration.Commands`,
        '#{codepipeline.PipelineName}: codepipeline offers only PipelineExecutionId',
      ],
    ],
  },
  {
    rule: 'malformed reference',
    change: (d) => (stage(d, 1).actions[0].configuration.Commands = 'ruby -e \'puts "#{name}"\''),
    problems: [
      [`${build}.configuration.Commands`, '#{name}: is not a variable reference; write #{Namespace.Key}'],
    ],
  },
  // --- pipeline variables
  {
    rule: 'variable name charset',
    change: (d) => (d.variables = [{ name: 'Deploy.Root' }]),
    problems: [['variables[0](Deploy.Root).name', '1–128 characters of letters, digits and @ - _']],
  },
  {
    rule: 'variable name length',
    change: (d) => (d.variables = [{ name: 'v'.repeat(129) }]),
    problems: [[`variables[0](${'v'.repeat(100)}…).name`, '1–128 characters']],
  },
  {
    rule: 'unique variable names',
    change: (d) => (d.variables = [{ name: 'Stage' }, { name: 'Stage', defaultValue: 'prod' }]),
    problems: [['variables[1](Stage).name', 'duplicates the variable at variables[0](Stage)']],
  },
  {
    rule: 'variable default value length',
    change: (d) => (d.variables = [{ name: 'Notes', defaultValue: 'x'.repeat(1001) }]),
    problems: [['variables[0](Notes).defaultValue', 'must be at most 1000 characters']],
  },
  {
    rule: 'variable description length',
    change: (d) => (d.variables = [{ name: 'Notes', description: 'x'.repeat(201) }]),
    problems: [['variables[0](Notes).description', 'must be at most 200 characters']],
  },
  {
    rule: 'action type id required',
    change: (d) => set(stage(d, 1).actions[0], 'actionTypeId', null),
    problems: [[`${build}.actionTypeId`, 'is required']],
  },
  // --- execution mode, pipeline type, failure conditions
  {
    rule: 'executionMode among the allowed',
    change: (d) => set(d, 'executionMode', 'superseded'),
    problems: [['executionMode', 'must be one of SUPERSEDED, QUEUED, PARALLEL, not "superseded"']],
  },
  {
    rule: 'pipelineType among the allowed',
    change: (d) => set(d, 'pipelineType', 'V3'),
    problems: [['pipelineType', 'must be one of V1, V2, not "V3"']],
  },
  {
    rule: 'onFailure.result among the allowed',
    change: (d) => set(stage(d, 1), 'onFailure', { result: 'IGNORE' }),
    problems: [['stages[1](Build).onFailure.result', 'must be one of ROLLBACK, FAIL, RETRY, not "IGNORE"']],
  },
  {
    rule: 'no rollback in PARALLEL mode',
    change: (d) => {
      d.executionMode = 'PARALLEL';
      stage(d, 1).onFailure = { result: 'ROLLBACK' };
    },
    problems: [['stages[1](Build).onFailure.result', 'PARALLEL pipelines can’t roll back']],
  },
  {
    rule: 'no rollback of the source stage',
    change: (d) => (stage(d, 0).onFailure = { result: 'ROLLBACK' }),
    problems: [['stages[0](Source).onFailure.result', 'the source stage can’t roll back']],
  },
  {
    rule: 'retryConfiguration only with RETRY',
    change: (d) =>
      (stage(d, 1).onFailure = { result: 'FAIL', retryConfiguration: { retryMode: 'ALL_ACTIONS' } }),
    problems: [['stages[1](Build).onFailure.retryConfiguration', 'applies only with result RETRY']],
  },
  {
    rule: 'retryMode among the allowed',
    change: (d) =>
      set(stage(d, 1), 'onFailure', { result: 'RETRY', retryConfiguration: { retryMode: 'SOME' } }),
    problems: [
      [
        'stages[1](Build).onFailure.retryConfiguration.retryMode',
        'must be one of ALL_ACTIONS, FAILED_ACTIONS',
      ],
    ],
  },
  {
    rule: 'V2 features on a V1 pipeline',
    change: (d) => {
      d.pipelineType = 'V1';
      d.executionMode = 'QUEUED';
      d.variables = [{ name: 'Stage' }];
      stage(d, 1).onFailure = { result: 'RETRY' };
    },
    problems: [
      ['executionMode', 'QUEUED needs pipelineType V2'],
      ['variables', 'pipeline variables needs pipelineType V2'],
      ['stages[1](Build).onFailure', 'onFailure needs pipelineType V2'],
    ],
  },
  // --- timeouts
  {
    rule: 'timeout below the type’s minimum',
    fixture: 'git-build-approve-deploy',
    change: (d) => (stage(d, 2).actions[0].timeoutInMinutes = 4),
    problems: [
      [`${approval}.timeoutInMinutes`, 'must be within 5–86400 minutes for Approval/Sluice/Manual/1'],
    ],
  },
  {
    rule: 'timeout not a positive integer',
    change: (d) => (stage(d, 1).actions[0].timeoutInMinutes = 0),
    problems: [[`${build}.timeoutInMinutes`, 'must be a positive integer']],
  },
  // --- triggers
  {
    rule: 'trigger on an action that is not in the first stage',
    change: (d) => (d.triggers = [gitTrigger('Build')]),
    problems: [['triggers[0].gitConfiguration.sourceActionName', 'names no action of the first stage']],
  },
  {
    rule: 'trigger on a source without Git events',
    fixture: 'all-features',
    change: (d) => d.triggers.push(gitTrigger('Assets')),
    problems: [
      ['triggers[1].gitConfiguration.sourceActionName', 'Source/Sluice/Archive/1 actions have no Git events'],
    ],
  },
  {
    rule: 'one trigger per source action',
    fixture: 'all-features',
    change: (d) => d.triggers.push(gitTrigger('App')),
    problems: [
      [
        'triggers[1].gitConfiguration.sourceActionName',
        'App already has a trigger (triggers[0].gitConfiguration)',
      ],
    ],
  },
  {
    rule: 'trigger providerType',
    change: (d) =>
      addTrigger(d, { ...gitTrigger('Checkout'), providerType: 'GitHub' as 'CodeStarSourceConnection' }),
    problems: [['triggers[0].providerType', 'must be one of CodeStarSourceConnection, not "GitHub"']],
  },
  {
    rule: 'trigger without filters',
    change: (d) =>
      addTrigger(d, {
        providerType: 'CodeStarSourceConnection',
        gitConfiguration: { sourceActionName: 'Checkout' },
      }),
    problems: [['triggers[0].gitConfiguration', 'needs a push or pullRequest filter']],
  },
  {
    rule: 'push filter on tags and branches',
    change: (d) => {
      const trigger = gitTrigger('Checkout');
      trigger.gitConfiguration.push = [{ tags: { includes: ['v*'] }, branches: { includes: ['main'] } }];
      addTrigger(d, trigger);
    },
    problems: [
      [
        'triggers[0].gitConfiguration.push[0].tags',
        'a push filter on tags can’t also filter branches or file paths',
      ],
    ],
  },
  {
    rule: 'push filter with file paths only',
    change: (d) => {
      const trigger = gitTrigger('Checkout');
      trigger.gitConfiguration.push = [{ filePaths: { includes: ['src/**'] } }];
      addTrigger(d, trigger);
    },
    problems: [['triggers[0].gitConfiguration.push[0]', 'a push filter needs tags or branches']],
  },
  {
    rule: 'filter criteria without patterns',
    change: (d) => {
      const trigger = gitTrigger('Checkout');
      trigger.gitConfiguration.push = [{ branches: { includes: [], excludes: null } }];
      addTrigger(d, trigger);
    },
    problems: [['triggers[0].gitConfiguration.push[0].branches', 'needs includes or excludes']],
  },
  {
    rule: 'at most 8 patterns',
    change: (d) => {
      const trigger = gitTrigger('Checkout');
      trigger.gitConfiguration.push = [
        { branches: { includes: Array.from({ length: 9 }, (_, i) => `b${i}`) } },
      ];
      addTrigger(d, trigger);
    },
    problems: [['triggers[0].gitConfiguration.push[0].branches.includes', 'at most 8 patterns']],
  },
  {
    rule: 'at most 3 push filters',
    change: (d) => {
      const trigger = gitTrigger('Checkout');
      trigger.gitConfiguration.push = ['a', 'b', 'c', 'd'].map((branch) => ({
        branches: { includes: [branch] },
      }));
      addTrigger(d, trigger);
    },
    problems: [['triggers[0].gitConfiguration.push', 'at most 3 filters']],
  },
  {
    rule: 'pull request filter needs branches and known events',
    change: (d) => {
      const trigger = gitTrigger('Checkout');
      set(trigger.gitConfiguration, 'pullRequest', [{ events: ['OPEN', 'MERGED', 'OPEN'] }]);
      addTrigger(d, trigger);
    },
    problems: [
      ['triggers[0].gitConfiguration.pullRequest[0].events[1]', 'must be one of OPEN, UPDATED, CLOSED'],
      ['triggers[0].gitConfiguration.pullRequest[0].events[2]', 'OPEN is listed twice'],
      ['triggers[0].gitConfiguration.pullRequest[0].branches', 'a pull request filter needs branches'],
    ],
  },
  // --- other pipeline fields
  {
    rule: 'version a positive integer',
    change: (d) => (d.version = 0),
    problems: [['version', 'must be a positive integer']],
  },
  {
    rule: 'roleArn shape',
    change: (d) => (d.roleArn = 'arn:aws:iam::123456789012:role/Pipeline'),
    problems: [['roleArn', 'must be a role ARN, arn:sluice:iam::<account>:role/<name>']],
  },
  {
    // The pipeline's own role only: an action's may be of any account (see the test above).
    rule: 'pipeline roleArn of another account',
    options: { accountId: '123456789012' },
    change: (d) => (d.roleArn = 'arn:sluice:iam::999999999999:role/pipeline'),
    problems: [['roleArn', 'must be a role of account 123456789012']],
  },
  {
    rule: 'Invoke/Pipeline of another account without a role there',
    options: { accountId: '123456789012' },
    change: (d) =>
      stage(d, 1).actions.push(
        buildAction('Next', {
          actionTypeId: { category: 'Invoke', owner: 'Sluice', provider: 'Pipeline', version: '1' },
          configuration: { PipelineName: 'arn:sluice:codepipeline:local:999999999999:theirs' },
          inputArtifacts: [],
          outputArtifacts: [],
          roleArn: 'arn:sluice:iam::888888888888:role/starter',
        }),
      ),
    problems: [
      [
        'stages[1](Build).actions[1](Next).configuration.PipelineName',
        "must be a pipeline of this account: a pipeline starts another account's pipeline only through a role of that account in the action's roleArn",
      ],
    ],
  },
  {
    rule: 'no cross-region actions',
    change: (d) => set(stage(d, 1).actions[0], 'region', 'eu-west-1'),
    problems: [[`${build}.region`, 'cross-region actions are not supported']],
  },
  {
    rule: 'artifact store type',
    change: (d) => set(d, 'artifactStore', { type: 'GCS', location: 'bucket' }),
    problems: [['artifactStore.type', 'must be one of S3, Local, not "GCS"']],
  },
  {
    rule: 'unknown fields',
    change: (d) => {
      set(stage(d, 1), 'blockers', []);
      set(stage(d, 1).actions[0], 'commands', ['true']);
    },
    problems: [
      ['stages[1](Build).actions[0](Build).commands', 'is not a field of an action declaration'],
      ['stages[1](Build).blockers', 'is not a field of a stage declaration'],
    ],
  },
  {
    rule: 'mistyped structure',
    change: (d) => {
      set(d, 'variables', { Stage: 'prod' });
      set(stage(d, 1).actions, '0', 'Build');
    },
    problems: [
      ['stages[1](Build).actions[0]', 'must be an object'],
      ['variables', 'must be a list'],
    ],
  },
];

/** Fixtures may leave `triggers` out, as a user may. */
function addTrigger(
  declaration: PipelineDeclaration,
  trigger: PipelineDeclaration['triggers'][number],
): void {
  declaration.triggers = [...(declaration.triggers ?? []), trigger];
}

function gitTrigger(sourceActionName: string): PipelineDeclaration['triggers'][number] {
  return {
    providerType: 'CodeStarSourceConnection',
    gitConfiguration: { sourceActionName, push: [{ branches: { includes: ['main'] } }] },
  };
}

describe('validateDeclaration rules', () => {
  it.each(ruleCases)('$rule', ({ fixture, change, problems, options: overrides }) => {
    const declaration = loadFixture(fixture ?? 'minimal');
    change(declaration);
    const reported = problemsOf(declaration, overrides);
    const byPath = (a: { path: string }, b: { path: string }) =>
      a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
    expect([...reported].sort(byPath)).toEqual(
      problems.map(([path, fragment]) => ({ path, message: expect.stringContaining(fragment) })).sort(byPath),
    );
  });

  it('lets an input come from a lower runOrder of the same stage, and namespaces too', () => {
    const declaration = loadFixture('minimal');
    stage(declaration, 1).actions[0].outputArtifacts = [{ name: 'Binary' }];
    stage(declaration, 1).actions[0].namespace = 'First';
    stage(declaration, 1).actions.push(
      buildAction('Package', {
        runOrder: 2,
        inputArtifacts: [{ name: 'Binary' }],
        configuration: { Commands: 'echo #{First.Anything} #{codepipeline.PipelineExecutionId}' },
      }),
    );
    expect(() => validateDeclaration(declaration, options())).not.toThrow();
  });

  it('does not guess the order of an action whose runOrder is invalid', () => {
    const declaration = loadFixture('minimal');
    stage(declaration, 1).actions[0].outputArtifacts = [{ name: 'Binary' }];
    stage(declaration, 1).actions.push(
      buildAction('Package', { runOrder: -1, inputArtifacts: [{ name: 'Binary' }] }),
    );
    expect(problemsOf(declaration)).toEqual([
      { path: 'stages[1](Build).actions[1](Package).runOrder', message: 'must be an integer from 1 to 999' },
    ]);
  });
});

describe('validateDeclaration limits', () => {
  function buildStage(name: string, actionCount: number): StageDeclaration {
    return {
      name,
      actions: Array.from({ length: actionCount }, (_, index) => buildAction(`${name}-${index}`)),
    };
  }

  it('rejects more than 50 stages as LIMIT_EXCEEDED stagesPerPipeline', () => {
    const declaration = loadFixture('minimal');
    for (let index = 2; index < 50; index += 1) declaration.stages.push(buildStage(`Stage${index}`, 1));
    expect(() => validateDeclaration(declaration, options())).not.toThrow();
    declaration.stages.push(buildStage('Stage51', 1));
    const error = limitErrorOf(declaration);
    expect(error.code).toBe('LIMIT_EXCEEDED');
    expect(error.limit).toBe('stagesPerPipeline');
    expect(error.details).toEqual({ limit: 'stagesPerPipeline' });
    expect(error.message).toBe(
      'Pipeline declaration exceeds a limit: stages: 51 stages, more than 50 (limit stagesPerPipeline)',
    );
  });

  it('rejects more than 50 actions in a stage as actionsPerStage', () => {
    const declaration = loadFixture('minimal');
    declaration.stages[1] = buildStage('Build', 51);
    expect(limitErrorOf(declaration).limit).toBe('actionsPerStage');
  });

  it('rejects more than 500 actions in a pipeline as actionsPerPipeline', () => {
    const declaration = loadFixture('minimal');
    declaration.stages.splice(
      1,
      1,
      ...Array.from({ length: 10 }, (_, index) => buildStage(`Build${index}`, 50)),
    );
    expect(limitErrorOf(declaration).limit).toBe('actionsPerPipeline');
  });

  it('rejects a configuration value over 1,000 characters as configurationValueLength', () => {
    const declaration = loadFixture('minimal');
    declaration.stages[1].actions[0].configuration.Commands = 'x'.repeat(1000);
    expect(() => validateDeclaration(declaration, options())).not.toThrow();
    declaration.stages[1].actions[0].configuration.Commands = 'x'.repeat(1001);
    const error = limitErrorOf(declaration);
    expect(error.limit).toBe('configurationValueLength');
    expect(error.message).toContain(`${build}.configuration.Commands: 1001 characters, more than 1000`);
  });

  it('rejects more than 50 pipeline variables as variablesPerPipeline', () => {
    const declaration = loadFixture('minimal');
    declaration.variables = Array.from({ length: 51 }, (_, index) => ({ name: `Var${index}` }));
    expect(limitErrorOf(declaration).limit).toBe('variablesPerPipeline');
  });

  it('rejects a timeout above the action type’s maximum as actionTimeoutMinutes', () => {
    const declaration = loadFixture('minimal');
    declaration.stages[1].actions[0].timeoutInMinutes = 480;
    expect(() => validateDeclaration(declaration, options())).not.toThrow();
    declaration.stages[1].actions[0].timeoutInMinutes = 481;
    const error = limitErrorOf(declaration);
    expect(error.limit).toBe('actionTimeoutMinutes');
    expect(error.message).toContain('481 minutes, outside 1–480 minutes for Build/Sluice/Shell/1');
  });

  it('takes the limits from the options', () => {
    const declaration = loadFixture('git-build-approve-deploy');
    expect(
      limitErrorOf(declaration, { limits: { ...defaultPipelineLimits, stagesPerPipeline: 3 } }).limit,
    ).toBe('stagesPerPipeline');
    expect(
      limitErrorOf(declaration, { limits: { ...defaultPipelineLimits, actionsPerPipeline: 3 } }).limit,
    ).toBe('actionsPerPipeline');
  });

  it('names the first limit and lists every exceeded one, ahead of other problems', () => {
    const declaration = loadFixture('minimal');
    declaration.name = 'not valid!';
    declaration.variables = Array.from({ length: 51 }, (_, index) => ({ name: `Var${index}` }));
    declaration.stages[1].actions[0].configuration.Commands = 'x'.repeat(1001);
    const error = limitErrorOf(declaration);
    expect(error).toBeInstanceOf(LimitExceededError);
    expect(error.limit).toBe('configurationValueLength');
    expect(error.message).toContain('(limit configurationValueLength)');
    expect(error.message).toContain('variables: 51 variables, more than 50 (limit variablesPerPipeline)');
  });
});
