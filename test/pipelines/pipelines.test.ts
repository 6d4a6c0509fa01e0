import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAccount, type TestAccount } from '../support/factories';
import { startTestServer, type TestServer } from '../support/test-server';

type Declaration = Record<string, unknown> & {
  name: string;
  stages: { name: string; actions: Record<string, unknown>[] }[];
};
const fixture = (name: string): Declaration =>
  JSON.parse(
    readFileSync(path.join(__dirname, '../fixtures/pipelines', `${name}.json`), 'utf8'),
  ) as Declaration;

const CREATE = `mutation($p: PipelineDeclarationInput!, $t: [TagInput!]) {
  createPipeline(pipeline: $p, tags: $t) { name arn version declaration created updated }
}`;
const GET = `query($n: String!, $v: Int) { pipeline(name: $n, version: $v) { name arn version declaration } }`;
const UPDATE = `mutation($p: PipelineDeclarationInput!) { updatePipeline(pipeline: $p) { name version declaration } }`;
const DELETE = `mutation($n: String!) { deletePipeline(name: $n) }`;
const TAGS = `query($a: String!) { listTagsForResource(resourceArn: $a) { key value } }`;

interface PipelineData {
  name: string;
  arn: string;
  version: number;
  declaration: Declaration;
}

let server: TestServer;
let account: TestAccount;
const arnOf = (name: string): string => `arn:sluice:codepipeline:local:${account.accountId}:${name}`;

beforeAll(async () => {
  server = await startTestServer();
  account = await newAccount(server, 'pipelines');
});
afterAll(() => server.stop());

describe('pipeline definitions', () => {
  it('creates a pipeline and reads back its normalized declaration', async () => {
    const { createPipeline } = await account.root.ok<{ createPipeline: PipelineData }>(CREATE, {
      p: fixture('git-build-approve-deploy'),
      t: [{ key: 'team', value: 'web' }],
    });
    expect(createPipeline).toMatchObject({ name: 'web-app', arn: arnOf('web-app'), version: 1 });
    expect(createPipeline.declaration).toMatchObject({
      name: 'web-app',
      version: 1,
      executionMode: 'SUPERSEDED',
      pipelineType: 'V2',
    });
    expect(createPipeline.declaration.stages.map((s) => s.name)).toEqual([
      'Source',
      'Build',
      'Approve',
      'Deploy',
    ]);
    const { pipeline } = await account.root.ok<{ pipeline: PipelineData }>(GET, { n: 'web-app' });
    expect(pipeline.declaration).toEqual(createPipeline.declaration);
    expect(await account.root.ok(TAGS, { a: arnOf('web-app') })).toEqual({
      listTagsForResource: [{ key: 'team', value: 'web' }],
    });
  });

  it('copies a pipeline: its declaration, renamed, creates an identical one', async () => {
    const { pipeline } = await account.root.ok<{ pipeline: PipelineData }>(GET, { n: 'web-app' });
    const copy = await account.root.ok<{ createPipeline: PipelineData }>(CREATE, {
      p: { ...pipeline.declaration, name: 'web-app-copy' },
    });
    expect({ ...copy.createPipeline.declaration, name: 'web-app' }).toEqual(pipeline.declaration);
    await account.root.fails(CREATE, { p: pipeline.declaration }, 'CONFLICT');
  });

  it('updates to version + 1, keeps old versions readable, and refuses a stale version', async () => {
    const { pipeline } = await account.root.ok<{ pipeline: PipelineData }>(GET, { n: 'web-app-copy' });
    const changed = structuredClone(pipeline.declaration);
    changed.executionMode = 'QUEUED';
    const { updatePipeline } = await account.root.ok<{ updatePipeline: PipelineData }>(UPDATE, {
      p: changed,
    });
    expect(updatePipeline.version).toBe(2);
    expect(updatePipeline.declaration).toMatchObject({ version: 2, executionMode: 'QUEUED' });
    // Someone still holding version 1 loses.
    const stale = await account.root.fails(
      UPDATE,
      { p: { ...changed, executionMode: 'PARALLEL' } },
      'CONFLICT',
    );
    expect(stale.message).toMatch(/version 2.*version 1/);
    // Without a version the update applies to the latest.
    const { version: _v, ...unversioned } = changed;
    expect(
      (await account.root.ok<{ updatePipeline: PipelineData }>(UPDATE, { p: unversioned })).updatePipeline
        .version,
    ).toBe(3);
    const v1 = await account.root.ok<{ pipeline: PipelineData }>(GET, { n: 'web-app-copy', v: 1 });
    expect(v1.pipeline.declaration.executionMode).toBe('SUPERSEDED');
    await account.root.fails(GET, { n: 'web-app-copy', v: 9 }, 'NOT_FOUND');
    await account.root.fails(UPDATE, { p: { ...unversioned, name: 'no-such' } }, 'NOT_FOUND');
  });

  it('reports every problem of a declaration at once, each with its stage, action and field', async () => {
    const bad = fixture('minimal');
    bad.name = 'bad name!';
    bad.stages[0].actions.push({
      name: 'Build',
      actionTypeId: { category: 'Build', owner: 'Sluice', provider: 'Shell', version: '1' },
      inputArtifacts: [{ name: 'Nowhere' }],
    });
    bad.stages[1].actions[0].runOrder = 1000;
    bad.stages.push({ name: 'Build', actions: [] });
    const error = await account.root.fails(CREATE, { p: bad }, 'BAD_USER_INPUT');
    const problems = (error.extensions?.problems as { path: string; message: string }[]).map((p) => p.path);
    expect(problems).toEqual(
      expect.arrayContaining([
        'name',
        expect.stringMatching(/^stages\[0\]\(Source\)\.actions\[1\]\(Build\)/),
        expect.stringMatching(/^stages\[1\]\(Build\)\.actions\[0\]\(Build\)\.runOrder$/),
        expect.stringMatching(/^stages\[2\]\(Build\)/),
      ]),
    );
    expect(problems.length).toBeGreaterThanOrEqual(5);
    // Nothing was written.
    await account.root.fails(GET, { n: 'bad name!' }, 'NOT_FOUND');
  });

  it('enforces the limits of DESIGN §10 as LIMIT_EXCEEDED naming the limit', async () => {
    const huge = fixture('minimal');
    huge.name = 'huge';
    const build = huge.stages[1];
    huge.stages = [huge.stages[0], ...Array.from({ length: 51 }, (_, i) => ({ ...build, name: `B${i}` }))];
    const error = await account.root.fails(CREATE, { p: huge }, 'LIMIT_EXCEEDED');
    expect(error.extensions?.limit).toBe('stagesPerPipeline');
  });

  it('rejects wrong GraphQL types before validation, with the variable named', async () => {
    const error = await account.root.fails(CREATE, { p: { name: 'x', stages: 'nope' } }, 'BAD_USER_INPUT');
    expect(error.message).toMatch(/\$p/);
  });

  it('pages through pipelines by name', async () => {
    for (const name of ['p-a', 'p-b', 'p-c']) {
      await account.root.ok(CREATE, { p: { ...fixture('minimal'), name } });
    }
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: {
        pipelines: {
          edges: { cursor: string; node: { name: string } }[];
          pageInfo: { hasNextPage: boolean; endCursor: string };
        };
      } = await account.root.ok(
        `query($a: String) { pipelines(first: 2, after: $a) { edges { cursor node { name } } pageInfo { hasNextPage endCursor } } }`,
        {
          a: after,
        },
      );
      seen.push(...page.pipelines.edges.map((e) => e.node.name));
      if (!page.pipelines.pageInfo.hasNextPage) break;
      after = page.pipelines.pageInfo.endCursor;
    }
    expect(seen).toEqual(['p-a', 'p-b', 'p-c', 'web-app', 'web-app-copy']);
    await account.root.fails(`{ pipelines(first: 0) { nodes { name } } }`, undefined, 'BAD_USER_INPUT');
    await account.root.fails(
      `{ pipelines(after: "garbage!") { nodes { name } } }`,
      undefined,
      'BAD_USER_INPUT',
    );
  });

  it('tags and untags a pipeline; bad tags are BAD_USER_INPUT', async () => {
    await account.root.ok(
      `mutation($a: String!) { tagResource(resourceArn: $a, tags: [{key: "env", value: "prod"}, {key: "team", value: "api"}]) }`,
      {
        a: arnOf('p-a'),
      },
    );
    await account.root.ok(`mutation($a: String!) { untagResource(resourceArn: $a, tagKeys: ["team"]) }`, {
      a: arnOf('p-a'),
    });
    expect(await account.root.ok(TAGS, { a: arnOf('p-a') })).toEqual({
      listTagsForResource: [{ key: 'env', value: 'prod' }],
    });
    const bad = await account.root.fails(
      `mutation($a: String!) { tagResource(resourceArn: $a, tags: [{key: "aws:x", value: "1"}]) }`,
      { a: arnOf('p-a') },
      'BAD_USER_INPUT',
    );
    expect(bad.message).toMatch(/tags\[0\]\.key/);
    await account.root.fails(TAGS, { a: arnOf('no-such') }, 'NOT_FOUND');
  });

  it('deletes a pipeline leaving nothing reachable under its name', async () => {
    await account.root.ok(DELETE, { n: 'p-a' });
    await account.root.fails(GET, { n: 'p-a' }, 'NOT_FOUND');
    await account.root.fails(GET, { n: 'p-a', v: 1 }, 'NOT_FOUND');
    await account.root.fails(TAGS, { a: arnOf('p-a') }, 'NOT_FOUND');
    await account.root.fails(DELETE, { n: 'p-a' }, 'NOT_FOUND');
    // A new pipeline under the name starts over, untagged.
    const { createPipeline } = await account.root.ok<{ createPipeline: PipelineData }>(CREATE, {
      p: { ...fixture('minimal'), name: 'p-a' },
    });
    expect(createPipeline.version).toBe(1);
    expect(await account.root.ok(TAGS, { a: arnOf('p-a') })).toEqual({ listTagsForResource: [] });
  });
});
