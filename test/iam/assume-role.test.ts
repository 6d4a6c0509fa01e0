import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalPipeline, CREATE_PIPELINE } from '../support/executions';
import { allow, newAccount, userWithPolicy, type TestAccount } from '../support/factories';
import type { GraphQLClient } from '../support/graphql-client';
import { startTestServer, type TestServer } from '../support/test-server';

/** assumeRole (issue 9, point 2): trust and identity policies, sessions, revocation, audit. */
let server: TestServer;
let a: TestAccount; // owns the roles
let b: TestAccount; // its users assume them
let db: Client;

const ASSUME = `mutation($r: String!, $s: String!, $x: String, $d: Int, $p: JSON) {
  assumeRole(roleArn: $r, roleSessionName: $s, externalId: $x, durationSeconds: $d, policy: $p) {
    accessToken expiresAt principal { arn accountId type userName } } }`;
const WHO = `{ callerIdentity { arn accountId type } }`;
const LIST = `{ pipelines { nodes { name } } }`;
const CREATE_ROLE = `mutation($n: String!, $d: JSON!, $m: Int) {
  createRole(roleName: $n, assumeRolePolicyDocument: $d, maxSessionDuration: $m) { arn } }`;
const PUT_ROLE_POLICY = `mutation($n: String!, $d: JSON!) {
  putRolePolicy(roleName: $n, policyName: "perms", policyDocument: $d) }`;

interface Assumed {
  assumeRole: {
    accessToken: string;
    expiresAt: string;
    principal: { arn: string; accountId: string; type: string };
  };
}

function trustStatement(principal: unknown, condition?: object): object {
  return {
    Effect: 'Allow',
    Principal: { AWS: principal },
    Action: 'sts:AssumeRole',
    ...(condition ? { Condition: condition } : {}),
  };
}

function trust(...statements: object[]): object {
  return { Version: '2012-10-17', Statement: statements };
}

async function role(
  owner: TestAccount,
  name: string,
  trustPolicy: object,
  permissions: object,
  maxSessionDuration?: number,
): Promise<string> {
  const { createRole } = await owner.root.ok<{ createRole: { arn: string } }>(CREATE_ROLE, {
    n: name,
    d: trustPolicy,
    m: maxSessionDuration,
  });
  await owner.root.ok(PUT_ROLE_POLICY, { n: name, d: permissions });
  return createRole.arn;
}

async function assume(
  caller: GraphQLClient,
  roleArn: string,
  extra: Record<string, unknown> = {},
): Promise<GraphQLClient> {
  const { assumeRole } = await caller.ok<Assumed>(ASSUME, { r: roleArn, s: 'session-1', ...extra });
  return caller.withToken(assumeRole.accessToken);
}

async function createPipeline(owner: TestAccount, name: string): Promise<void> {
  await owner.root.ok(CREATE_PIPELINE, { p: approvalPipeline(name) });
}

async function auditEvents(accountId: string, eventName: string): Promise<Record<string, unknown>[]> {
  const { rows } = await db.query<{ event: Record<string, unknown> }>(
    'SELECT event FROM audit_events WHERE account_id = $1 AND event_name = $2 ORDER BY seq',
    [accountId, eventName],
  );
  return rows.map((r) => r.event);
}

const assumeAllowed = (roleArn: string): object => allow('sts:AssumeRole', roleArn);

beforeAll(async () => {
  server = await startTestServer();
  a = await newAccount(server, 'owner');
  b = await newAccount(server, 'partner');
  db = new Client({ connectionString: server.databaseUrl });
  await db.connect();
  await createPipeline(a, 'rel');
  await createPipeline(b, 'mine');
});
afterAll(async () => {
  await db.end();
  await server.stop();
});

describe('assumeRole across accounts', () => {
  it("acts as the role's session in the role's account with the role's permissions only, never the caller's", async () => {
    const roleArn = await role(
      a,
      'Reader',
      trust(trustStatement(b.accountId)),
      allow('codepipeline:ListPipelines'),
    );
    // The caller may do everything in its own account; the session may do none of it.
    const carol = await userWithPolicy(server, b, {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 'codepipeline:*', Resource: '*' },
        { Effect: 'Allow', Action: 'sts:AssumeRole', Resource: roleArn },
      ],
    });
    const { assumeRole } = await carol.ok<Assumed>(ASSUME, { r: roleArn, s: 'carol-reads' });
    expect(assumeRole.principal).toEqual({
      arn: `arn:sluice:sts::${a.accountId}:assumed-role/Reader/carol-reads`,
      accountId: a.accountId,
      type: 'ASSUMED_ROLE',
      userName: null,
    });
    const session = carol.withToken(assumeRole.accessToken);
    expect((await session.ok<{ callerIdentity: { arn: string } }>(WHO)).callerIdentity.arn).toBe(
      assumeRole.principal.arn,
    );
    // A's pipelines, not B's.
    const { pipelines } = await session.ok<{ pipelines: { nodes: { name: string }[] } }>(LIST);
    expect(pipelines.nodes.map((p) => p.name)).toEqual(['rel']);
    // The role allows listing only; the caller's codepipeline:* does not come along.
    await session.fails(`{ pipeline(name: "rel") { name } }`, undefined, 'ACCESS_DENIED');
  });

  it("needs sts:AssumeRole in the caller's own policies and a trust policy naming it; a refusal never tells whether the role exists", async () => {
    const roleArn = await role(a, 'Trusting', trust(trustStatement(b.accountId)), allow('codepipeline:*'));
    const untrusting = await role(
      a,
      'Untrusting',
      trust(trustStatement(`arn:sluice:iam::${a.accountId}:root`)),
      allow('codepipeline:*'),
    );
    const missing = `arn:sluice:iam::${a.accountId}:role/NoSuchRole`;
    const noPermission = await userWithPolicy(server, b, allow('codepipeline:*'));
    const permitted = await userWithPolicy(
      server,
      b,
      allow('sts:AssumeRole', `arn:sluice:iam::${a.accountId}:role/*`),
    );

    const messages: string[] = [];
    for (const [caller, target] of [
      [noPermission, roleArn],
      [permitted, untrusting],
      [permitted, missing],
    ] as const) {
      const error = await caller.fails(ASSUME, { r: target, s: 'try' }, 'ACCESS_DENIED');
      messages.push(error.message.replace(target, '<role>').replace(/user\/\w+/, 'user/<caller>'));
      expect(JSON.stringify(error).replaceAll(target, '<role>')).not.toMatch(/trust|exist|condition/i);
    }
    expect(new Set(messages).size).toBe(1);
    // The caller's administrators see an explanation — the same for a missing and an untrusting role.
    const explained: string[] = [];
    for (const target of [untrusting, missing]) {
      const error = await permitted.fails(ASSUME, { r: target, s: 'try' }, 'ACCESS_DENIED');
      const { authorizationDecision } = await b.root.ok<{ authorizationDecision: { reason: string } }>(
        `query($id: String!) { authorizationDecision(decisionId: $id) { reason } }`,
        { id: error.extensions?.decisionId },
      );
      explained.push(authorizationDecision.reason);
    }
    expect(explained[0]).toBe(explained[1]);
    expect(messages[0]).toBe(
      `arn:sluice:iam::${b.accountId}:user/<caller> is not authorized to perform sts:AssumeRole on <role>`,
    );
    await assume(permitted, roleArn);
  });

  it('honours the ExternalId, source address and principal tag conditions of the trust policy', async () => {
    const roleArn = await role(
      a,
      'Conditional',
      trust(
        trustStatement(b.accountId, {
          StringEquals: { 'sts:ExternalId': 'ext-4711', 'aws:PrincipalTag/team': 'release' },
          IpAddress: { 'aws:SourceIp': '127.0.0.0/8' },
        }),
      ),
      allow('codepipeline:ListPipelines'),
    );
    const elsewhere = await role(
      a,
      'FromElsewhere',
      trust(trustStatement(b.accountId, { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } })),
      allow('codepipeline:ListPipelines'),
    );
    const userName = 'tagged-dave';
    const dave = await userWithPolicy(server, b, allow('sts:AssumeRole', '*'), userName);
    await b.root.fails(ASSUME, { r: roleArn, s: 'root' }, 'ACCESS_DENIED');
    // Without the tag, or without / with the wrong external id: refused.
    await dave.fails(ASSUME, { r: roleArn, s: 'session-x', x: 'ext-4711' }, 'ACCESS_DENIED');
    await b.root.ok(
      `mutation($u: String!) { tagUser(userName: $u, tags: [{ key: "team", value: "release" }]) }`,
      {
        u: userName.toUpperCase(), // stored on the canonical ARN whatever the spelling
      },
    );

    await dave.fails(ASSUME, { r: roleArn, s: 'session-x' }, 'ACCESS_DENIED');
    await dave.fails(ASSUME, { r: roleArn, s: 'session-x', x: 'ext-0000' }, 'ACCESS_DENIED');
    await assume(dave, roleArn, { x: 'ext-4711' });
    // This test talks from 127.0.0.1, outside 10.0.0.0/8.
    await dave.fails(ASSUME, { r: elsewhere, s: 'session-x' }, 'ACCESS_DENIED');
  });

  it('lasts 15 minutes to the role maximum as asked, never clamped; a chained session at most an hour', async () => {
    const roleArn = await role(
      a,
      'Long',
      trust(trustStatement(b.accountId)),
      allow('sts:AssumeRole', '*'),
      7200,
    );
    const hop = await role(
      a,
      'Hop',
      trust(trustStatement(`arn:sluice:iam::${a.accountId}:role/Long`)),
      allow('codepipeline:ListPipelines'),
      43_200,
    );
    const erin = await userWithPolicy(server, b, allow('sts:AssumeRole', '*'));
    const started = Date.now();
    const { assumeRole } = await erin.ok<Assumed>(ASSUME, { r: roleArn, s: 'long', d: 7200 });
    const lasts = Date.parse(assumeRole.expiresAt) - started;
    expect(lasts).toBeGreaterThan(7190_000);
    expect(lasts).toBeLessThan(7210_000);
    const short = await erin.ok<Assumed>(ASSUME, { r: roleArn, s: 'short', d: 900 });
    expect(Date.parse(short.assumeRole.expiresAt) - started).toBeLessThan(1000_000);

    for (const [d, field] of [
      [899, 'durationSeconds'],
      [7201, 'durationSeconds'],
      [50_000, 'durationSeconds'],
    ] as const) {
      const error = await erin.fails(ASSUME, { r: roleArn, s: 'session-x', d }, 'BAD_USER_INPUT');
      expect(error.message).toContain(field);
    }
    const session = erin.withToken(assumeRole.accessToken);
    const chained = await session.fails(ASSUME, { r: hop, s: 'hop', d: 7200 }, 'BAD_USER_INPUT');
    expect(chained.message).toMatch(/another role lasts at most 3600 seconds/);
    const hopped = await session.ok<Assumed>(ASSUME, { r: hop, s: 'hop' });
    expect(hopped.assumeRole.principal.arn).toBe(`arn:sluice:sts::${a.accountId}:assumed-role/Hop/hop`);
    await b.root.fails(ASSUME, { r: roleArn, s: 'bad name!' }, 'BAD_USER_INPUT');
    await erin.fails(ASSUME, { r: 'arn:sluice:iam::12:role/x', s: 'ok' }, 'BAD_USER_INPUT');
  });

  it('narrows the session to its session policy, which never widens it', async () => {
    const roleArn = await role(
      a,
      'Broad',
      trust(trustStatement(b.accountId)),
      allow('codepipeline:ListPipelines'),
    );
    const frank = await userWithPolicy(server, b, allow('sts:AssumeRole', '*'));
    const narrowed = await assume(frank, roleArn, { p: allow('codepipeline:GetPipeline') });
    // Neither ListPipelines (the session policy does not allow it) nor GetPipeline (the role does not).
    const { pipelines } = await narrowed.ok<{ pipelines: { nodes: unknown[] } }>(LIST);
    expect(pipelines.nodes).toEqual([]);
    await narrowed.fails(`{ pipeline(name: "rel") { name } }`, undefined, 'ACCESS_DENIED');
    const full = await assume(frank, roleArn, { p: allow('codepipeline:*') });
    expect((await full.ok<{ pipelines: { nodes: unknown[] } }>(LIST)).pipelines.nodes).toHaveLength(1);
    const bad = await frank.fails(
      ASSUME,
      { r: roleArn, s: 'session-x', p: { Statement: 'nope' } },
      'BAD_USER_INPUT',
    );
    expect(bad.message).toContain('policy');
  });

  it('trusts a user of its own account named directly without any identity policy, and the account only with one', async () => {
    const own = await userWithPolicy(server, a, undefined, 'grace');
    const direct = await role(
      a,
      'Direct',
      trust(trustStatement(`arn:sluice:iam::${a.accountId}:user/grace`)),
      allow('codepipeline:ListPipelines'),
    );
    const viaAccount = await role(
      a,
      'ViaAccount',
      trust(trustStatement(a.accountId)),
      allow('codepipeline:ListPipelines'),
    );
    await assume(own, direct);
    await own.fails(ASSUME, { r: viaAccount, s: 'session-x' }, 'ACCESS_DENIED');
  });
});

describe('role sessions end with their role', () => {
  it('stops working once the role is deleted, and loses a detached permission at once', async () => {
    const roleArn = await role(
      a,
      'Doomed',
      trust(trustStatement(b.accountId)),
      allow('codepipeline:ListPipelines'),
    );
    const henry = await userWithPolicy(server, b, assumeAllowed(roleArn));
    const session = await assume(henry, roleArn);
    expect((await session.ok<{ pipelines: { nodes: unknown[] } }>(LIST)).pipelines.nodes).toHaveLength(1);
    await a.root.ok(
      `mutation { putRolePolicy(roleName: "Doomed", policyName: "perms", policyDocument: ${JSON.stringify(
        JSON.stringify(allow('codepipeline:GetPipeline')),
      )}) }`,
    );
    expect((await session.ok<{ pipelines: { nodes: unknown[] } }>(LIST)).pipelines.nodes).toEqual([]);
    await a.root.ok(`mutation { deleteRole(roleName: "Doomed") }`);
    // Within 5 s on any instance (DESIGN §5); at once on the one that deleted it.
    const deadline = Date.now() + 5_000;
    while ((await session.request(WHO)).errors?.[0]?.extensions?.code !== 'UNAUTHENTICATED') {
      expect(Date.now(), 'the session still works 5 s after its role was deleted').toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 50));
    }
    // A role of the same name created again is another role: the old session stays dead.
    await role(a, 'Doomed', trust(trustStatement(b.accountId)), allow('codepipeline:ListPipelines'));
    await session.fails(WHO, undefined, 'UNAUTHENTICATED');
  });
});

describe('the audit trail of role sessions', () => {
  it("records assumeRole in the caller's and the role's account, and the session's calls with their session context", async () => {
    const roleArn = await role(
      a,
      'Audited',
      trust(trustStatement(b.accountId)),
      allow('codepipeline:ListPipelines'),
    );
    const ivy = await userWithPolicy(server, b, assumeAllowed(roleArn), 'ivy');
    const session = await assume(ivy, roleArn, { s: 'ivy-audit' });
    await session.ok(LIST);
    const ivyArn = `arn:sluice:iam::${b.accountId}:user/ivy`;
    const inB = (await auditEvents(b.accountId, 'AssumeRole')).filter(
      (e) => (e.userIdentity as { arn: string }).arn === ivyArn,
    );
    const inA = (await auditEvents(a.accountId, 'AssumeRole')).filter(
      (e) => (e.userIdentity as { arn: string }).arn === ivyArn,
    );
    expect(inB).toHaveLength(1);
    expect(inA).toHaveLength(1);
    expect(inA[0]).toMatchObject({
      requestID: inB[0].requestID,
      recipientAccountId: a.accountId,
      errorCode: null,
    });
    expect(JSON.stringify(inA[0])).not.toContain('eyJ'); // the session token is never stored
    const listed = (await auditEvents(a.accountId, 'ListPipelines')).filter(
      (e) => (e.userIdentity as { type: string }).type === 'AssumedRole',
    );
    const identity = listed.at(-1)?.userIdentity as Record<string, unknown>;
    expect(identity).toMatchObject({
      type: 'AssumedRole',
      arn: `arn:sluice:sts::${a.accountId}:assumed-role/Audited/ivy-audit`,
      accountId: a.accountId,
      sessionContext: {
        sessionIssuer: { type: 'Role', arn: roleArn, accountId: a.accountId, userName: 'Audited' },
        sourceIdentity: ivyArn,
      },
    });
    // And through the API, as A's administrator reads its trail.
    const { auditEvents: trail } = await a.root.ok<{
      auditEvents: { nodes: { userIdentity: { type: string; sessionContext: unknown } }[] };
    }>(
      `query($p: String!) { auditEvents(filter: { principalArn: $p, eventName: "ListPipelines" }, first: 1) {
        nodes { userIdentity { type sessionContext { sessionIssuer { type arn userName } sourceIdentity } } } } }`,
      { p: `arn:sluice:sts::${a.accountId}:assumed-role/Audited/ivy-audit` },
    );
    expect(trail.nodes[0].userIdentity).toEqual({
      type: 'AssumedRole',
      sessionContext: {
        sessionIssuer: { type: 'Role', arn: roleArn, userName: 'Audited' },
        sourceIdentity: ivyArn,
      },
    });
    // A refused attempt on an existing role is in both trails too.
    const stranger = await userWithPolicy(server, b, undefined, 'stranger');
    await stranger.fails(ASSUME, { r: roleArn, s: 'nope' }, 'ACCESS_DENIED');
    const refused = (await auditEvents(a.accountId, 'AssumeRole')).filter(
      (e) => (e.userIdentity as { arn: string }).arn === `arn:sluice:iam::${b.accountId}:user/stranger`,
    );
    expect(refused).toMatchObject([{ errorCode: 'ACCESS_DENIED' }]);
  });
});

describe('role and user tags', () => {
  it('tags roles and users through iam: actions only, and a role created again does not inherit them', async () => {
    await role(a, 'Tagged', trust(trustStatement(b.accountId)), allow('codepipeline:ListPipelines'));
    await a.root.ok(`mutation { tagRole(roleName: "tagged", tags: [{ key: "env", value: "prod" }]) }`);
    const tags = async (): Promise<unknown> =>
      (await a.root.ok<{ roleTags: unknown }>(`{ roleTags(roleName: "Tagged") { key value } }`)).roleTags;
    expect(await tags()).toEqual([{ key: 'env', value: 'prod' }]);
    // codepipeline:TagResource never reaches an IAM entity.
    const tagger = await userWithPolicy(server, a, allow('codepipeline:*'));
    await tagger.fails(
      `mutation($r: String!) { tagResource(resourceArn: $r, tags: [{ key: "env", value: "dev" }]) }`,
      { r: `arn:sluice:iam::${a.accountId}:role/Tagged` },
      'NOT_FOUND',
    );
    await tagger.fails(
      `mutation { tagRole(roleName: "Tagged", tags: [{ key: "env", value: "dev" }]) }`,
      undefined,
      'ACCESS_DENIED',
    );
    await a.root.ok(`mutation { untagRole(roleName: "Tagged", tagKeys: ["ENV"]) }`);
    expect(await tags()).toEqual([]);
    await a.root.ok(`mutation { tagRole(roleName: "Tagged", tags: [{ key: "env", value: "prod" }]) }`);
    await a.root.ok(`mutation { deleteRole(roleName: "Tagged") }`);
    await role(a, 'Tagged', trust(trustStatement(b.accountId)), allow('codepipeline:ListPipelines'));
    expect(await tags()).toEqual([]);
  });
});
