import { describe, expect, it } from 'vitest';
import {
  builtInActionTypes,
  customActionTypeDefinition,
  findActionType,
  type ActionTypeDefinition,
} from '../../../src/pipelines/declaration/action-types';
import { formatActionTypeId } from '../../../src/pipelines/declaration/declaration';

function builtIn(name: string): ActionTypeDefinition {
  const [category, owner, provider, version] = name.split('/');
  const type = findActionType({ category, owner, provider, version });
  if (!type) throw new Error(`no built-in action type ${name}`);
  return type;
}

/** The provider-specific issues of one configuration, as [key, message fragment]. */
function issues(typeName: string, configuration: Record<string, string>, inputArtifactNames: string[] = []) {
  const check = builtIn(typeName).checkConfiguration;
  return (check?.({ configuration, inputArtifactNames }) ?? []).map((issue) => [issue.key, issue.message]);
}

describe('built-in action types', () => {
  it('are the providers of DESIGN §7, owner Sluice', () => {
    expect(builtInActionTypes.map((type) => formatActionTypeId(type.id))).toEqual([
      'Source/Sluice/Git/1',
      'Source/Sluice/Archive/1',
      'Build/Sluice/Shell/1',
      'Test/Sluice/Shell/1',
      'Deploy/Sluice/Directory/1',
      'Approval/Sluice/Manual/1',
      'Invoke/Sluice/Webhook/1',
      'Invoke/Sluice/Pipeline/1',
    ]);
  });

  it.each(builtInActionTypes.map((type) => [formatActionTypeId(type.id), type] as const))(
    '%s is internally consistent',
    (_name, type) => {
      const names = type.configurationProperties.map((property) => property.name);
      expect(new Set(names).size).toBe(names.length);
      for (const property of type.configurationProperties) expect(property.description).toBeTruthy();
      for (const range of [type.inputArtifacts, type.outputArtifacts]) {
        expect(range.minimumCount).toBeGreaterThanOrEqual(0);
        expect(range.maximumCount).toBeGreaterThanOrEqual(range.minimumCount);
        expect(range.maximumCount).toBeLessThanOrEqual(5);
      }
      expect(type.minTimeoutMinutes).toBeLessThanOrEqual(type.defaultTimeoutMinutes);
      expect(type.defaultTimeoutMinutes).toBeLessThanOrEqual(type.maxTimeoutMinutes);
    },
  );

  it('follow DESIGN §10 timeouts: 1 h by default, 8 h at most; approvals 7 days, 5 min to 60 days', () => {
    for (const type of builtInActionTypes.filter((t) => t.id.category !== 'Approval')) {
      expect([type.defaultTimeoutMinutes, type.maxTimeoutMinutes]).toEqual([60, 480]);
    }
    const approval = builtIn('Approval/Sluice/Manual/1');
    expect([approval.minTimeoutMinutes, approval.defaultTimeoutMinutes, approval.maxTimeoutMinutes]).toEqual([
      5, 10080, 86400,
    ]);
  });

  it('give the Git source its output variables and Git events', () => {
    const git = builtIn('Source/Sluice/Git/1');
    expect(git.outputVariables).toEqual(['CommitId', 'BranchName', 'CommitMessage', 'AuthorDate']);
    expect(git.gitEvents).toBe(true);
    expect(builtIn('Source/Sluice/Archive/1').gitEvents).toBeUndefined();
  });
});

describe('findActionType', () => {
  const custom = customActionTypeDefinition({
    category: 'Deploy',
    provider: 'Kubernetes',
    version: '1',
    inputArtifactDetails: { minimumCount: 1, maximumCount: 1 },
    outputArtifactDetails: { minimumCount: 0, maximumCount: 0 },
  });

  it('finds built-in types by their exact id', () => {
    expect(
      findActionType({ category: 'Build', owner: 'Sluice', provider: 'Shell', version: '1' })?.id.category,
    ).toBe('Build');
    expect(
      findActionType({ category: 'Build', owner: 'Sluice', provider: 'shell', version: '1' }),
    ).toBeUndefined();
    expect(
      findActionType({ category: 'Deploy', owner: 'Sluice', provider: 'Shell', version: '1' }),
    ).toBeUndefined();
  });

  it('finds custom types only among those given', () => {
    const id = { category: 'Deploy', owner: 'Custom', provider: 'Kubernetes', version: '1' };
    expect(findActionType(id)).toBeUndefined();
    expect(findActionType(id, [custom])).toBe(custom);
    expect(custom).toMatchObject({
      configurationProperties: [],
      defaultTimeoutMinutes: 60,
      maxTimeoutMinutes: 480,
    });
  });
});

describe('provider-specific configuration checks', () => {
  type Case = [
    typeName: string,
    configuration: Record<string, string>,
    inputs: string[],
    expected: string[][],
  ];
  const cases: Case[] = [
    // Source/Git
    ['Source/Sluice/Git/1', { RepositoryUrl: '/srv/git/app.git', BranchName: 'main' }, [], []],
    ['Source/Sluice/Git/1', { RepositoryUrl: 'file:///srv/git/app.git', BranchName: 'feature/x-1' }, [], []],
    ['Source/Sluice/Git/1', { RepositoryUrl: 'ssh://git@host/app.git', BranchName: 'main' }, [], []],
    ['Source/Sluice/Git/1', { RepositoryUrl: 'git@host:team/app.git', BranchName: 'main' }, [], []],
    [
      'Source/Sluice/Git/1',
      { RepositoryUrl: 'repos/app', BranchName: 'main' },
      [],
      [['RepositoryUrl', 'absolute path']],
    ],
    [
      'Source/Sluice/Git/1',
      { RepositoryUrl: 'ftp://host/app', BranchName: 'main' },
      [],
      [['RepositoryUrl', 'git URL']],
    ],
    [
      'Source/Sluice/Git/1',
      { RepositoryUrl: '/r', BranchName: 'bad..name' },
      [],
      [['BranchName', 'not a valid Git branch name']],
    ],
    [
      'Source/Sluice/Git/1',
      { RepositoryUrl: '/r', BranchName: 'has space' },
      [],
      [['BranchName', 'Git branch name']],
    ],
    ['Source/Sluice/Git/1', { RepositoryUrl: '/r', BranchName: '#{variables.Branch}' }, [], []],
    [
      'Source/Sluice/Git/1',
      { RepositoryUrl: '/r', BranchName: 'main', OutputArtifactFormat: 'ZIP' },
      [],
      [['OutputArtifactFormat', 'CODE_ZIP or CODEBUILD_CLONE_REF']],
    ],
    // Source/Archive
    ['Source/Sluice/Archive/1', { ObjectKey: 'site/build.zip' }, [], []],
    ['Source/Sluice/Archive/1', { ObjectKey: '../etc/passwd' }, [], [['ObjectKey', 'relative key']]],
    ['Source/Sluice/Archive/1', { ObjectKey: '/abs.zip' }, [], [['ObjectKey', 'relative key']]],
    // Build/Shell and Test/Shell
    ['Build/Sluice/Shell/1', {}, ['Src'], []],
    [
      'Test/Sluice/Shell/1',
      { BuildSpec: 'version: 0.2', Commands: 'true' },
      ['Src'],
      [['Commands', 'not both']],
    ],
    ['Build/Sluice/Shell/1', { Commands: 'make' }, ['A', 'B'], [['PrimarySource', 'more than one input']]],
    ['Build/Sluice/Shell/1', { Commands: 'make', PrimarySource: 'B' }, ['A', 'B'], []],
    [
      'Build/Sluice/Shell/1',
      { Commands: 'make', PrimarySource: 'C' },
      ['A', 'B'],
      [['PrimarySource', 'input artifacts']],
    ],
    [
      'Build/Sluice/Shell/1',
      {
        EnvironmentVariables:
          '[{"name":"MODE","value":"release","type":"PLAINTEXT"},{"name":"X","value":"#{B.V}"}]',
      },
      ['Src'],
      [],
    ],
    [
      'Build/Sluice/Shell/1',
      { EnvironmentVariables: '{"MODE":"x"}' },
      ['Src'],
      [['EnvironmentVariables', 'JSON array']],
    ],
    [
      'Build/Sluice/Shell/1',
      { EnvironmentVariables: 'MODE=x' },
      ['Src'],
      [['EnvironmentVariables', 'JSON array']],
    ],
    [
      'Build/Sluice/Shell/1',
      { EnvironmentVariables: '[{"name":"SLUICE_TOKEN","value":"x"}]' },
      ['Src'],
      [['EnvironmentVariables', 'reserved']],
    ],
    [
      'Build/Sluice/Shell/1',
      { EnvironmentVariables: '[{"name":"DB","value":"/db/pass","type":"PARAMETER_STORE"}]' },
      ['Src'],
      [['EnvironmentVariables', 'PLAINTEXT']],
    ],
    [
      'Build/Sluice/Shell/1',
      { EnvironmentVariables: '[{"name":"A","value":"1"},{"name":"A","value":"2"}]' },
      ['Src'],
      [['EnvironmentVariables', 'A is set twice']],
    ],
    [
      'Build/Sluice/Shell/1',
      { EnvironmentVariables: '[{"name":"1A","value":"1"}]' },
      ['Src'],
      [['EnvironmentVariables', 'valid environment variable name']],
    ],
    // Deploy/Directory
    ['Deploy/Sluice/Directory/1', { TargetDirectory: '/srv/app', KeepReleases: '100' }, ['Out'], []],
    [
      'Deploy/Sluice/Directory/1',
      { TargetDirectory: 'srv/app' },
      ['Out'],
      [['TargetDirectory', 'absolute path']],
    ],
    ['Deploy/Sluice/Directory/1', { TargetDirectory: '/' }, ['Out'], [['TargetDirectory', 'other than /']]],
    [
      'Deploy/Sluice/Directory/1',
      { TargetDirectory: '/srv', KeepReleases: '0' },
      ['Out'],
      [['KeepReleases', '1 to 100']],
    ],
    [
      'Deploy/Sluice/Directory/1',
      { TargetDirectory: '/srv', KeepReleases: '101' },
      ['Out'],
      [['KeepReleases', '1 to 100']],
    ],
    [
      'Deploy/Sluice/Directory/1',
      { TargetDirectory: '/srv', KeepReleases: '2.5' },
      ['Out'],
      [['KeepReleases', 'whole number']],
    ],
    // Approval/Manual
    [
      'Approval/Sluice/Manual/1',
      {
        CustomData: 'x'.repeat(500),
        ExternalEntityLink: 'https://x.example',
        NotificationArn: 'arn:sluice:sns:local:123456789012:releases',
      },
      [],
      [],
    ],
    [
      'Approval/Sluice/Manual/1',
      { CustomData: 'x'.repeat(501) },
      [],
      [['CustomData', 'at most 500 characters']],
    ],
    [
      'Approval/Sluice/Manual/1',
      { ExternalEntityLink: 'javascript:alert(1)' },
      [],
      [['ExternalEntityLink', 'http(s) URL']],
    ],
    [
      'Approval/Sluice/Manual/1',
      { NotificationArn: 'releases-topic' },
      [],
      [['NotificationArn', 'must be an ARN']],
    ],
    // Invoke/Webhook
    ['Invoke/Sluice/Webhook/1', { Url: 'https://hooks.example/x', SecretName: 'hooks/deploy' }, [], []],
    ['Invoke/Sluice/Webhook/1', { Url: 'ftp://hooks.example/x' }, [], [['Url', 'http(s) URL']]],
    ['Invoke/Sluice/Webhook/1', { Url: 'https://#{variables.Host}/hook' }, [], []],
    [
      'Invoke/Sluice/Webhook/1',
      { Url: 'https://h.example', SecretName: 'has space' },
      [],
      [['SecretName', '1–512 characters']],
    ],
    // Invoke/Pipeline
    [
      'Invoke/Sluice/Pipeline/1',
      { PipelineName: 'smoke-tests', Variables: '[{"name":"A","value":"1"}]' },
      [],
      [],
    ],
    [
      'Invoke/Sluice/Pipeline/1',
      { PipelineName: 'smoke tests' },
      [],
      [['PipelineName', 'valid pipeline name']],
    ],
    [
      'Invoke/Sluice/Pipeline/1',
      { PipelineName: 'p', Variables: '{"A":"1"}' },
      [],
      [['Variables', 'JSON array']],
    ],
    [
      'Invoke/Sluice/Pipeline/1',
      { PipelineName: 'p', Variables: '[{"name":"A","value":1}]' },
      [],
      [['Variables', 'item 0']],
    ],
  ];

  it.each(cases)('%s %j', (typeName, configuration, inputs, expected) => {
    const found = issues(typeName, configuration, inputs);
    expect(found).toEqual(expected.map(([key, fragment]) => [key, expect.stringContaining(fragment)]));
  });
});

describe('local folders a tenant may name', () => {
  const allowedRoots = { deploy: ['/srv/deploy/123456789012'], gitLocal: ['/srv/git'] };
  const check = (typeName: string, configuration: Record<string, string>, inputs: string[] = []) =>
    (
      builtIn(typeName).checkConfiguration?.({
        configuration,
        inputArtifactNames: inputs,
        allowedRoots,
        accountId: '123456789012',
      }) ?? []
    ).map((issue) => [issue.key, issue.message]);

  it('keeps Deploy/Directory targets under the deploy roots, by their text with ".." resolved', () => {
    const deploy = (target: string) =>
      check('Deploy/Sluice/Directory/1', { TargetDirectory: target }, ['Out']);
    expect(deploy('/srv/deploy/123456789012/site')).toEqual([]);
    expect(deploy('/srv/deploy/123456789012')).toEqual([]);
    expect(deploy('#{variables.target}')).toEqual([]); // checked when the action runs
    for (const outside of [
      '/srv/deploy/210987654321/site',
      '/srv/deploy/123456789012/../210987654321/site',
      '/srv/deploy/1234567890123/site',
      '/var/www',
    ]) {
      expect(deploy(outside)).toEqual([
        [
          'TargetDirectory',
          'must lie under an allowed deploy root (SLUICE_DEPLOY_ROOTS: /srv/deploy/123456789012)',
        ],
      ]);
    }
  });

  it('keeps local Git repositories under the Git roots; remote URLs stay allowed', () => {
    const source = (url: string) => check('Source/Sluice/Git/1', { RepositoryUrl: url, BranchName: 'main' });
    for (const fine of [
      '/srv/git/app.git',
      'file:///srv/git/app.git',
      'https://git.example/app.git',
      'ssh://git@git.example/app.git',
      'git://git.example/app.git',
      'git@git.example:team/app.git',
    ]) {
      expect(source(fine)).toEqual([]);
    }
    for (const local of ['/home/other/app.git', 'file:///srv/git/../secrets/app.git', '/srv/gitx/app.git']) {
      expect(source(local)).toEqual([
        ['RepositoryUrl', expect.stringContaining('outside the allowed Git roots')],
      ]);
    }
    expect(source('file://server/srv/git/app.git')).toEqual([
      ['RepositoryUrl', expect.stringContaining('without a host')],
    ]);
  });

  it('lets Invoke/Pipeline name its target by ARN, in its own account only', () => {
    const invoke = (name: string) => check('Invoke/Sluice/Pipeline/1', { PipelineName: name });
    expect(invoke('arn:sluice:codepipeline:local:123456789012:deploy')).toEqual([]);
    expect(invoke('arn:sluice:codepipeline:local:210987654321:deploy')).toEqual([
      ['PipelineName', expect.stringContaining('must be a pipeline of this account')],
    ]);
  });
});
