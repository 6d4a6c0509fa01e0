import { describe, expect, it } from 'vitest';
import {
  referencesIn,
  resolveConfiguration,
  resolvePipelineVariables,
  type PipelineVariableOverride,
  type UnresolvedReference,
  type VariableScope,
} from '../../../src/engine/model/variables';

const executionId = '5f4c0a1e-8a43-4f0f-9c55-0d4c3c1b2a99';

const scope: VariableScope = {
  pipelineVariables: { Env: 'prod', Region: 'eu', Template: '#{variables.Env}', Empty: '' },
  execution: { pipelineExecutionId: executionId, pipelineName: 'App' },
  namespaces: {
    SourceVariables: { CommitId: 'abc123', BranchName: 'main', CommitMessage: 'fix #{Build.Version}' },
    Build: { Version: '1.2.3' },
  },
};

describe('referencesIn', () => {
  it.each<[string, string, [string, string][]]>([
    ['no reference', 'plain text', []],
    ['a pipeline variable', '#{variables.Env}', [['variables', 'Env']]],
    ['the execution id', 'id-#{codepipeline.PipelineExecutionId}', [['codepipeline', 'PipelineExecutionId']]],
    [
      'several, in order, repeats included',
      '#{Build.Version}/#{variables.Env}/#{Build.Version}',
      [
        ['Build', 'Version'],
        ['variables', 'Env'],
        ['Build', 'Version'],
      ],
    ],
    ['names with @, - and _', '#{my-ns@1.KEY_2}', [['my-ns@1', 'KEY_2']]],
    ['not a reference: no dot', '#{Env}', []],
    ['not a reference: two dots', '#{a.b.c}', []],
    ['not a reference: spaces', '#{ variables.Env }', []],
    ['not a reference: unclosed', '#{variables.Env', []],
    ['not a reference: $ syntax', '${variables.Env}', []],
    ['a reference inside a broken one', '#{#{variables.Env}}', [['variables', 'Env']]],
  ])('%s', (_case, value, expected) => {
    expect(referencesIn(value).map(({ namespace, key }) => [namespace, key])).toEqual(expected);
  });

  it('keeps the reference as written', () => {
    expect(referencesIn('x #{Build.Version} y')).toEqual([
      { namespace: 'Build', key: 'Version', reference: '#{Build.Version}' },
    ]);
  });
});

describe('resolveConfiguration', () => {
  it.each<[string, string, string]>([
    ['a value without references is unchanged', 'echo hello', 'echo hello'],
    ['a lone # or braces stay', 'a # b {c} #d', 'a # b {c} #d'],
    ['a pipeline variable', 'deploy-#{variables.Env}', 'deploy-prod'],
    ['an empty pipeline variable', '[#{variables.Empty}]', '[]'],
    ['the execution id', '#{codepipeline.PipelineExecutionId}', executionId],
    ['an output variable', 'v#{Build.Version}', 'v1.2.3'],
    [
      'several references in one value',
      '#{SourceVariables.BranchName}@#{SourceVariables.CommitId} to #{variables.Region}',
      'main@abc123 to eu',
    ],
    ['the same reference twice', '#{variables.Env}-#{variables.Env}', 'prod-prod'],
    // One pass: a substituted value that holds a reference is kept as it is.
    ['no recursive expansion of a pipeline variable', '#{variables.Template}', '#{variables.Env}'],
    [
      'no recursive expansion of an output variable',
      '#{SourceVariables.CommitMessage}',
      'fix #{Build.Version}',
    ],
    ['a reference around a reference', '#{#{variables.Env}}', '#{prod}'],
  ])('%s', (_case, value, expected) => {
    expect(resolveConfiguration({ Value: value }, scope)).toEqual({ resolved: { Value: expected } });
  });

  it('resolves every key and keeps their order', () => {
    const result = resolveConfiguration(
      { Commands: 'make #{variables.Env}', BranchName: 'main', Url: 'https://x/#{Build.Version}' },
      scope,
    );
    expect(result).toEqual({
      resolved: { Commands: 'make prod', BranchName: 'main', Url: 'https://x/1.2.3' },
    });
    if ('resolved' in result) expect(Object.keys(result.resolved)).toEqual(['Commands', 'BranchName', 'Url']);
  });

  it('resolves an empty configuration', () => {
    expect(resolveConfiguration({}, scope)).toEqual({ resolved: {} });
  });

  it.each<[string, string, string]>([
    [
      'an undeclared pipeline variable',
      '#{variables.Missing}',
      'the execution has no pipeline variable Missing',
    ],
    [
      'codepipeline offers only PipelineExecutionId',
      '#{codepipeline.PipelineName}',
      'the codepipeline namespace offers only PipelineExecutionId',
    ],
    [
      'a namespace no earlier action produced',
      '#{Deploy.Url}',
      'no earlier action of this execution produced the namespace Deploy',
    ],
    [
      'a key the namespace lacks',
      '#{Build.Missing}',
      'the action with namespace Build output no variable Missing',
    ],
    ['a malformed reference', '#{Env}', 'is not a variable reference; write #{Namespace.Key}'],
    // Lookups see own properties only, never Object.prototype's.
    [
      'a prototype name as a variable',
      '#{variables.constructor}',
      'the execution has no pipeline variable constructor',
    ],
    [
      'a prototype name as a namespace',
      '#{toString.x}',
      'no earlier action of this execution produced the namespace toString',
    ],
    [
      'a prototype name as a key',
      '#{Build.hasOwnProperty}',
      'the action with namespace Build output no variable hasOwnProperty',
    ],
  ])('reports %s', (_case, value, message) => {
    expect(resolveConfiguration({ Value: value }, scope)).toEqual({
      unresolved: [{ key: 'Value', reference: value, message }],
    });
  });

  it('reports every unresolvable reference of every key, each distinct one once per key', () => {
    const result = resolveConfiguration(
      {
        A: '#{variables.Env} #{variables.Nope} #{Deploy.Url} #{variables.Nope}',
        B: 'fine #{Build.Version}',
        C: '#{variables.Nope}',
      },
      scope,
    );
    expect(result).toEqual({
      unresolved: [
        { key: 'A', reference: '#{variables.Nope}', message: expect.any(String) },
        { key: 'A', reference: '#{Deploy.Url}', message: expect.any(String) },
        { key: 'C', reference: '#{variables.Nope}', message: expect.any(String) },
      ] satisfies UnresolvedReference[],
    });
  });

  it('does not see the reserved namespaces as action namespaces', () => {
    const shadowing: VariableScope = {
      ...scope,
      namespaces: { variables: { Env: 'shadow' }, codepipeline: { PipelineExecutionId: 'shadow' } },
    };
    expect(
      resolveConfiguration({ A: '#{variables.Env}', B: '#{codepipeline.PipelineExecutionId}' }, shadowing),
    ).toEqual({ resolved: { A: 'prod', B: executionId } });
  });

  it('keeps a configuration key named __proto__ as data', () => {
    const configuration = JSON.parse('{"__proto__": "#{variables.Env}"}') as Record<string, string>;
    const result = resolveConfiguration(configuration, scope);
    expect('resolved' in result && Object.hasOwn(result.resolved, '__proto__')).toBe(true);
    expect('resolved' in result && result.resolved['__proto__']).toBe('prod');
  });
});

describe('resolvePipelineVariables', () => {
  const declared = [
    { name: 'Env', defaultValue: 'dev' },
    { name: 'Region', defaultValue: null },
    { name: 'Flag', defaultValue: '' },
    { name: 'Owner' },
  ];
  const required = { Region: 'eu', Owner: 'me' };
  const overrides = (values: Record<string, string>): PipelineVariableOverride[] =>
    Object.entries(values).map(([name, value]) => ({ name, value }));

  it.each<[string, PipelineVariableOverride[], Record<string, string>]>([
    [
      'defaults apply, required ones come from overrides',
      overrides(required),
      { Env: 'dev', Region: 'eu', Flag: '', Owner: 'me' },
    ],
    [
      'an override wins over a default',
      overrides({ ...required, Env: 'prod', Flag: 'on' }),
      { Env: 'prod', Region: 'eu', Flag: 'on', Owner: 'me' },
    ],
    [
      'values keep the declaration order, whatever the override order',
      overrides({ Owner: 'me', Env: 'qa', Region: 'us' }),
      { Env: 'qa', Region: 'us', Flag: '', Owner: 'me' },
    ],
    [
      'a value of 1,000 characters',
      overrides({ ...required, Env: 'x'.repeat(1000) }),
      {
        Env: 'x'.repeat(1000),
        Region: 'eu',
        Flag: '',
        Owner: 'me',
      },
    ],
    [
      'a value holding a reference is kept as text',
      overrides({ ...required, Env: '#{variables.Region}' }),
      {
        Env: '#{variables.Region}',
        Region: 'eu',
        Flag: '',
        Owner: 'me',
      },
    ],
  ])('%s', (_case, given, values) => {
    const result = resolvePipelineVariables(declared, given);
    expect(result).toEqual({ values });
    if ('values' in result) expect(Object.keys(result.values)).toEqual(Object.keys(values));
  });

  it('gives nothing for a pipeline without variables', () => {
    expect(resolvePipelineVariables([], [])).toEqual({ values: {} });
  });

  it.each<[string, PipelineVariableOverride[], { path: string; message: string }[]]>([
    [
      'an undeclared variable',
      [...overrides(required), { name: 'Nope', value: 'x' }],
      [{ path: 'variables[2](Nope).name', message: 'the pipeline declares no variable Nope' }],
    ],
    [
      'a variable without default and without override',
      overrides({ Region: 'eu' }),
      [{ path: 'variables', message: 'Owner has no default value, so the start must give it a value' }],
    ],
    [
      'a null default counts as none',
      overrides({ Owner: 'me' }),
      [{ path: 'variables', message: 'Region has no default value, so the start must give it a value' }],
    ],
    [
      'a value over 1,000 characters',
      overrides({ ...required, Env: 'x'.repeat(1001) }),
      [{ path: 'variables[2](Env).value', message: 'must be at most 1000 characters (it has 1001)' }],
    ],
    [
      'an empty value',
      overrides({ ...required, Env: '' }),
      [{ path: 'variables[2](Env).value', message: 'must not be empty' }],
    ],
    [
      'a repeated variable',
      [...overrides(required), { name: 'Region', value: 'us' }],
      [{ path: 'variables[2](Region).name', message: 'duplicates variables[0](Region)' }],
    ],
    [
      'every problem at once',
      [
        { name: 'Nope', value: 'x' },
        { name: 'Env', value: 'y'.repeat(1001) },
        { name: 'Nope', value: 'z' },
      ],
      [
        { path: 'variables[0](Nope).name', message: 'the pipeline declares no variable Nope' },
        { path: 'variables[1](Env).value', message: 'must be at most 1000 characters (it has 1001)' },
        { path: 'variables[2](Nope).name', message: 'duplicates variables[0](Nope)' },
        { path: 'variables', message: 'Region has no default value, so the start must give it a value' },
        { path: 'variables', message: 'Owner has no default value, so the start must give it a value' },
      ],
    ],
    [
      'more than 50 variables',
      Array.from({ length: 51 }, (_, index) => ({ name: `V${index}`, value: 'x' })),
      [{ path: 'variables', message: '51 variables, more than 50' }],
    ],
  ])('reports %s', (_case, given, problems) => {
    expect(resolvePipelineVariables(declared, given)).toEqual({ problems });
  });

  it('accepts 50 variables and takes other limits when configured', () => {
    const many = Array.from({ length: 50 }, (_, index) => ({ name: `V${index}`, defaultValue: 'd' }));
    const all = many.map(({ name }) => ({ name, value: 'v' }));
    const result = resolvePipelineVariables(many, all);
    expect('values' in result && Object.keys(result.values)).toHaveLength(50);
    expect(resolvePipelineVariables(many, all, { maxVariables: 10, maxValueLength: 1000 })).toEqual({
      problems: [{ path: 'variables', message: '50 variables, more than 10' }],
    });
    expect(
      resolvePipelineVariables(many, [{ name: 'V1', value: 'abc' }], { maxVariables: 50, maxValueLength: 2 }),
    ).toEqual({
      problems: [{ path: 'variables[0](V1).value', message: 'must be at most 2 characters (it has 3)' }],
    });
  });
});
