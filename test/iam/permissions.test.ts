import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allow, newAccount, signIn, userWithPolicy, type TestAccount } from '../support/factories';
import { startTestServer, type TestServer } from '../support/test-server';

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(path.join(__dirname, '../fixtures/pipelines', `${name}.json`), 'utf8')) as Record<
    string,
    unknown
  >;

let server: TestServer;
let account: TestAccount;
let other: TestAccount;
const pipelineArn = (name: string, acct = account.accountId): string =>
  `arn:sluice:codepipeline:local:${acct}:${name}`;

const CREATE = `mutation($p: PipelineDeclarationInput!, $t: [TagInput!]) { createPipeline(pipeline: $p, tags: $t) { name version } }`;
const GET = `query($n: String!) { pipeline(name: $n) { name arn } }`;
const DELETE = `mutation($n: String!) { deletePipeline(name: $n) }`;
const LIST = `{ pipelines { nodes { name } } }`;

async function createPipeline(name: string, tags: { key: string; value: string }[] = []): Promise<void> {
  await account.root.ok(CREATE, { p: { ...fixture('minimal'), name }, t: tags });
}

beforeAll(async () => {
  server = await startTestServer();
  account = await newAccount(server, 'perms');
  other = await newAccount(server, 'other');
  await createPipeline('prod-web', [{ key: 'env', value: 'prod' }]);
  await createPipeline('staging-web', [{ key: 'env', value: 'staging' }]);
  await createPipeline('dev-api');
  await other.root.ok(CREATE, { p: { ...fixture('minimal'), name: 'theirs' } });
});
afterAll(() => server.stop());

describe('IAM evaluation through the API', () => {
  it('denies a user with no policies, naming principal, action and resource', async () => {
    const nobody = await userWithPolicy(server, account, undefined, 'nobody');
    const error = await nobody.fails(GET, { n: 'prod-web' }, 'ACCESS_DENIED');
    expect(error.message).toBe(
      `arn:sluice:iam::${account.accountId}:user/nobody is not authorized to perform codepipeline:GetPipeline on ${pipelineArn('prod-web')}`,
    );
    expect((await nobody.ok<{ pipelines: { nodes: unknown[] } }>(LIST)).pipelines.nodes).toEqual([]);
  });

  it('the managed CodePipeline_ReadOnlyAccess policy reads but does not change', async () => {
    await account.root.ok(
      `mutation { createUser(userName: "reader", password: "reader-password") { userName } }`,
    );
    await account.root.ok(
      `mutation { attachUserPolicy(userName: "reader", policyArn: "arn:sluice:iam::sluice:policy/CodePipeline_ReadOnlyAccess") }`,
    );
    const reader = await signIn(server.client, account.accountId, 'reader', 'reader-password');
    expect(await reader.ok(GET, { n: 'prod-web' })).toEqual({
      pipeline: { name: 'prod-web', arn: pipelineArn('prod-web') },
    });
    expect(
      (await reader.ok<{ pipelines: { nodes: { name: string }[] } }>(LIST)).pipelines.nodes.map(
        (p) => p.name,
      ),
    ).toEqual(['dev-api', 'prod-web', 'staging-web']);
    await reader.fails(DELETE, { n: 'prod-web' }, 'ACCESS_DENIED');
    // Detaching takes effect on the next request.
    await account.root.ok(
      `mutation { detachUserPolicy(userName: "reader", policyArn: "arn:sluice:iam::sluice:policy/CodePipeline_ReadOnlyAccess") }`,
    );
    await reader.fails(GET, { n: 'prod-web' }, 'ACCESS_DENIED');
  });

  it('an explicit deny beats an allow from another policy (deny deleting production pipelines)', async () => {
    await account.root.ok(
      `mutation { createUser(userName: "operator", password: "operator-password") { userName } }`,
    );
    await account.root.ok(
      `mutation { attachUserPolicy(userName: "operator", policyArn: "arn:sluice:iam::sluice:policy/CodePipeline_FullAccess") }`,
    );
    await account.root.ok(
      `mutation($d: JSON!) { createPolicy(policyName: "NoProdDeletes", policyDocument: $d) { arn } }`,
      {
        d: {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'NoProd',
              Effect: 'Deny',
              Action: 'codepipeline:DeletePipeline',
              Resource: `arn:sluice:codepipeline:*:*:prod-*`,
            },
          ],
        },
      },
    );
    await account.root.ok(`mutation($a: String!) { attachUserPolicy(userName: "operator", policyArn: $a) }`, {
      a: `arn:sluice:iam::${account.accountId}:policy/NoProdDeletes`,
    });
    const operator = await signIn(server.client, account.accountId, 'operator', 'operator-password');
    const denied = await operator.fails(DELETE, { n: 'prod-web' }, 'ACCESS_DENIED');
    expect(denied.message).toMatch(/explicit deny/);
    await createPipeline('dev-temp');
    expect(await operator.ok(DELETE, { n: 'dev-temp' })).toEqual({ deletePipeline: true });
    // The attached policy cannot be deleted while in use.
    await account.root.fails(
      `mutation($a: String!) { deletePolicy(policyArn: $a) }`,
      { a: `arn:sluice:iam::${account.accountId}:policy/NoProdDeletes` },
      'CONFLICT',
    );
  });

  it('wildcards: * spans / and :, ? is one character, actions ignore case', async () => {
    const user = await userWithPolicy(
      server,
      account,
      allow('CODEPIPELINE:getpipe*', `arn:sluice:codepipeline:local:${account.accountId}:???d-web`),
    );
    await user.ok(GET, { n: 'prod-web' });
    await user.fails(GET, { n: 'staging-web' }, 'ACCESS_DENIED');
  });

  it('list fields leave out what the caller may not list', async () => {
    const user = await userWithPolicy(
      server,
      account,
      allow('codepipeline:ListPipelines', `arn:sluice:codepipeline:local:${account.accountId}:*-web`),
    );
    expect(
      (await user.ok<{ pipelines: { nodes: { name: string }[] } }>(LIST)).pipelines.nodes.map((p) => p.name),
    ).toEqual(['prod-web', 'staging-web']);
  });

  it('group policies apply to members', async () => {
    const member = await userWithPolicy(server, account, undefined, 'member');
    await account.root.ok(`mutation { createGroup(groupName: "readers") { groupName } }`);
    await account.root.ok(
      `mutation($d: JSON!) { putGroupPolicy(groupName: "readers", policyName: "read", policyDocument: $d) }`,
      {
        d: allow('codepipeline:GetPipeline'),
      },
    );
    await member.fails(GET, { n: 'dev-api' }, 'ACCESS_DENIED');
    await account.root.ok(`mutation { addUserToGroup(groupName: "readers", userName: "member") }`);
    await member.ok(GET, { n: 'dev-api' });
  });

  it('conditions on resource tags, request tags and source address', async () => {
    const byTag = await userWithPolicy(server, account, {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 'codepipeline:GetPipeline',
          Resource: '*',
          Condition: { StringEquals: { 'aws:ResourceTag/env': 'staging' } },
        },
      ],
    });
    await byTag.ok(GET, { n: 'staging-web' });
    await byTag.fails(GET, { n: 'prod-web' }, 'ACCESS_DENIED');
    await byTag.fails(GET, { n: 'dev-api' }, 'ACCESS_DENIED'); // no tag at all

    const tagged = await userWithPolicy(server, account, {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 'codepipeline:CreatePipeline',
          Resource: '*',
          Condition: {
            StringEquals: { 'aws:RequestTag/team': 'web' },
            'ForAllValues:StringEquals': { 'aws:TagKeys': ['team'] },
          },
        },
      ],
    });
    await tagged.fails(CREATE, { p: { ...fixture('minimal'), name: 'untagged' } }, 'ACCESS_DENIED');
    await tagged.fails(
      CREATE,
      { p: { ...fixture('minimal'), name: 'wrong' }, t: [{ key: 'team', value: 'api' }] },
      'ACCESS_DENIED',
    );
    await tagged.ok(CREATE, {
      p: { ...fixture('minimal'), name: 'web-tagged' },
      t: [{ key: 'team', value: 'web' }],
    });

    const local = await userWithPolicy(server, account, {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 'codepipeline:GetPipeline',
          Resource: '*',
          Condition: { IpAddress: { 'aws:SourceIp': '127.0.0.0/8' } },
        },
      ],
    });
    await local.ok(GET, { n: 'dev-api' });
    const remote = await userWithPolicy(server, account, {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 'codepipeline:GetPipeline',
          Resource: '*',
          Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } },
        },
      ],
    });
    await remote.fails(GET, { n: 'dev-api' }, 'ACCESS_DENIED');
  });

  it('NotAction and NotResource', async () => {
    const user = await userWithPolicy(server, account, {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', NotAction: 'codepipeline:Delete*', Resource: '*' },
        { Effect: 'Deny', Action: 'codepipeline:GetPipeline', NotResource: pipelineArn('dev-api') },
      ],
    });
    await user.ok(GET, { n: 'dev-api' });
    await user.fails(GET, { n: 'prod-web' }, 'ACCESS_DENIED');
    await user.fails(DELETE, { n: 'dev-api' }, 'ACCESS_DENIED');
  });

  it('nobody reaches another account, and the answer does not reveal whether a resource exists there', async () => {
    const admin = await userWithPolicy(server, account, allow('*'));
    const theirs = await admin.fails(
      `query($a: String!) { listTagsForResource(resourceArn: $a) { key } }`,
      { a: pipelineArn('theirs', other.accountId) },
      'ACCESS_DENIED',
    );
    const missing = await admin.fails(
      `query($a: String!) { listTagsForResource(resourceArn: $a) { key } }`,
      { a: pipelineArn('missing', other.accountId) },
      'ACCESS_DENIED',
    );
    expect(theirs.message.replace('theirs', 'X')).toBe(missing.message.replace('missing', 'X'));
    // Its own root cannot either; a name in its own account is its own pipeline.
    await account.root.fails(GET, { n: 'theirs' }, 'NOT_FOUND');
  });

  it('invalid policy documents are BAD_USER_INPUT naming statement and field', async () => {
    const error = await account.root.fails(
      `mutation($d: JSON!) { createPolicy(policyName: "Broken", policyDocument: $d) { arn } }`,
      {
        d: {
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Action: 'codepipeline:GetPipeline', Resource: '*' },
            { Effect: 'Alow', Resource: '*' },
          ],
        },
      },
      'BAD_USER_INPUT',
    );
    expect(error.message).toMatch(/Statement\[1\]\.Effect/);
    expect(error.message).toMatch(/Statement\[1\]/);
    const problems = error.extensions?.problems as { path: string }[];
    expect(problems.map((p) => p.path)).toEqual(expect.arrayContaining(['Statement[1].Effect']));
    // A JSON string is accepted too.
    await account.root.ok(
      `mutation($d: JSON!) { createPolicy(policyName: "AsString", policyDocument: $d) { arn } }`,
      {
        d: JSON.stringify(allow('codepipeline:List*')),
      },
    );
  });

  it('lists and reads managed and customer policies', async () => {
    const { policies } = await account.root.ok<{
      policies: { nodes: { name: string; isManaged: boolean }[] };
    }>(`{ policies(scope: MANAGED, first: 100) { nodes { name isManaged } } }`);
    expect(policies.nodes.map((p) => p.name)).toEqual(
      expect.arrayContaining([
        'CodePipeline_FullAccess',
        'CodePipeline_ReadOnlyAccess',
        'CodePipelineApproverAccess',
        'CodePipelineCustomActionAccess',
        'IAMFullAccess',
        'AuditReadOnlyAccess',
      ]),
    );
    const one = await account.root.ok<{ policy: { document: { Statement: unknown[] } } }>(
      `{ policy(policyArn: "arn:sluice:iam::sluice:policy/CodePipeline_ReadOnlyAccess") { name document } }`,
    );
    expect(one.policy.document.Statement.length).toBeGreaterThan(0);
  });

  it('simulatePrincipalPolicy reports the decision per action and resource with the matching statements', async () => {
    const { simulatePrincipalPolicy } = await account.root.ok<{
      simulatePrincipalPolicy: {
        actionName: string;
        resourceArn: string;
        decision: string;
        matchedStatements: { sid: string | null }[];
      }[];
    }>(
      `query($src: String!, $r: [String!]) {
        simulatePrincipalPolicy(policySourceArn: $src, actionNames: ["codepipeline:DeletePipeline", "codepipeline:GetPipeline", "iam:CreateUser"], resourceArns: $r) {
          actionName resourceArn decision matchedStatements { sourcePolicyName sid effect }
        }
      }`,
      { src: `arn:sluice:iam::${account.accountId}:user/operator`, r: [pipelineArn('prod-web')] },
    );
    expect(simulatePrincipalPolicy.map((r) => [r.actionName, r.decision])).toEqual([
      ['codepipeline:DeletePipeline', 'EXPLICIT_DENY'],
      ['codepipeline:GetPipeline', 'ALLOWED'],
      ['iam:CreateUser', 'IMPLICIT_DENY'],
    ]);
    expect(simulatePrincipalPolicy[0].matchedStatements[0].sid).toBe('NoProd');
  });
});
