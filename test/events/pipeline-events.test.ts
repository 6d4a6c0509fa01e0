import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CREATE_PIPELINE,
  latestExecution,
  sourceAndBuild,
  start,
  waitForStatus,
} from '../support/executions';
import { allow, newAccount, signIn, userWithPolicy, type TestAccount } from '../support/factories';
import { GitRepo } from '../support/git-repo';
import { GraphQLClient } from '../support/graphql-client';
import { startPeerProcess, type PeerProcess } from '../support/server-process';
import { ADMIN_PASSWORD, startTestServer, type TestServer } from '../support/test-server';
import { refusal, TestSocket, waitUntil, type TestSubscription } from '../support/ws-subscription';

/**
 * pipelineEvents and accountEvents end to end (issue 8, points 3–5): a change made through one
 * server process reaches a subscriber of another, in order; a reconnecting subscriber misses
 * nothing; a subscriber never sees another account's events; permission is checked per event.
 */
let a: TestServer;
let b: PeerProcess;
let account: TestAccount;
let other: TestAccount;
let repo: GitRepo;
const sockets: TestSocket[] = [];

interface Event {
  sequence: string;
  detailType: string;
  account: string;
  pipeline: string;
  executionId: string;
  stage: string | null;
  action: string | null;
  state: string;
  detail: Record<string, unknown>;
}

const PIPELINE_EVENTS = `subscription($p: String!, $after: String) {
  pipelineEvents(pipelineName: $p, afterSequence: $after) {
    sequence detailType time account pipeline executionId stage action state detail } }`;
const ACCOUNT_EVENTS = `subscription($after: String) {
  accountEvents(afterSequence: $after) { sequence account pipeline executionId stage action state } }`;

async function subscribe(
  url: string,
  token: string,
  query: string,
  variables: Record<string, unknown>,
): Promise<TestSubscription> {
  const { socket, ack } = await TestSocket.connect(url, token);
  sockets.push(socket);
  expect(ack).toBe('ack');
  return socket.subscribe(query, variables);
}

function eventsOf(sub: TestSubscription, field = 'pipelineEvents'): Event[] {
  return sub.nexts.flatMap((n) => (n.data?.[field] ? [n.data[field] as Event] : []));
}

function line(e: Event): string {
  return [e.pipeline, e.stage, e.action, e.state].filter(Boolean).join(' ');
}

/** Waits for the execution's terminal pipeline event on `sub`. */
function untilEnded(sub: TestSubscription, executionId: string, field = 'pipelineEvents'): Promise<Event[]> {
  return waitUntil(
    () => {
      const events = eventsOf(sub, field);
      return events.some((e) => e.executionId === executionId && !e.stage && e.state === 'SUCCEEDED')
        ? events
        : undefined;
    },
    60,
    `execution ${executionId} to succeed`,
  );
}

function tokenOf(client: GraphQLClient): string {
  return client.token!;
}

beforeAll(async () => {
  a = await startTestServer();
  // A second `sluice serve` process on the same database: its own sequencer, feed and LISTEN.
  b = await startPeerProcess(a.databaseUrl, ADMIN_PASSWORD);

  account = await newAccount(a, 'events');
  other = await newAccount(a, 'others');
  repo = GitRepo.create({ 'app.txt': 'hello\n' });
}, 120_000);
afterAll(async () => {
  for (const socket of sockets) socket.close();
  await b?.stop();
  await a.stop();
  repo.remove();
});

describe('pipelineEvents across server processes', () => {
  let firstRun: Event[];

  it('a change made through one process reaches a subscriber of the other, in order', async () => {
    // Signed in on B (its own key), the change made on A (in this process).
    const onB = await signIn(new GraphQLClient(b.url), account.accountId, 'root', account.rootPassword);
    await account.root.ok(CREATE_PIPELINE, { p: sourceAndBuild('shipping', repo.dir, 'echo hi') });
    const sub = await subscribe(b.url, tokenOf(onB), PIPELINE_EVENTS, { p: 'shipping', after: '0' });
    const execution = (await latestExecution(account.root, 'shipping'))!;
    firstRun = await untilEnded(sub, execution.pipelineExecutionId);
    expect(firstRun.map(line)).toEqual([
      'shipping STARTED',
      'shipping Source STARTED',
      'shipping Source Checkout STARTED',
      'shipping Source Checkout SUCCEEDED',
      'shipping Source SUCCEEDED',
      'shipping Build STARTED',
      'shipping Build Build STARTED',
      'shipping Build Build SUCCEEDED',
      'shipping Build SUCCEEDED',
      'shipping SUCCEEDED',
    ]);
    const sequences = firstRun.map((e) => BigInt(e.sequence));
    expect(sequences.every((s, i) => i === 0 || s > sequences[i - 1])).toBe(true);
    expect(firstRun[0]).toMatchObject({
      detailType: 'Pipeline Execution State Change',
      account: account.accountId,
      executionId: execution.pipelineExecutionId,
      detail: { executionTrigger: { triggerType: 'CREATE_PIPELINE' } },
    });

    // Live: a second run started through A while the subscriber on B is connected.
    const second = await start(account.root, 'shipping');
    const all = await untilEnded(sub, second.pipelineExecutionId);
    const live = all.slice(firstRun.length);
    expect(live.map(line)).toEqual(firstRun.map(line));
    expect(BigInt(live[0].sequence)).toBeGreaterThan(BigInt(firstRun.at(-1)!.sequence));
  });

  it('a subscriber that reconnects with afterSequence gets exactly what it missed, then live', async () => {
    const cut = firstRun[4].sequence;
    const sub = await subscribe(a.url, tokenOf(account.root), PIPELINE_EVENTS, { p: 'shipping', after: cut });
    const third = await start(account.root, 'shipping');
    const events = await untilEnded(sub, third.pipelineExecutionId);
    const sequences = events.map((e) => e.sequence);
    expect(new Set(sequences).size).toBe(sequences.length);
    expect(events[0].sequence).toBe(firstRun[5].sequence);
    expect(events.slice(0, 5).map(line)).toEqual(firstRun.slice(5).map(line));
    expect(events.filter((e) => e.executionId === third.pipelineExecutionId).map(line)).toEqual(
      firstRun.map(line),
    );
  });

  it('a bad afterSequence is BAD_USER_INPUT; an unknown pipeline is NOT_FOUND', async () => {
    const bad = await subscribe(a.url, tokenOf(account.root), PIPELINE_EVENTS, {
      p: 'shipping',
      after: '-3',
    });
    expect(await refusal(bad)).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    const missing = await subscribe(a.url, tokenOf(account.root), PIPELINE_EVENTS, { p: 'nope' });
    expect(await refusal(missing)).toMatchObject({ extensions: { code: 'NOT_FOUND' } });
  });
});

describe('one execution per event for many subscribers', () => {
  it('subscribers of different selections each get their own fields; a closed one is freed at once', async () => {
    const token = tokenOf(account.root);
    await account.root.ok(CREATE_PIPELINE, { p: sourceAndBuild('quiet', repo.dir, 'true') });
    const quiet = (await latestExecution(account.root, 'quiet'))!;
    await waitForStatus(account.root, 'quiet', quiet.pipelineExecutionId, 'SUCCEEDED');
    const feed = a.app.services.events;
    const base = feed.subscriberCount;
    const narrow = await subscribe(
      a.url,
      token,
      `subscription { pipelineEvents(pipelineName: "shipping") { sequence state } }`,
      {},
    );
    const wide = await subscribe(
      a.url,
      token,
      `subscription { pipelineEvents(pipelineName: "shipping") { sequence executionId stage state } }`,
      {},
    );
    const idle = await TestSocket.connect(a.url, token);
    sockets.push(idle.socket);
    idle.socket.subscribe(`subscription { pipelineEvents(pipelineName: "quiet") { sequence } }`);
    await waitUntil(() => (feed.subscriberCount === base + 3 ? true : undefined), 20, 'three streams');
    const run = await start(account.root, 'shipping');
    await untilEnded(wide, run.pipelineExecutionId);
    await waitUntil(
      () => (eventsOf(narrow).length >= eventsOf(wide).length ? true : undefined),
      20,
      'narrow events',
    );
    expect(Object.keys(eventsOf(narrow)[0]).sort()).toEqual(['sequence', 'state']);
    expect(Object.keys(eventsOf(wide)[0]).sort()).toEqual(['executionId', 'sequence', 'stage', 'state']);
    expect(eventsOf(narrow).map((e) => e.sequence)).toEqual(eventsOf(wide).map((e) => e.sequence));
    // The idle subscription's pipeline has not moved since: closing must free its stream anyway.
    idle.socket.close();
    await waitUntil(
      () => (feed.subscriberCount === base + 2 ? true : undefined),
      20,
      'the idle stream freed',
    );
  });
});

describe('tenancy and permission', () => {
  it('another account sees none of these events, even naming the same pipeline', async () => {
    await other.root.ok(CREATE_PIPELINE, { p: sourceAndBuild('shipping', repo.dir, 'echo theirs') });
    const theirs = await subscribe(a.url, tokenOf(other.root), ACCOUNT_EVENTS, { after: '0' });
    const ours = await subscribe(a.url, tokenOf(account.root), ACCOUNT_EVENTS, { after: '0' });
    const run = await start(account.root, 'shipping');
    const otherRun = (await latestExecution(other.root, 'shipping'))!;
    await untilEnded(ours, run.pipelineExecutionId, 'accountEvents');
    await untilEnded(theirs, otherRun.pipelineExecutionId, 'accountEvents');
    expect(eventsOf(theirs, 'accountEvents').every((e) => e.account === other.accountId)).toBe(true);
    expect(eventsOf(ours, 'accountEvents').every((e) => e.account === account.accountId)).toBe(true);
  });

  it('accountEvents leaves out pipelines the caller may not read', async () => {
    await account.root.ok(CREATE_PIPELINE, { p: sourceAndBuild('secret', repo.dir, 'echo hidden') });
    const reader = await userWithPolicy(
      a,
      account,
      allow('codepipeline:GetPipelineState', `arn:sluice:codepipeline:local:${account.accountId}:shipping`),
    );
    const sub = await subscribe(a.url, tokenOf(reader), ACCOUNT_EVENTS, { after: '0' });
    // `secret` runs to its end first, so all its events come before shipping's last one.
    const hidden = await start(account.root, 'secret');
    await waitForStatus(account.root, 'secret', hidden.pipelineExecutionId, 'SUCCEEDED');
    const shown = await start(account.root, 'shipping');
    await untilEnded(sub, shown.pipelineExecutionId, 'accountEvents');
    expect(eventsOf(sub, 'accountEvents').some((e) => e.executionId === hidden.pipelineExecutionId)).toBe(
      false,
    );
    expect(eventsOf(sub, 'accountEvents').every((e) => e.pipeline === 'shipping')).toBe(true);
  });

  it('a user without GetPipelineState is refused; one whose policy is revoked is cut off with ACCESS_DENIED', async () => {
    const nobody = await userWithPolicy(a, account, allow('codepipeline:ListPipelines'));
    const refused = await subscribe(a.url, tokenOf(nobody), PIPELINE_EVENTS, { p: 'shipping' });
    expect(await refusal(refused)).toMatchObject({ extensions: { code: 'ACCESS_DENIED' } });

    const name = `watcher${Date.now()}`;
    const watcher = await userWithPolicy(a, account, allow('codepipeline:GetPipelineState'), name);
    const sub = await subscribe(a.url, tokenOf(watcher), PIPELINE_EVENTS, { p: 'shipping' });
    const before = await start(account.root, 'shipping');
    await untilEnded(sub, before.pipelineExecutionId);
    await account.root.ok(`mutation($u: String!) { deleteUserPolicy(userName: $u, policyName: "test") }`, {
      u: name,
    });
    await start(account.root, 'shipping');
    const ended = await sub.ended;
    const last = sub.nexts.at(-1)!;
    expect(last.errors?.[0].extensions?.code).toBe('ACCESS_DENIED');
    expect(ended.type).toBe('complete');
  });

  it('a user deleted while subscribed to the account is cut off with ACCESS_DENIED', async () => {
    const name = `leaver${Date.now()}`;
    const leaver = await userWithPolicy(a, account, allow('codepipeline:GetPipelineState'), name);
    const sub = await subscribe(a.url, tokenOf(leaver), ACCOUNT_EVENTS, {});
    const before = await start(account.root, 'shipping');
    await untilEnded(sub, before.pipelineExecutionId, 'accountEvents');
    await account.root.ok(`mutation($u: String!) { deleteUser(userName: $u) }`, { u: name });
    await start(account.root, 'shipping');
    const ended = await sub.ended;
    expect(sub.nexts.at(-1)!.errors?.[0].extensions?.code).toBe('ACCESS_DENIED');
    expect(ended.type).toBe('complete');
  });
});
