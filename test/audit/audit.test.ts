import { Client } from 'pg';
import { eventHash as hashOf } from '../../src/audit/audit-hash';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allow,
  LOGIN,
  newAccount,
  platformAdmin,
  signIn,
  userWithPolicy,
  type TestAccount,
} from '../support/factories';
import type { GraphQLClient } from '../support/graphql-client';
import { startTestServer, type TestServer } from '../support/test-server';

let server: TestServer;
let account: TestAccount;
let other: TestAccount;
let db: Client;

const EVENTS = `query($f: AuditEventFilter, $first: Int, $after: String, $a: String) {
  auditEvents(filter: $f, first: $first, after: $after, accountId: $a) {
    nodes { eventId eventTime eventSource eventName readOnly errorCode errorMessage requestId recipientAccountId
      sourceIpAddress requestParameters responseElements userIdentity { type arn accountId userName }
      resources { arn type } cloudTrailEvent }
    pageInfo { hasNextPage endCursor }
  }
}`;
const VALIDATE = `query($a: String) { validateAuditTrail(accountId: $a) { valid checkedEvents firstBrokenEventId } }`;

interface Event {
  eventId: string;
  eventName: string;
  readOnly: boolean;
  errorCode: string | null;
  errorMessage: string | null;
  requestParameters: Record<string, unknown> | null;
  responseElements: Record<string, unknown> | null;
  userIdentity: { type: string; arn: string | null; accountId: string | null; userName: string | null };
  resources: { arn: string; type: string }[];
  recipientAccountId: string;
  cloudTrailEvent: Record<string, unknown>;
}

async function events(
  client: GraphQLClient,
  filter: Record<string, unknown> = {},
  first = 100,
  accountId?: string,
): Promise<Event[]> {
  const data = await client.ok<{ auditEvents: { nodes: Event[] } }>(EVENTS, {
    f: filter,
    first,
    a: accountId,
  });
  return data.auditEvents.nodes;
}

async function validate(
  accountId = account.accountId,
): Promise<{ valid: boolean; checkedEvents: number; firstBrokenEventId: string | null }> {
  const admin = await platformAdmin(server);
  return (
    await admin.ok<{
      validateAuditTrail: { valid: boolean; checkedEvents: number; firstBrokenEventId: string | null };
    }>(VALIDATE, { a: accountId })
  ).validateAuditTrail;
}

/** As a superuser with triggers bypassed: what an attacker with database access could do. */
async function tamper(sql: string, params: unknown[] = []): Promise<void> {
  await db.query('BEGIN');
  await db.query('SET LOCAL session_replication_role = replica');
  await db.query(sql, params);
  await db.query('COMMIT');
}

beforeAll(async () => {
  // The rollback test's pipeline names a local repository; it is never fetched.
  server = await startTestServer({ SLUICE_GIT_LOCAL_ROOTS: '/srv' });
  db = new Client({ connectionString: server.databaseUrl });
  await db.connect();
  account = await newAccount(server, 'audited');
  other = await newAccount(server, 'other');
});
afterAll(async () => {
  await db.end();
  await server.stop();
});

describe('what is recorded', () => {
  it('a mutation: its name, caller, parameters without secrets, response without secrets, resources', async () => {
    await account.root.ok(
      `mutation { createUser(userName: "audit-alice", password: "very-secret-password-1") { userName } }`,
    );
    const [event] = await events(account.root, { eventName: 'CreateUser' });
    expect(event).toMatchObject({
      eventName: 'CreateUser',
      readOnly: false,
      errorCode: null,
      recipientAccountId: account.accountId,
      userIdentity: {
        type: 'Root',
        arn: `arn:sluice:iam::${account.accountId}:root`,
        accountId: account.accountId,
      },
      requestParameters: { userName: 'audit-alice', password: 'HIDDEN_DUE_TO_SECURITY_REASONS' },
      responseElements: { userName: 'audit-alice' },
      resources: [
        { arn: `arn:sluice:iam::${account.accountId}:user/audit-alice`, type: 'Sluice::IAM::User' },
      ],
    });
    expect(event.cloudTrailEvent).toMatchObject({
      eventID: event.eventId,
      eventSource: 'iam.sluice',
      eventVersion: '1.08',
    });
    // No secret anywhere in the table: not in parameters, not in responses.
    const { createAccessKey } = await account.root.ok<{ createAccessKey: { secretAccessKey: string } }>(
      `mutation { createAccessKey(userName: "audit-alice") { accessKeyId secretAccessKey } }`,
    );
    const dump = await db.query(`SELECT string_agg(event::text, ' ') AS all FROM audit_events`);
    expect(dump.rows[0].all).not.toContain('very-secret-password-1');
    expect(dump.rows[0].all).not.toContain(createAccessKey.secretAccessKey);
    expect(dump.rows[0].all).not.toContain(account.rootPassword);
  });

  it('a query, as read-only', async () => {
    await account.root.ok(`{ user(userName: "audit-alice") { userName } }`);
    const [event] = await events(account.root, { eventName: 'GetUser' });
    expect(event).toMatchObject({ readOnly: true, responseElements: null, errorCode: null });
  });

  it('a denied call, with the denied principal', async () => {
    const denied = await userWithPolicy(server, account, allow('iam:GetUser'), 'audit-denied');
    await denied.fails(`mutation { deleteUser(userName: "audit-alice") }`, undefined, 'ACCESS_DENIED');
    const [event] = await events(account.root, { errorCode: 'ACCESS_DENIED' });
    expect(event).toMatchObject({
      eventName: 'DeleteUser',
      userIdentity: { type: 'IAMUser', arn: `arn:sluice:iam::${account.accountId}:user/audit-denied` },
    });
    expect(event.cloudTrailEvent.errorMessage).toMatch(/not authorized to perform iam:DeleteUser/);
  });

  it('failed and successful sign-ins, in the account signed in to', async () => {
    await server.client.fails(
      LOGIN,
      { accountId: account.accountId, userName: 'audit-alice', password: 'wrong-password' },
      'UNAUTHENTICATED',
    );
    await signIn(server.client, account.accountId, 'audit-alice', 'very-secret-password-1');
    const logins = await events(account.root, { eventName: 'Login' });
    expect(logins.slice(0, 2).map((e) => [e.errorCode, e.userIdentity.userName])).toEqual([
      [null, 'audit-alice'],
      ['UNAUTHENTICATED', 'audit-alice'],
    ]);
    expect(JSON.stringify(logins)).not.toContain('wrong-password');
    expect(logins[0].responseElements).toMatchObject({ accessToken: 'HIDDEN_DUE_TO_SECURITY_REASONS' });
  });

  it('a call that fails validation is recorded with its error, and changes nothing', async () => {
    await account.root.fails(
      `mutation { createUser(userName: "bad name") { userName } }`,
      undefined,
      'BAD_USER_INPUT',
    );
    const [event] = await events(account.root, { errorCode: 'BAD_USER_INPUT' });
    expect(event).toMatchObject({ eventName: 'CreateUser', requestParameters: { userName: 'bad name' } });
  });

  it('a mutation that rolls back leaves no change but a failure event', async () => {
    await account.root.ok(`mutation { createGroup(groupName: "audit-group") { groupName } }`);
    await account.root.fails(
      `mutation { createGroup(groupName: "AUDIT-GROUP") { groupName } }`,
      undefined,
      'CONFLICT',
    );
    const created = await events(account.root, { eventName: 'CreateGroup' });
    expect(created.map((e) => e.errorCode)).toEqual(['CONFLICT', null]);
  });

  it('if the event cannot be written, the call fails and its change is not kept', async () => {
    await db.query(`ALTER TABLE audit_events ADD CONSTRAINT no_tags CHECK (event_name <> 'TagResource')`);
    try {
      await account.root.ok(
        `mutation($p: PipelineDeclarationInput!) { createPipeline(pipeline: $p) { name } }`,
        {
          p: {
            name: 'audit-pipe',
            stages: [
              {
                name: 'Source',
                actions: [
                  {
                    name: 'S',
                    actionTypeId: { category: 'Source', owner: 'Sluice', provider: 'Git', version: '1' },
                    configuration: { RepositoryUrl: '/srv/r.git', BranchName: 'main' },
                    outputArtifacts: [{ name: 'Out' }],
                  },
                ],
              },
              {
                name: 'Build',
                actions: [
                  {
                    name: 'B',
                    actionTypeId: { category: 'Build', owner: 'Sluice', provider: 'Shell', version: '1' },
                    configuration: { Commands: 'true' },
                    inputArtifacts: [{ name: 'Out' }],
                  },
                ],
              },
            ],
          },
        },
      );
      const arn = `arn:sluice:codepipeline:local:${account.accountId}:audit-pipe`;
      const error = await account.root.fails(
        `mutation($a: String!) { tagResource(resourceArn: $a, tags: [{key: "k", value: "v"}]) }`,
        { a: arn },
        'INTERNAL',
      );
      expect(error.message).toMatch(/audit/);
      expect(
        await account.root.ok(`query($a: String!) { listTagsForResource(resourceArn: $a) { key } }`, {
          a: arn,
        }),
      ).toEqual({ listTagsForResource: [] });
    } finally {
      await db.query(`ALTER TABLE audit_events DROP CONSTRAINT no_tags`);
    }
  });

  it('calls without a valid token go to the platform account’s trail', async () => {
    await server.client.fails(`{ pipelines { nodes { name } } }`, undefined, 'UNAUTHENTICATED');
    const admin = await platformAdmin(server);
    const [event] = await events(admin, { errorCode: 'UNAUTHENTICATED', eventName: 'ListPipelines' });
    expect(event).toMatchObject({ userIdentity: { type: 'Unknown' }, recipientAccountId: '000000000000' });
  });
});

describe('redaction', () => {
  const HIDDEN = 'HIDDEN_DUE_TO_SECURITY_REASONS';
  const stages = (repositoryUrl: string, sourceExtra: Record<string, string> = {}): unknown[] => [
    {
      name: 'Source',
      actions: [
        {
          name: 'S',
          actionTypeId: { category: 'Source', owner: 'Sluice', provider: 'Git', version: '1' },
          configuration: { RepositoryUrl: repositoryUrl, BranchName: 'main', ...sourceExtra },
          outputArtifacts: [{ name: 'Out' }],
        },
      ],
    },
    {
      name: 'Build',
      actions: [
        {
          name: 'B',
          actionTypeId: { category: 'Build', owner: 'Sluice', provider: 'Shell', version: '1' },
          configuration: { Commands: 'true' },
          inputArtifacts: [{ name: 'Out' }],
        },
      ],
    },
  ];
  const CREATE = `mutation($p: PipelineDeclarationInput!) { createPipeline(pipeline: $p) { name } }`;

  it('hides credentials inside URLs and secret-named variables, keeping the rest', async () => {
    // Port 9 on loopback refuses at once: the execution this starts fails without the network.
    await account.root.ok(CREATE, {
      p: {
        name: 'redacted-pipe',
        variables: [
          { name: 'DB_PASSWORD', defaultValue: 'variable-secret-1' },
          { name: 'REGION', defaultValue: 'eu-west-1' },
        ],
        stages: stages('https://alice:url-secret-2@127.0.0.1:9/team/app.git'),
      },
    });
    const [event] = await events(account.root, { eventName: 'CreatePipeline', errorCode: null });
    const pipeline = event.requestParameters?.pipeline as {
      variables: { name: string; defaultValue: string }[];
      stages: { actions: { configuration: Record<string, string> }[] }[];
    };
    expect(pipeline.stages[0].actions[0].configuration).toEqual({
      RepositoryUrl: `https://${HIDDEN}@127.0.0.1:9/team/app.git`,
      BranchName: 'main',
    });
    expect(pipeline.variables).toEqual([
      { name: 'DB_PASSWORD', defaultValue: HIDDEN },
      { name: 'REGION', defaultValue: 'eu-west-1' },
    ]);
  });

  it('hides values of keys named like secrets at any depth, in any spelling, configuration included', async () => {
    await account.root.fails(
      CREATE,
      {
        p: {
          name: 'redacted-pipe-2',
          stages: stages('ssh://url-secret-3@127.0.0.1:9/app.git', {
            GitHubToken: 'config-secret-4',
            api_key: 'config-secret-5',
            'Private-Key': 'config-secret-6',
            AUTHORIZATION: 'config-secret-7',
            ClientCredentials: 'config-secret-8',
            Note: 'see https://bob:url-secret-9@example.invalid/x and https://example.invalid/y',
          }),
        },
      },
      'BAD_USER_INPUT',
    );
    const [event] = await events(account.root, { eventName: 'CreatePipeline', errorCode: 'BAD_USER_INPUT' });
    const pipeline = event.requestParameters?.pipeline as {
      stages: { actions: { configuration: Record<string, string> }[] }[];
    };
    expect(pipeline.stages[0].actions[0].configuration).toEqual({
      RepositoryUrl: `ssh://${HIDDEN}@127.0.0.1:9/app.git`,
      BranchName: 'main',
      GitHubToken: HIDDEN,
      api_key: HIDDEN,
      'Private-Key': HIDDEN,
      AUTHORIZATION: HIDDEN,
      ClientCredentials: HIDDEN,
      Note: `see https://${HIDDEN}@example.invalid/x and https://example.invalid/y`,
    });
    // Nowhere in the trail, in parameters, responses or the stored records.
    const dump = await db.query(`SELECT string_agg(event::text, ' ') AS all FROM audit_events`);
    for (let i = 1; i <= 9; i++)
      expect(dump.rows[0].all).not.toMatch(new RegExp(`(url|variable|config)-secret-${i}`));
  });

  it('hides URL credentials that an error message quotes back', async () => {
    // A rejected choice is quoted in the message: the caller's own text, credentials and all.
    await account.root.fails(
      CREATE,
      {
        p: {
          name: 'redacted-pipe-3',
          executionMode: 'https://carol:msg-secret-1@example.invalid/x',
          stages: stages('https://127.0.0.1:9/a.git'),
        },
      },
      'BAD_USER_INPUT',
    );
    const [event] = await events(account.root, { eventName: 'CreatePipeline', errorCode: 'BAD_USER_INPUT' });
    expect(event.errorMessage).toContain(`https://${HIDDEN}@example.invalid/x`);
    const dump = await db.query(`SELECT string_agg(event::text, ' ') AS all FROM audit_events`);
    expect(dump.rows[0].all).not.toMatch(/msg-secret-1/);
  });
});

describe('who sees what', () => {
  it('another account sees none of these events', async () => {
    const theirs = await events(other.root);
    expect(theirs.length).toBeGreaterThan(0); // its own sign-in at least
    expect(theirs.every((e) => e.recipientAccountId === other.accountId)).toBe(true);
    expect(JSON.stringify(theirs)).not.toContain('audit-alice');
    await other.root.fails(EVENTS, { a: account.accountId }, 'ACCESS_DENIED');
  });

  it('the platform admin can look into any account', async () => {
    const admin = await platformAdmin(server);
    const seen = await events(admin, { eventName: 'CreateUser' }, 50, account.accountId);
    expect(seen.map((e) => e.requestParameters?.userName)).toContain('audit-alice');
  });

  it('AuditReadOnlyAccess lets a user search, and nothing else', async () => {
    await account.root.ok(
      `mutation { createUser(userName: "auditor", password: "auditor-password") { userName } }`,
    );
    await account.root.ok(
      `mutation { attachUserPolicy(userName: "auditor", policyArn: "arn:sluice:iam::sluice:policy/AuditReadOnlyAccess") }`,
    );
    const auditor = await signIn(server.client, account.accountId, 'auditor', 'auditor-password');
    expect((await events(auditor, { eventName: 'CreateUser' })).length).toBeGreaterThan(0);
    expect(await auditor.ok(`{ users { nodes { userName } } }`)).toEqual({ users: { nodes: [] } });
    await auditor.fails(`{ user(userName: "auditor") { userName } }`, undefined, 'ACCESS_DENIED');
  });
});

describe('search', () => {
  it('filters by principal, resource, read-only and time, newest first, in pages', async () => {
    const aliceArn = `arn:sluice:iam::${account.accountId}:user/audit-alice`;
    const byResource = await events(account.root, { resourceArn: aliceArn });
    expect(byResource.map((e) => e.eventName)).toEqual(
      expect.arrayContaining(['CreateUser', 'GetUser', 'CreateAccessKey']),
    );
    expect(byResource.every((e) => e.resources.some((r) => r.arn === aliceArn))).toBe(true);
    const byPrincipal = await events(account.root, {
      principalArn: `arn:sluice:iam::${account.accountId}:user/audit-denied`,
    });
    expect(byPrincipal.length).toBeGreaterThan(0);
    expect(
      byPrincipal.every(
        (e) => e.userIdentity.arn === `arn:sluice:iam::${account.accountId}:user/audit-denied`,
      ),
    ).toBe(true);
    expect((await events(account.root, { readOnly: true })).every((e) => e.readOnly)).toBe(true);
    expect(await events(account.root, { from: new Date(Date.now() + 60_000).toISOString() })).toEqual([]);

    const all = await events(account.root, {}, 500);
    const paged: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: {
        auditEvents: { nodes: { eventId: string }[]; pageInfo: { hasNextPage: boolean; endCursor: string } };
      } = await account.root.ok(
        `query($after: String) { auditEvents(first: 7, after: $after) { nodes { eventId } pageInfo { hasNextPage endCursor } } }`,
        { after },
      );
      paged.push(...page.auditEvents.nodes.map((n) => n.eventId));
      if (!page.auditEvents.pageInfo.hasNextPage) break;
      after = page.auditEvents.pageInfo.endCursor;
    }
    // Every event seen in one go appears in the pages, in the same order (pages may also hold
    // newer events: the searches themselves are recorded as they go).
    const ids = new Set(all.map((e) => e.eventId));
    expect(paged.filter((id) => ids.has(id))).toEqual(all.map((e) => e.eventId));
    expect(new Set(paged).size).toBe(paged.length);
    const times = all.map((e) => Date.parse(e.cloudTrailEvent.eventTime as string));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });
});

describe('append-only and tamper-evident', () => {
  it('UPDATE, DELETE and TRUNCATE fail, even for a superuser', async () => {
    await expect(db.query(`UPDATE audit_events SET event_name = 'Nothing'`)).rejects.toThrow(/append-only/);
    await expect(db.query(`DELETE FROM audit_events`)).rejects.toThrow(/append-only/);
    await expect(db.query(`TRUNCATE audit_events`)).rejects.toThrow(/append-only/);
    await expect(db.query(`TRUNCATE audit_event_resources`)).rejects.toThrow(/append-only/);
    await server.app.services.auditSealer.seal(); // so there are digests to try to delete
    await expect(db.query(`DELETE FROM audit_digests`)).rejects.toThrow(/append-only/);
    await expect(db.query(`UPDATE audit_digests SET kid = 'x'`)).rejects.toThrow(/append-only/);
  });

  it('an untouched trail validates, before and after sealing', async () => {
    expect(await validate()).toMatchObject({ valid: true, firstBrokenEventId: null });
    await server.app.services.auditSealer.seal();
    const result = await validate();
    expect(result.valid).toBe(true);
    expect(result.checkedEvents).toBeGreaterThan(10);
  });

  it('catches a row edited behind the triggers, naming it', async () => {
    const [victim] = await events(account.root, { eventName: 'CreateUser', errorCode: null });
    const { rows } = await db.query(`SELECT event FROM audit_events WHERE event_id = $1`, [victim.eventId]);
    const forged = { ...rows[0].event, sourceIPAddress: '203.0.113.9' };
    await tamper(`UPDATE audit_events SET event = $2 WHERE event_id = $1`, [victim.eventId, forged]);
    expect(await validate()).toMatchObject({ valid: false, firstBrokenEventId: victim.eventId });
    await tamper(`UPDATE audit_events SET event = $2 WHERE event_id = $1`, [victim.eventId, rows[0].event]);
    expect((await validate()).valid).toBe(true);
    // A searchable column changed to hide the event from searches is caught too.
    await tamper(`UPDATE audit_events SET principal_arn = 'arn:sluice:iam::0:user/x' WHERE event_id = $1`, [
      victim.eventId,
    ]);
    expect(await validate()).toMatchObject({ valid: false, firstBrokenEventId: victim.eventId });
    await tamper(`UPDATE audit_events SET principal_arn = $2 WHERE event_id = $1`, [
      victim.eventId,
      victim.userIdentity.arn,
    ]);
    expect((await validate()).valid).toBe(true);
  });

  it('catches a removed row, naming the event after the gap', async () => {
    const { rows } = await db.query(
      `SELECT * FROM audit_events WHERE account_id = $1 ORDER BY seq LIMIT 2 OFFSET 3`,
      [account.accountId],
    );
    const [removed, next] = rows;
    const resources = await db.query(
      `SELECT * FROM audit_event_resources WHERE account_id = $1 AND seq = $2`,
      [account.accountId, removed.seq],
    );
    await tamper(`DELETE FROM audit_event_resources WHERE account_id = $1 AND seq = $2`, [
      account.accountId,
      removed.seq,
    ]);
    await tamper(`DELETE FROM audit_events WHERE account_id = $1 AND seq = $2`, [
      account.accountId,
      removed.seq,
    ]);
    expect(await validate()).toMatchObject({ valid: false, firstBrokenEventId: next.event_id });
    // Put it back exactly.
    await tamper(`INSERT INTO audit_events SELECT * FROM json_populate_record(NULL::audit_events, $1)`, [
      JSON.stringify(removed),
    ]);
    for (const r of resources.rows) {
      await tamper(`INSERT INTO audit_event_resources VALUES ($1, $2, $3)`, [
        r.account_id,
        r.resource_arn,
        r.seq,
      ]);
    }
    expect((await validate()).valid).toBe(true);
  });

  it('catches an inserted row, even when every later hash is recomputed, against the signed digests', async () => {
    await server.app.services.auditSealer.seal();
    const { rows } = await db.query(
      `SELECT * FROM audit_events WHERE account_id = $1 ORDER BY seq DESC LIMIT 1`,
      [account.accountId],
    );
    const last = rows[0];
    // An attacker who read the code can recompute hashes.
    const eventHash = async (acct: string, seq: number, prev: string, event: unknown): Promise<string> =>
      hashOf(acct, seq, prev, JSON.stringify(event));
    // Forge an event after the sealed head, chained correctly: it verifies link by link…
    const forgedEvent = {
      ...last.event,
      eventID: '00000000-0000-4000-8000-000000000001',
      eventName: 'DeletePipeline',
    };
    const seq = Number(last.seq) + 1;
    const hash = await eventHash(account.accountId, seq, last.hash, forgedEvent);
    await tamper(
      `INSERT INTO audit_events (account_id, seq, event_id, event_time, event_name, read_only, principal_arn, error_code, event, prev_hash, hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        account.accountId,
        seq,
        forgedEvent.eventID,
        last.event_time,
        'DeletePipeline',
        false,
        last.principal_arn,
        last.error_code,
        forgedEvent,
        last.hash,
        hash,
      ],
    );
    // …but the chain head no longer agrees.
    expect((await validate()).valid).toBe(false);
    await tamper(`DELETE FROM audit_events WHERE account_id = $1 AND seq = $2`, [account.accountId, seq]);
    expect((await validate()).valid).toBe(true);

    // Rewriting history before the last digest — edit, then recompute every later hash and the
    // head — still contradicts the hash the digest signed.
    const { rows: chain } = await db.query(`SELECT * FROM audit_events WHERE account_id = $1 ORDER BY seq`, [
      account.accountId,
    ]);
    let prev = chain[4].prev_hash;
    for (const [i, row] of chain.slice(4).entries()) {
      const event = i === 0 ? { ...row.event, sourceIPAddress: '198.51.100.1' } : row.event;
      const h = await eventHash(account.accountId, Number(row.seq), prev, event);
      await tamper(
        `UPDATE audit_events SET event = $3, prev_hash = $4, hash = $5 WHERE account_id = $1 AND seq = $2`,
        [account.accountId, row.seq, event, prev, h],
      );
      prev = h;
    }
    await tamper(`UPDATE audit_chain_heads SET last_hash = $2 WHERE account_id = $1`, [
      account.accountId,
      prev,
    ]);
    const result = await validate();
    expect(result.valid).toBe(false);
    // Undo, so later tests start from a valid trail.
    for (const row of chain.slice(4)) {
      await tamper(
        `UPDATE audit_events SET event = $3, prev_hash = $4, hash = $5 WHERE account_id = $1 AND seq = $2`,
        [account.accountId, row.seq, row.event, row.prev_hash, row.hash],
      );
    }
    await tamper(`UPDATE audit_chain_heads SET last_hash = $2 WHERE account_id = $1`, [
      account.accountId,
      chain.at(-1).hash,
    ]);
    expect((await validate()).valid).toBe(true);
  });

  it('catches an edited digest', async () => {
    const { rows } = await db.query(
      `SELECT * FROM audit_digests WHERE account_id = $1 ORDER BY digest_seq LIMIT 1`,
      [account.accountId],
    );
    await tamper(
      `UPDATE audit_digests SET created_at = created_at + interval '1 second' WHERE account_id = $1 AND digest_seq = 1`,
      [account.accountId],
    );
    expect((await validate()).valid).toBe(false);
    await tamper(`UPDATE audit_digests SET created_at = $2 WHERE account_id = $1 AND digest_seq = 1`, [
      account.accountId,
      rows[0].created_at,
    ]);
    expect((await validate()).valid).toBe(true);
  });
});

describe('only the owner role’s functions change the trail', () => {
  it('the old session setting no longer lets a DELETE through', async () => {
    await db.query('BEGIN');
    try {
      await db.query(`SET LOCAL sluice.audit_prune = 'on'`);
      await expect(
        db.query(`DELETE FROM audit_events WHERE account_id = $1`, [account.accountId]),
      ).rejects.toThrow(/append-only/);
    } finally {
      await db.query('ROLLBACK');
    }
  });

  it('audit_chain_heads is guarded like the events: no rewind, no jump, no delete, no truncate', async () => {
    const { rows } = await db.query(`SELECT * FROM audit_chain_heads WHERE account_id = $1`, [
      account.accountId,
    ]);
    const head = rows[0];
    await expect(
      db.query(`UPDATE audit_chain_heads SET last_seq = last_seq - 1 WHERE account_id = $1`, [
        account.accountId,
      ]),
    ).rejects.toThrow(/through audit_append/);
    // Even one step forward, from its own hash, is refused outside audit_append.
    await expect(
      db.query(
        `UPDATE audit_chain_heads SET last_seq = last_seq + 1, prev_hash = last_hash, last_hash = repeat('a', 64) WHERE account_id = $1`,
        [account.accountId],
      ),
    ).rejects.toThrow(/through audit_append/);
    await expect(
      db.query(`DELETE FROM audit_chain_heads WHERE account_id = $1`, [account.accountId]),
    ).rejects.toThrow(/through audit_append/);
    await expect(db.query(`TRUNCATE audit_chain_heads`)).rejects.toThrow(/append-only/);
    await expect(
      db.query(
        `INSERT INTO audit_chain_heads (account_id, last_seq, last_hash) VALUES ('999999999999', 5, $1)`,
        ['b'.repeat(64)],
      ),
    ).rejects.toThrow(/through audit_append/);
    const after = await db.query(`SELECT * FROM audit_chain_heads WHERE account_id = $1`, [
      account.accountId,
    ]);
    expect(after.rows[0]).toEqual(head);
    expect((await validate()).valid).toBe(true);
  });

  it('a least-privilege application role reads the trail, and prunes it only through audit_prune', async () => {
    const pruned = await newAccount(server, 'pruned');
    await pruned.root.ok(`mutation { createGroup(groupName: "g1") { groupName } }`);
    await server.app.services.auditSealer.seal();
    const role = `sluice_app_${Math.random().toString(36).slice(2, 10)}`;
    // The production setup of docs/audit.md: a role that owns nothing and is granted this much.
    await db.query(`CREATE ROLE ${role} LOGIN PASSWORD 'app-role-password'`);
    await db.query(
      `GRANT SELECT ON audit_events, audit_event_resources, audit_chain_heads, audit_digests TO ${role}`,
    );
    await db.query(`GRANT INSERT ON audit_digests TO ${role}`);
    await db.query(
      `GRANT EXECUTE ON FUNCTION audit_append(text[], uuid[], timestamptz[], text[], boolean[], text[], text[], json[], text[], integer[], text[]), audit_prune(text, timestamptz, integer, text) TO ${role}`,
    );
    const url = new URL(server.databaseUrl);
    url.username = role;
    url.password = 'app-role-password';
    const app = new Client({ connectionString: url.toString() });
    await app.connect();
    try {
      const refused = [
        `DELETE FROM audit_events WHERE account_id = '${pruned.accountId}'`,
        `UPDATE audit_events SET event_name = 'x' WHERE account_id = '${pruned.accountId}'`,
        `INSERT INTO audit_event_resources VALUES ('${pruned.accountId}', 'arn:x', 1)`,
        `UPDATE audit_chain_heads SET last_seq = 1 WHERE account_id = '${pruned.accountId}'`,
        `ALTER TABLE audit_events DISABLE TRIGGER ALL`,
        `SET session_replication_role = replica`,
        `SET ROLE sluice_audit_owner`,
      ];
      for (const sql of refused) {
        await expect(app.query(sql), sql).rejects.toThrow(/permission denied|must be owner/);
      }
      const { rows } = await app.query(
        `SELECT * FROM audit_prune($1, now() + interval '1 day', 0, 'local')`,
        [pruned.accountId],
      );
      expect(Number(rows[0].removed_events)).toBeGreaterThan(0);
      const [prune] = await events(pruned.root, { eventName: 'PruneAuditEvents' });
      expect(prune.requestParameters).toMatchObject({
        retentionDays: 0,
        throughSeq: Number(rows[0].through_seq),
      });
      expect(prune.userIdentity).toMatchObject({ type: 'AWSService' });
      expect((await validate(pruned.accountId)).valid).toBe(true);
    } finally {
      await app.end();
      await db.query(`DROP OWNED BY ${role}`);
      await db.query(`DROP ROLE ${role}`);
    }
  });
});

describe('retention', () => {
  it('prunes whole sealed ranges, records the prune, and the rest still validates', async () => {
    await server.app.services.auditSealer.seal();
    const before = await db.query(
      `SELECT min(seq) AS min, max(seq) AS max FROM audit_events WHERE account_id = $1`,
      [account.accountId],
    );
    const results = await server.app.services.auditRetention.prune(new Date(Date.now() + 86_400_000), 0);
    const mine = results.find((r) => r.accountId === account.accountId)!;
    expect(mine.removedEvents).toBeGreaterThan(0);
    const after = await db.query(`SELECT min(seq) AS min FROM audit_events WHERE account_id = $1`, [
      account.accountId,
    ]);
    expect(Number(after.rows[0].min)).toBe(mine.throughSeq + 1);
    expect(Number(before.rows[0].min)).toBe(1);
    const [prune] = await events(account.root, { eventName: 'PruneAuditEvents' });
    expect(prune.requestParameters).toMatchObject({ throughSeq: mine.throughSeq });
    expect((await validate()).valid).toBe(true);
    // Deleting more than retention did is caught.
    const { rows } = await db.query(`SELECT * FROM audit_events WHERE account_id = $1 ORDER BY seq LIMIT 1`, [
      account.accountId,
    ]);
    await tamper(`DELETE FROM audit_events WHERE account_id = $1 AND seq = $2`, [
      account.accountId,
      rows[0].seq,
    ]);
    expect((await validate()).valid).toBe(false);
  });
});
