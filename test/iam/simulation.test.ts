import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allow, newAccount, userWithPolicy, type TestAccount } from '../support/factories';
import { startTestServer, type TestServer } from '../support/test-server';

/** Simulation that explains (issue 9, point 6): layers, statements, and looking up a denial. */
let server: TestServer;
let account: TestAccount;
let other: TestAccount;

const SIMULATE = `query($s: String!, $a: [String!]!, $r: [String!]) {
  simulatePrincipalPolicy(policySourceArn: $s, actionNames: $a, resourceArns: $r) {
    actionName resourceArn decision deniedBy
    matchedStatements { sourcePolicyId sourcePolicyArn sourcePolicyName statementIndex sid effect layer } } }`;
const CUSTOM = `query($p: [JSON!]!, $b: [JSON!], $a: [String!]!, $r: [String!], $c: [ContextEntryInput!]) {
  simulateCustomPolicy(policyInputList: $p, permissionsBoundaryPolicyInputList: $b, actionNames: $a,
    resourceArns: $r, contextEntries: $c) {
    actionName resourceArn decision deniedBy matchedStatements { sourcePolicyName statementIndex sid effect layer } } }`;
const DECISION = `query($id: String!) { authorizationDecision(decisionId: $id) {
  decisionId principalArn actionName resourceArn decision deniedBy reason
  matchedStatements { sourcePolicyName statementIndex sid effect layer } } }`;

interface Result {
  actionName: string;
  resourceArn: string;
  decision: string;
  deniedBy: string | null;
  matchedStatements: { sourcePolicyName: string; sid: string | null; effect: string; layer: string }[];
}

const pipelineArn = (acct: string, name: string): string => `arn:sluice:codepipeline:local:${acct}:${name}`;

const readButNotDelete = {
  Version: '2012-10-17',
  Statement: [
    { Sid: 'Read', Effect: 'Allow', Action: 'codepipeline:Get*', Resource: '*' },
    { Sid: 'NoDelete', Effect: 'Deny', Action: 'codepipeline:DeletePipeline', Resource: '*' },
  ],
};

beforeAll(async () => {
  server = await startTestServer();
  account = await newAccount(server, 'simulated');
  other = await newAccount(server, 'elsewhere');
  await account.root.ok(
    `mutation($d: JSON!) { createRole(roleName: "Releaser", assumeRolePolicyDocument: $d) { arn } }`,
    {
      d: {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { AWS: account.accountId }, Action: 'sts:AssumeRole' }],
      },
    },
  );
  await account.root.ok(
    `mutation($d: JSON!) { putRolePolicy(roleName: "Releaser", policyName: "ReadOnly", policyDocument: $d) }`,
    { d: readButNotDelete },
  );
});
afterAll(() => server.stop());

describe('simulatePrincipalPolicy', () => {
  it('explains a role and its sessions: the statements that decided, their policy and layer, and which layer denied', async () => {
    const pipeline = pipelineArn(account.accountId, 'rel');
    for (const source of [
      `arn:sluice:iam::${account.accountId}:role/releaser`,
      `arn:sluice:sts::${account.accountId}:assumed-role/Releaser/some-session`,
    ]) {
      const { simulatePrincipalPolicy } = await account.root.ok<{ simulatePrincipalPolicy: Result[] }>(
        SIMULATE,
        {
          s: source,
          a: [
            'codepipeline:GetPipeline',
            'codepipeline:DeletePipeline',
            'codepipeline:StartPipelineExecution',
          ],
          r: [pipeline],
        },
      );
      expect(simulatePrincipalPolicy).toEqual([
        {
          actionName: 'codepipeline:GetPipeline',
          resourceArn: pipeline,
          decision: 'ALLOWED',
          deniedBy: null,
          matchedStatements: [
            expect.objectContaining({ sourcePolicyName: 'ReadOnly', sid: 'Read', layer: 'IDENTITY' }),
          ],
        },
        {
          actionName: 'codepipeline:DeletePipeline',
          resourceArn: pipeline,
          decision: 'EXPLICIT_DENY',
          deniedBy: 'IDENTITY',
          matchedStatements: [
            expect.objectContaining({
              sourcePolicyName: 'ReadOnly',
              sid: 'NoDelete',
              effect: 'Deny',
              layer: 'IDENTITY',
            }),
          ],
        },
        {
          actionName: 'codepipeline:StartPipelineExecution',
          resourceArn: pipeline,
          decision: 'IMPLICIT_DENY',
          deniedBy: 'IDENTITY',
          matchedStatements: [],
        },
      ]);
    }
  });

  it('refuses a principal of another account as any denial, and an unknown one of its own as NOT_FOUND', async () => {
    await account.root.fails(
      SIMULATE,
      { s: `arn:sluice:iam::${other.accountId}:role/Releaser`, a: ['codepipeline:GetPipeline'] },
      'ACCESS_DENIED',
    );
    const error = await account.root.fails(
      SIMULATE,
      { s: `arn:sluice:iam::${account.accountId}:role/Nobody`, a: ['codepipeline:GetPipeline'] },
      'NOT_FOUND',
    );
    expect(error.message).toContain('No user, role, role session or account root');
  });
});

describe('simulateCustomPolicy', () => {
  it('evaluates documents given inline, capped by a permissions boundary, and names the layer that denied', async () => {
    const boundary = allow(['codepipeline:Get*', 'codepipeline:List*']);
    const { simulateCustomPolicy } = await account.root.ok<{ simulateCustomPolicy: Result[] }>(CUSTOM, {
      p: [allow('codepipeline:*')],
      b: [boundary],
      a: ['codepipeline:GetPipeline', 'codepipeline:DeletePipeline'],
    });
    expect(simulateCustomPolicy.map((r) => [r.actionName, r.decision, r.deniedBy])).toEqual([
      ['codepipeline:GetPipeline', 'ALLOWED', null],
      ['codepipeline:DeletePipeline', 'IMPLICIT_DENY', 'BOUNDARY'],
    ]);
    expect(simulateCustomPolicy[0].matchedStatements.map((m) => m.layer)).toEqual(['IDENTITY', 'BOUNDARY']);
  });

  it('honours the context entries given', async () => {
    const fromOffice = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: '*',
          Resource: '*',
          Condition: { IpAddress: { 'aws:SourceIp': '10.1.0.0/16' } },
        },
      ],
    };
    const decide = async (ip: string): Promise<string> =>
      (
        await account.root.ok<{ simulateCustomPolicy: Result[] }>(CUSTOM, {
          p: [fromOffice],
          a: ['codepipeline:GetPipeline'],
          c: [{ contextKeyName: 'aws:SourceIp', contextKeyValues: [ip] }],
        })
      ).simulateCustomPolicy[0].decision;
    expect(await decide('10.1.2.3')).toBe('ALLOWED');
    expect(await decide('192.168.1.1')).toBe('IMPLICIT_DENY');
  });

  it('refuses a malformed document naming which one and where', async () => {
    const error = await account.root.fails(
      CUSTOM,
      {
        p: [allow('codepipeline:Get*'), { Version: '2012-10-17', Statement: [{ Effect: 'Maybe' }] }],
        a: ['x:y'],
      },
      'BAD_USER_INPUT',
    );
    expect(error.message).toContain('policyInputList[1]');
  });
});

describe('authorizationDecision', () => {
  it('lets an administrator of the account look up why a call was denied, and nobody else', async () => {
    const reader = await userWithPolicy(server, account, readButNotDelete, 'reader');
    const denied = await reader.fails(`mutation { deletePipeline(name: "rel") }`, undefined, 'ACCESS_DENIED');
    const decisionId = denied.extensions?.decisionId as string;
    expect(decisionId).toMatch(/^[0-9a-f-]{36}$/);
    // The message says no more than IAM's would.
    expect(denied.message).not.toContain('NoDelete');

    const { authorizationDecision } = await account.root.ok<{
      authorizationDecision: Record<string, unknown>;
    }>(DECISION, { id: decisionId });
    expect(authorizationDecision).toEqual({
      decisionId,
      principalArn: `arn:sluice:iam::${account.accountId}:user/reader`,
      actionName: 'codepipeline:DeletePipeline',
      resourceArn: pipelineArn(account.accountId, 'rel'),
      decision: 'EXPLICIT_DENY',
      deniedBy: 'IDENTITY',
      reason: null,
      matchedStatements: [
        { sourcePolicyName: 'test', statementIndex: 1, sid: 'NoDelete', effect: 'Deny', layer: 'IDENTITY' },
      ],
    });
    // The reader may not read explanations; another account's root does not find it.
    await reader.fails(DECISION, { id: decisionId }, 'ACCESS_DENIED');
    await other.root.fails(DECISION, { id: decisionId }, 'NOT_FOUND');
    await account.root.fails(DECISION, { id: 'not-a-decision' }, 'NOT_FOUND');
  });

  it('explains a refusal at the account boundary too', async () => {
    const reader = await userWithPolicy(server, account, allow('codepipeline:*'));
    const denied = await reader.fails(
      `query($a: String!) { listTagsForResource(resourceArn: $a) { key } }`,
      { a: pipelineArn(other.accountId, 'theirs') },
      'ACCESS_DENIED',
    );
    const { authorizationDecision } = await account.root.ok<{ authorizationDecision: { reason: string } }>(
      DECISION,
      {
        id: denied.extensions?.decisionId,
      },
    );
    expect(authorizationDecision.reason).toContain('another account');
  });
});
