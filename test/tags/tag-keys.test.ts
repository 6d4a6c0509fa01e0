import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAccount, userWithPolicy, type TestAccount } from '../support/factories';
import { startTestServer, type TestServer } from '../support/test-server';

/**
 * Tag keys as IAM keeps them: stored with the spelling given, unique without regard to case
 * (a key differing only in case replaces the old one, value and spelling), removed by any
 * spelling, and matched by `aws:ResourceTag/<key>` without regard to the key's case.
 */

let server: TestServer;
let account: TestAccount;
const minimal = JSON.parse(
  readFileSync(path.join(__dirname, '../fixtures/pipelines/minimal.json'), 'utf8'),
) as Record<string, unknown>;
const pipelineArn = (name: string): string => `arn:sluice:codepipeline:local:${account.accountId}:${name}`;
const LIST = `query($r: String!) { listTagsForResource(resourceArn: $r) { key value } }`;
const TAG = `mutation($r: String!, $t: [TagInput!]!) { tagResource(resourceArn: $r, tags: $t) }`;
const UNTAG = `mutation($r: String!, $k: [String!]!) { untagResource(resourceArn: $r, tagKeys: $k) }`;

beforeAll(async () => {
  server = await startTestServer({ SLUICE_WORKER_CONCURRENCY: '0', SLUICE_GIT_LOCAL_ROOTS: '/srv/git' });
  account = await newAccount(server, 'tags');
  await account.root.ok(
    `mutation($p: PipelineDeclarationInput!, $t: [TagInput!]) { createPipeline(pipeline: $p, tags: $t) { name } }`,
    { p: { ...minimal, name: 'web' }, t: [{ key: 'CostCenter', value: 'A1' }] },
  );
});
afterAll(() => server.stop());

describe('resource tag keys', () => {
  it('keep the spelling they were given', async () => {
    expect(await account.root.ok(LIST, { r: pipelineArn('web') })).toEqual({
      listTagsForResource: [{ key: 'CostCenter', value: 'A1' }],
    });
  });

  it('a key differing only in case replaces the old tag, value and spelling', async () => {
    await account.root.ok(TAG, { r: pipelineArn('web'), t: [{ key: 'costcenter', value: 'B2' }] });
    expect(await account.root.ok(LIST, { r: pipelineArn('web') })).toEqual({
      listTagsForResource: [{ key: 'costcenter', value: 'B2' }],
    });
  });

  it('one request may not name a key twice in different cases', async () => {
    const error = await account.root.fails(
      TAG,
      {
        r: pipelineArn('web'),
        t: [
          { key: 'Team', value: 'x' },
          { key: 'TEAM', value: 'y' },
        ],
      },
      'BAD_USER_INPUT',
    );
    expect(error.extensions?.problems).toEqual([
      { path: 'tags[1].key', message: 'duplicates the key "TEAM"' },
    ]);
  });

  it('untagging by any spelling removes the tag', async () => {
    await account.root.ok(TAG, { r: pipelineArn('web'), t: [{ key: 'Owner', value: 'ops' }] });
    await account.root.ok(UNTAG, { r: pipelineArn('web'), k: ['OWNER'] });
    expect(await account.root.ok(LIST, { r: pipelineArn('web') })).toEqual({
      listTagsForResource: [{ key: 'costcenter', value: 'B2' }],
    });
  });

  it('aws:ResourceTag/<key> matches the key without regard to case', async () => {
    await account.root.ok(TAG, { r: pipelineArn('web'), t: [{ key: 'Env', value: 'prod' }] });
    const reader = await userWithPolicy(server, account, {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 'codepipeline:GetPipeline',
          Resource: '*',
          Condition: { StringEquals: { 'aws:ResourceTag/ENV': 'prod' } },
        },
      ],
    });
    await reader.ok(`{ pipeline(name: "web") { name } }`);
    await account.root.ok(TAG, { r: pipelineArn('web'), t: [{ key: 'env', value: 'dev' }] });
    await reader.fails(`{ pipeline(name: "web") { name } }`, undefined, 'ACCESS_DENIED');
  });

  it('callers setting tags of one resource at once all succeed, and together stay within the limit', async () => {
    await account.root.ok(
      `mutation($p: PipelineDeclarationInput!) { createPipeline(pipeline: $p) { name } }`,
      { p: { ...minimal, name: 'busy' } },
    );
    const r = pipelineArn('busy');
    // The same key from many callers at once: each replaces the last, none fails.
    await Promise.all(
      Array.from({ length: 12 }, (_, i) => account.root.ok(TAG, { r, t: [{ key: 'Team', value: `t${i}` }] })),
    );
    const { listTagsForResource: one } = await account.root.ok<{ listTagsForResource: unknown[] }>(LIST, {
      r,
    });
    expect(one).toHaveLength(1);
    // 49 more keys fit and a 51st does not, however the writes interleave.
    const adds = Array.from({ length: 52 }, (_, i) =>
      account.root.request(TAG, { r, t: [{ key: `k${i}`, value: 'v' }] }),
    );
    const outcomes = await Promise.all(adds);
    const refused = outcomes.filter((o) => o.errors?.length);
    expect(refused.map((o) => o.errors?.[0].extensions?.code)).toEqual([
      'LIMIT_EXCEEDED',
      'LIMIT_EXCEEDED',
      'LIMIT_EXCEEDED',
    ]);
    const { listTagsForResource: all } = await account.root.ok<{ listTagsForResource: unknown[] }>(LIST, {
      r,
    });
    expect(all).toHaveLength(50);
  });
});
