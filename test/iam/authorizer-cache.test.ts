import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arn } from '../../src/iam/arn';
import { Authorizer, type AuthorizationRequest, type AuthorizerOptions } from '../../src/iam/authorizer';
import { IamChanges } from '../../src/iam/iam-changes';
import { principalKey, type Principal } from '../../src/iam/identity/principal';
import { loadPrincipalSnapshot } from '../../src/iam/policies/principal-policies';
import {
  AccountAuthorizer,
  type Evaluation,
  type RequestContext,
} from '../../src/iam/policy/account-authorizer';
import { listManagedPolicies } from '../../src/iam/policy/managed-policies';
import type { Services } from '../../src/services';
import { allow, newAccount, signIn } from '../support/factories';
import { GraphQLClient } from '../support/graphql-client';
import { startPeerProcess, type PeerProcess } from '../support/server-process';
import { ADMIN_PASSWORD, startTestServer, type TestServer } from '../support/test-server';

/**
 * The authorizer loads each principal's policies on demand (src/iam/policies/principal-policies.ts)
 * and caches one authorizer per principal, dropped per account on IAM changes. These tests hold
 * it to the whole-account evaluation and to its cache contract.
 */

let server: TestServer;
let services: Services;

beforeAll(async () => {
  server = await startTestServer();
  services = server.app.services;
}, 120_000);
afterAll(() => server.stop());

// A deterministic pseudo-random generator, so a failure reproduces.
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

async function account(name: string): Promise<string> {
  return (await services.identities.createAccount(name, undefined)).accountId;
}

function userPrincipal(accountId: string, userName: string, userId: string): Principal {
  return { type: 'USER', arn: arn.user(accountId, userName), accountId, userId, userName, sessionId: 't' };
}

async function newUser(accountId: string, userName: string): Promise<Principal> {
  const user = await services.identities.createUser(accountId, userName, undefined);
  return userPrincipal(accountId, userName, user.id);
}

function trustAccount(accountId: string): object {
  return {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { AWS: accountId }, Action: 'sts:AssumeRole' }],
  };
}

function roleSession(accountId: string, roleName: string, roleId: string): Principal {
  const roleArn = arn.role(accountId, roleName);
  return {
    type: 'ASSUMED_ROLE',
    arn: `arn:sluice:sts::${accountId}:assumed-role/${roleName}/s`,
    accountId,
    role: {
      roleId,
      roleName,
      roleArn,
      sessionName: 's',
      sourceIdentity: arn.root(accountId),
      issuedBy: arn.root(accountId),
      createdAt: new Date().toISOString(),
    },
    sessionId: 't',
  };
}

const pipeline = (accountId: string, name = 'Pipe'): string =>
  `arn:sluice:codepipeline:local:${accountId}:${name}`;

/**
 * Asks until the principal's authorizer stays cached: this server also hears its own writes
 * back through NOTIFY, a little later, and each drops the account's entries again.
 */
async function primed(authorizer: Authorizer, principal: Principal): Promise<void> {
  const key = principalKey(principal);
  const deadline = Date.now() + 10_000;
  for (;;) {
    await authorizer.isAllowed(principal, request('iam:GetUser', principal.arn));
    if (authorizer.isCached(principal.accountId, key)) return;
    if (Date.now() > deadline) throw new Error(`${key} never stayed cached`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** An authorizer that hears no IAM change: for tests of the bound alone. */
function deaf(options: AuthorizerOptions): Authorizer {
  return new Authorizer(services.dataSource.manager, new IamChanges(services.db, undefined), options);
}

function request(action: string, resource: string, context: RequestContext = {}): AuthorizationRequest {
  return { action, resource, context };
}

/** Order-free form of an evaluation: the order of matched statements follows load order. */
function normal(evaluation: Evaluation): object {
  return {
    ...evaluation,
    matchedStatements: [...evaluation.matchedStatements].sort((a, b) =>
      `${a.sourcePolicyId}#${a.statementIndex}`.localeCompare(`${b.sourcePolicyId}#${b.statementIndex}`),
    ),
  };
}

describe('per-principal loading', () => {
  it('decides as the whole account’s snapshot, for random users, groups, roles and policies', async () => {
    const accountId = await account('random');
    const next = random(9);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
    const actions = [
      'codepipeline:GetPipeline',
      'codepipeline:DeletePipeline',
      'codepipeline:List*',
      'codepipeline:*',
      'iam:*',
      '*',
    ];
    const resources = [pipeline(accountId), `${pipeline(accountId)}/*`, pipeline(accountId, 'Other'), '*'];
    const conditions = [
      undefined,
      { StringEquals: { 'aws:ResourceTag/env': 'prod' } },
      { StringLike: { 'aws:username': 'u1*' } },
    ];
    const document = (): object => ({
      Version: '2012-10-17',
      Statement: Array.from({ length: 1 + Math.floor(next() * 3) }, (_, i) => {
        const condition = pick(conditions);
        return {
          Sid: `S${i}`,
          Effect: next() < 0.25 ? 'Deny' : 'Allow',
          [next() < 0.15 ? 'NotAction' : 'Action']: pick(actions),
          [next() < 0.1 ? 'NotResource' : 'Resource']: pick(resources),
          ...(condition ? { Condition: condition } : {}),
        };
      }),
    });

    const customer: string[] = [];
    for (let p = 0; p < 8; p++)
      customer.push((await services.policies.createPolicy(accountId, `P${p}`, document(), undefined)).arn);
    const managed = listManagedPolicies().map((m) => m.arn);
    const attachable = [...customer, ...managed.slice(0, 3)];
    const groups = ['g0', 'g1', 'g2', 'g3'];
    for (const group of groups) {
      await services.identities.createGroup(accountId, group);
      for (let i = 0; i < 2; i++)
        await services.policies
          .attachPolicy(accountId, 'group', group, pick(attachable))
          .catch(() => undefined); // the same policy twice is fine either way
      if (next() < 0.7) await services.policies.putInlinePolicy(accountId, 'group', group, 'own', document());
    }
    const principals: Principal[] = [];
    for (let u = 0; u < 10; u++) {
      const user = await newUser(accountId, `u${u}`);
      principals.push(user);
      for (const group of groups)
        if (next() < 0.4) await services.identities.addUserToGroup(accountId, group, `u${u}`);
      if (next() < 0.6) await services.policies.attachPolicy(accountId, 'user', `u${u}`, pick(attachable));
      if (next() < 0.5)
        await services.policies.putInlinePolicy(accountId, 'user', `u${u}`, 'mine', document());
    }
    for (let r = 0; r < 3; r++) {
      const role = await services.roles.createRole(accountId, `r${r}`, trustAccount(accountId), undefined);
      principals.push(roleSession(accountId, `r${r}`, role.id));
      await services.policies.attachPolicy(accountId, 'role', `r${r}`, pick(attachable));
      if (next() < 0.6)
        await services.policies.putInlinePolicy(accountId, 'role', `r${r}`, 'mine', document());
    }
    principals.push({ type: 'ROOT', arn: arn.root(accountId), accountId, sessionId: 't' });

    // The whole account's snapshot, every principal bound to something so that none is a leaf:
    // Casbin over all of the account's rules decides, through its role manager.
    const snapshot = await services.policies.snapshot(accountId);
    const whole = await AccountAuthorizer.build({
      ...snapshot,
      bindings: [...snapshot.bindings, ...principals.map((p) => ({ member: 'x', of: principalKey(p) }))],
    });
    const requestActions = ['codepipeline:GetPipeline', 'codepipeline:DeletePipeline', 'iam:CreateUser'];
    const requestResources = [
      pipeline(accountId),
      `${pipeline(accountId)}/Prod`,
      pipeline(accountId, 'Other'),
    ];
    const contexts: RequestContext[] = [{}, { 'aws:resourcetag/env': 'prod', 'aws:username': 'u10' }];
    const seen = new Set<string>();
    // Twice: first as loaded, then with the rule subsets and answers of the first pass.
    for (const pass of [1, 2]) {
      for (const principal of principals) {
        const key = principalKey(principal);
        for (const action of requestActions)
          for (const resource of requestResources)
            for (const context of contexts) {
              const label = `pass ${pass} ${principal.arn} ${action} ${resource} ${JSON.stringify(context)}`;
              const expected = whole.evaluate(key, action, resource, context, {
                root: principal.type === 'ROOT',
              });
              const got = await services.authorizer.evaluate(principal, request(action, resource, context));
              expect(normal(got), label).toEqual(normal(expected));
              expect(await services.authorizer.isAllowed(principal, request(action, resource, context))).toBe(
                expected.decision === 'ALLOWED',
              );
              seen.add(expected.decision);
            }
      }
      await services.authorizer.settled();
    }
    expect([...seen].sort()).toEqual(['ALLOWED', 'EXPLICIT_DENY', 'IMPLICIT_DENY']);
  });

  it('reads nothing for a key that holds no policies, and the policies a role holds', async () => {
    const accountId = await account('keys');
    await services.policies.createPolicy(accountId, 'Read', allow('codepipeline:Get*'), undefined);
    const role = await services.roles.createRole(accountId, 'Deployer', trustAccount(accountId), undefined);
    await services.policies.attachPolicy(accountId, 'role', 'Deployer', arn.policy(accountId, 'Read'));
    const manager = services.dataSource.manager;
    expect(await loadPrincipalSnapshot(manager, accountId, arn.root(accountId))).toEqual({
      accountId,
      policies: [],
      bindings: [],
    });
    const snapshot = await loadPrincipalSnapshot(manager, accountId, `role:${role.id}`);
    expect(snapshot.bindings).toEqual([{ member: `role:${role.id}`, of: arn.policy(accountId, 'Read') }]);
    expect(snapshot.policies.map((p) => p.name)).toEqual(['Read']);
  });
});

describe('the cache follows IAM changes', () => {
  it('a change to a group’s policy reaches its members', async () => {
    const accountId = await account('groups');
    await services.identities.createGroup(accountId, 'devs');
    const members = [await newUser(accountId, 'ann'), await newUser(accountId, 'ben')];
    for (const m of members) await services.identities.addUserToGroup(accountId, 'devs', m.userName!);
    await services.policies.putInlinePolicy(accountId, 'group', 'devs', 'read', allow('codepipeline:Get*'));
    const get = request('codepipeline:GetPipeline', pipeline(accountId));
    for (const m of members) expect(await services.authorizer.isAllowed(m, get)).toBe(true);

    await services.policies.putInlinePolicy(accountId, 'group', 'devs', 'read', allow('codepipeline:List*'));
    for (const m of members) expect(await services.authorizer.isAllowed(m, get)).toBe(false);

    await services.policies.createPolicy(accountId, 'NoGet', denyGet(), undefined);
    await services.policies.putInlinePolicy(accountId, 'group', 'devs', 'read', allow('codepipeline:Get*'));
    for (const m of members) expect(await services.authorizer.isAllowed(m, get)).toBe(true);
    await services.policies.attachPolicy(accountId, 'group', 'devs', arn.policy(accountId, 'NoGet'));
    for (const m of members) {
      expect((await services.authorizer.evaluate(m, get)).decision).toBe('EXPLICIT_DENY');
    }
    await services.identities.removeUserFromGroup(accountId, 'devs', 'ann');
    expect((await services.authorizer.evaluate(members[0], get)).decision).toBe('IMPLICIT_DENY');
    expect((await services.authorizer.evaluate(members[1], get)).decision).toBe('EXPLICIT_DENY');
  });

  it('drops a deleted user’s entry, and only its account’s entries', async () => {
    const accountId = await account('deleted');
    const elsewhere = await account('kept');
    const gone = await newUser(accountId, 'gone');
    const kept = await newUser(elsewhere, 'kept');
    await services.policies.putInlinePolicy(accountId, 'user', 'gone', 'p', allow('codepipeline:Get*'));
    const get = request('codepipeline:GetPipeline', pipeline(accountId));
    expect(await services.authorizer.isAllowed(gone, get)).toBe(true);
    expect(await services.authorizer.isAllowed(kept, get)).toBe(false);
    await primed(services.authorizer, gone);
    await primed(services.authorizer, kept);

    await services.identities.deleteUser(accountId, 'gone');
    expect(services.authorizer.isCached(accountId, `user:${gone.userId}`)).toBe(false);
    expect(services.authorizer.isCached(elsewhere, `user:${kept.userId}`)).toBe(true);
    // Its policies went with it: a token still naming it is allowed nothing.
    expect(await services.authorizer.isAllowed(gone, get)).toBe(false);
  });

  it('never keeps an authorizer whose build raced a change', async () => {
    const accountId = await account('race');
    const user = await newUser(accountId, 'racer');
    await services.policies.putInlinePolicy(accountId, 'user', 'racer', 'p', allow('codepipeline:Get*'));
    let raced = false;
    const authorizer = new Authorizer(services.dataSource.manager, services.iamChanges, {
      async load(account, key) {
        const snapshot = await loadPrincipalSnapshot(services.dataSource.manager, account, key);
        if (!raced) {
          raced = true;
          // Committed after the read, before the build is cached.
          await services.policies.putInlinePolicy(accountId, 'user', 'racer', 'p', denyGet());
        }
        return snapshot;
      },
    });
    const get = request('codepipeline:GetPipeline', pipeline(accountId));
    // Asked before the change was visible, so answered from what was read then.
    expect(await authorizer.isAllowed(user, get)).toBe(true);
    expect(raced).toBe(true);
    expect(authorizer.isCached(accountId, `user:${user.userId}`)).toBe(false);
    expect((await authorizer.evaluate(user, get)).decision).toBe('EXPLICIT_DENY');
    await primed(authorizer, user);
    expect((await authorizer.evaluate(user, get)).decision).toBe('EXPLICIT_DENY');
  });

  it('shares one build among concurrent requests of a principal', async () => {
    const accountId = await account('shared');
    const user = await newUser(accountId, 'busy');
    let loads = 0;
    const authorizer = deaf({
      load: (account, key) => {
        loads++;
        return loadPrincipalSnapshot(services.dataSource.manager, account, key);
      },
    });
    const get = request('codepipeline:GetPipeline', pipeline(accountId));
    await Promise.all(Array.from({ length: 10 }, () => authorizer.isAllowed(user, get)));
    expect(loads).toBe(1);
  });
});

describe('the cache bound', () => {
  it('keeps at most maxPrincipals, those used lately kept, deciding right after eviction', async () => {
    const accountId = await account('bounded');
    const users: Principal[] = [];
    for (let u = 0; u < 8; u++) {
      users.push(await newUser(accountId, `b${u}`));
      if (u % 2 === 0)
        await services.policies.putInlinePolicy(accountId, 'user', `b${u}`, 'p', allow('codepipeline:Get*'));
    }
    const authorizer = deaf({ maxPrincipals: 3 });
    const get = request('codepipeline:GetPipeline', pipeline(accountId));
    const key = (u: number): string => `user:${users[u].userId}`;
    for (let round = 0; round < 2; round++) {
      for (let u = 0; u < users.length; u++) {
        expect(await authorizer.isAllowed(users[u], get)).toBe(u % 2 === 0);
        if (u > 0) await authorizer.isAllowed(users[0], get); // keeps b0 the most recently used
        expect(authorizer.cacheSize.principals).toBeLessThanOrEqual(3);
      }
    }
    expect(authorizer.isCached(accountId, key(0))).toBe(true);
    expect(authorizer.isCached(accountId, key(7))).toBe(true);
    expect(authorizer.isCached(accountId, key(1))).toBe(false);
  });

  it('keeps at most maxStatements statements', async () => {
    const accountId = await account('heavy');
    const users: Principal[] = [];
    const twoStatements = {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 'codepipeline:Get*', Resource: '*' },
        { Effect: 'Allow', Action: 'codepipeline:List*', Resource: '*' },
      ],
    };
    for (let u = 0; u < 6; u++) {
      users.push(await newUser(accountId, `h${u}`));
      await services.policies.putInlinePolicy(accountId, 'user', `h${u}`, 'p', twoStatements);
    }
    const authorizer = deaf({ maxStatements: 5 });
    const get = request('codepipeline:GetPipeline', pipeline(accountId));
    for (const user of users) {
      expect(await authorizer.isAllowed(user, get)).toBe(true);
      expect(authorizer.cacheSize.statements).toBeLessThanOrEqual(5);
    }
    expect(authorizer.cacheSize).toEqual({ principals: 2, statements: 4 });
  });
});

function denyGet(): object {
  return {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Deny', Action: 'codepipeline:GetPipeline', Resource: '*' }],
  };
}

describe('across server processes', () => {
  let b: PeerProcess;

  beforeAll(async () => {
    // A second `sluice serve` process on the same database: its own cache and LISTEN.
    b = await startPeerProcess(server.databaseUrl, ADMIN_PASSWORD);
  }, 120_000);
  afterAll(() => b?.stop());

  it('a policy change made through one server reaches the other within 1 s', async () => {
    const team = await newAccount(server, 'two-servers');
    const USER = `query { user(userName: "reader") { userName } }`;
    await team.root.ok(
      `mutation { createUser(userName: "reader", password: "reader-password-1") { userName } }`,
    );
    await team.root.ok(
      `mutation($d: JSON!) { putUserPolicy(userName: "reader", policyName: "p", policyDocument: $d) }`,
      { d: allow('iam:GetUser') },
    );
    const onB = await signIn(new GraphQLClient(b.url), team.accountId, 'reader', 'reader-password-1');
    expect(await onB.ok(USER)).toEqual({ user: { userName: 'reader' } }); // now cached on B

    await team.root.ok(
      `mutation($d: JSON!) { putUserPolicy(userName: "reader", policyName: "p", policyDocument: $d) }`,
      { d: allow('iam:ListUsers') },
    );
    // The deadline is the requirement (issue 9: within 1 s, on every instance), not a sleep.
    const deadline = Date.now() + 1000;
    let code: string | undefined;
    while (code !== 'ACCESS_DENIED' && Date.now() < deadline) {
      code = (await onB.request(USER)).errors?.[0]?.extensions?.code;
    }
    expect(code).toBe('ACCESS_DENIED');
  });
});
