import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  actionExecutions,
  CREATE_PIPELINE,
  eventually,
  sourceAndBuild,
  start,
  waitForStatus,
} from '../support/executions';
import { allow, newAccount, userWithPolicy, type TestAccount } from '../support/factories';
import { GitRepo } from '../support/git-repo';
import type { GraphQLErrorShape } from '../support/graphql-client';
import { logStreamsOf } from '../../src/events/events.resolver';
import { startTestServer, type TestServer } from '../support/test-server';
import {
  TestSocket,
  waitUntil,
  type SubscriptionEnd,
  type TestSubscription,
} from '../support/ws-subscription';

interface Chunk {
  offset: number;
  text: string;
  nextOffset: number;
  complete: boolean;
}

const LOGS = `subscription($p: String!, $a: ID!, $from: Float) {
  actionExecutionLogs(pipelineName: $p, actionExecutionId: $a, fromOffset: $from) { offset text nextOffset complete } }`;

const LOG_QUERY = `query($p: String!, $a: String!) {
  actionExecutionLog(pipelineName: $p, actionExecutionId: $a, limit: 1048576) { text complete } }`;

// Several lines, with pauses between them, so the log is written in several flushes while a
// subscriber watches; non-ASCII text, so offsets are bytes and no character is ever split.
const COMMANDS = [
  'echo "line 1 héllo wörld"',
  'sleep 2',
  'echo "line 2"',
  'echo "line 3 ✓"',
  'sleep 1',
  'echo "line 4"',
  'echo "line 5 done"',
].join('\n');

let server: TestServer;
let account: TestAccount;
let other: TestAccount;
let repo: GitRepo;

beforeAll(async () => {
  server = await startTestServer();
  [account, other] = await Promise.all([newAccount(server, 'logs'), newAccount(server, 'others')]);
  repo = GitRepo.create({ 'README.md': 'logs\n' });
  await account.root.ok(CREATE_PIPELINE, { p: sourceAndBuild('printer', repo.dir, COMMANDS) });
  // The other account has a pipeline of the same name: names are per account.
  await other.root.ok(CREATE_PIPELINE, { p: sourceAndBuild('printer', repo.dir, 'true') });
  // An approval runs no job and logs nothing: its log stays open until someone answers.
  const gate = sourceAndBuild('gate', repo.dir, 'true') as { stages: Record<string, unknown>[] };
  gate.stages[1] = {
    name: 'Gate',
    actions: [
      {
        name: 'Approve',
        actionTypeId: { category: 'Approval', owner: 'Sluice', provider: 'Manual', version: '1' },
      },
    ],
  };
  await account.root.ok(CREATE_PIPELINE, { p: gate });
});
afterAll(async () => {
  await server?.stop();
  repo?.remove();
});

/** Starts `printer` and returns its execution and its Build action once that exists. */
async function startPrinter(): Promise<{ executionId: string; actionExecutionId: string }> {
  const execution = await start(account.root, 'printer');
  const actions = await eventually(
    () => actionExecutions(account.root, 'printer', execution.pipelineExecutionId),
    (list) => list.some((a) => a.stageName === 'Build'),
    60,
  );
  return {
    executionId: execution.pipelineExecutionId,
    actionExecutionId: actions.find((a) => a.stageName === 'Build')!.actionExecutionId,
  };
}

async function fullLog(actionExecutionId: string): Promise<string> {
  const { actionExecutionLog } = await account.root.ok<{
    actionExecutionLog: { text: string; complete: boolean };
  }>(LOG_QUERY, { p: 'printer', a: actionExecutionId });
  expect(actionExecutionLog.complete).toBe(true);
  return actionExecutionLog.text;
}

function chunksOf(sub: TestSubscription): Chunk[] {
  return sub.nexts.map((n) => {
    expect(n.errors, JSON.stringify(n.errors)).toBeUndefined();
    return (n.data as { actionExecutionLogs: Chunk }).actionExecutionLogs;
  });
}

/** Chunks follow one another exactly from `from`: no gap, no overlap; the last says complete. */
function expectContiguous(chunks: Chunk[], from: number): string {
  let at = from;
  for (const chunk of chunks) {
    expect(chunk.offset).toBe(at);
    expect(chunk.nextOffset).toBe(at + Buffer.byteLength(chunk.text, 'utf8'));
    at = chunk.nextOffset;
  }
  expect(chunks.slice(0, -1).every((c) => !c.complete)).toBe(true);
  return chunks.map((c) => c.text).join('');
}

/** The error a subscription was refused with, and that it delivered no chunk. */
async function refusal(sub: TestSubscription): Promise<GraphQLErrorShape> {
  const end: SubscriptionEnd = await sub.ended;
  const errors = end.type === 'error' ? end.errors : sub.nexts.flatMap((n) => n.errors ?? []);
  expect(
    sub.nexts.every((n) => !n.data),
    JSON.stringify(sub.nexts),
  ).toBe(true);
  expect(errors.length, JSON.stringify(end)).toBeGreaterThan(0);
  return errors[0];
}

describe('actionExecutionLogs', () => {
  let run: { executionId: string; actionExecutionId: string };
  const live: Chunk[] = [];
  let midway: { from: number; chunks: Chunk[] };

  it('streams a running action’s log from offset 0 as it is written, then completes (graphql-ws client)', async () => {
    run = await startPrinter();
    const client = createClient({
      url: server.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${account.root.token}` },
      retryAttempts: 0,
    });
    const socket = await TestSocket.connect(server.url, account.root.token);
    try {
      const done = new Promise<void>((resolve, reject) => {
        client.subscribe<{ actionExecutionLogs: Chunk }>(
          { query: LOGS, variables: { p: 'printer', a: run.actionExecutionId, from: 0 } },
          {
            next: (result) => {
              if (result.errors) return reject(new Error(JSON.stringify(result.errors)));
              live.push(result.data!.actionExecutionLogs);
            },
            error: reject,
            complete: resolve,
          },
        );
      });
      // The first line reaches the subscriber while the action still runs (it sleeps 2 s next).
      const first = await waitUntil(
        () => live.find((c) => c.text.includes('line 1 héllo wörld')),
        30,
        'line 1',
      );
      const linesAtFirst = live.map((c) => c.text).join('');
      const statusAtFirst = (await actionExecutions(account.root, 'printer', run.executionId)).find(
        (a) => a.actionExecutionId === run.actionExecutionId,
      )?.status;
      // Another subscriber joins mid-way, from where that chunk ended: it gets the rest only.
      const from = first.nextOffset;
      const rest = socket.socket.subscribe(LOGS, { p: 'printer', a: run.actionExecutionId, from });
      await done;
      expect(await rest.ended).toEqual({ type: 'complete' });
      midway = { from, chunks: chunksOf(rest) };

      expect(linesAtFirst).not.toContain('line 5 done');
      expect(statusAtFirst).toBe('IN_PROGRESS');
      await waitForStatus(account.root, 'printer', run.executionId, 'SUCCEEDED');
      const log = await fullLog(run.actionExecutionId);
      expect(expectContiguous(live, 0)).toBe(log);
      expect(live.at(-1)!.nextOffset).toBe(Buffer.byteLength(log, 'utf8'));
      expect(live.length).toBeGreaterThan(1);
      expect(log).toMatch(/line 1 héllo wörld[\s\S]*line 2[\s\S]*line 3 ✓[\s\S]*line 4[\s\S]*line 5 done/);
    } finally {
      await client.dispose();
      socket.socket.close();
    }
  });

  it('from fromOffset mid-way: exactly the rest of the log, live and after the action ended', async () => {
    const log = Buffer.from(await fullLog(run.actionExecutionId), 'utf8');
    expect(expectContiguous(midway.chunks, midway.from)).toBe(log.subarray(midway.from).toString('utf8'));

    // After the action ended: from the byte where "line 3" starts, everything after it, then complete.
    const from = log.indexOf('line 3 ✓');
    const { socket } = await TestSocket.connect(server.url, account.root.token);
    try {
      const sub = socket.subscribe(LOGS, { p: 'printer', a: run.actionExecutionId, from });
      expect(await sub.ended).toEqual({ type: 'complete' });
      const chunks = chunksOf(sub);
      expect(expectContiguous(chunks, from)).toBe(log.subarray(from).toString('utf8'));
      // Read after the action ended, the last chunk says so (live, the end is the `complete` message).
      expect(chunks.at(-1)!.complete).toBe(true);
      // From the very end: nothing left, the subscription just completes.
      const none = socket.subscribe(LOGS, { p: 'printer', a: run.actionExecutionId, from: log.length });
      expect(await none.ended).toEqual({ type: 'complete' });
      expect(none.nexts).toEqual([]);
    } finally {
      socket.close();
    }
  });

  it('refuses another account’s action execution with NOT_FOUND, as it does a wrong pipeline or a malformed id', async () => {
    const { socket } = await TestSocket.connect(server.url, other.root.token);
    const own = await TestSocket.connect(server.url, account.root.token);
    try {
      // The other account holds a pipeline of the same name: still not its action execution.
      const theirs = socket.subscribe(LOGS, { p: 'printer', a: run.actionExecutionId });
      expect((await refusal(theirs)).extensions?.code).toBe('NOT_FOUND');
      const missing = socket.subscribe(LOGS, { p: 'no-such-pipeline', a: run.actionExecutionId });
      expect(['NOT_FOUND', 'ACCESS_DENIED']).toContain((await refusal(missing)).extensions?.code);
      const wrongPipeline = own.socket.subscribe(LOGS, { p: 'elsewhere', a: run.actionExecutionId });
      const malformed = own.socket.subscribe(LOGS, { p: 'printer', a: 'not-a-uuid' });
      const unknown = own.socket.subscribe(LOGS, { p: 'printer', a: '00000000-0000-4000-8000-000000000000' });
      const errors = [await refusal(wrongPipeline), await refusal(malformed), await refusal(unknown)];
      expect(errors.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND']);
      // The same answer whether or not the id exists somewhere: nothing to tell them apart.
      expect((await refusal(theirs)).message).toBe(
        `Action execution ${run.actionExecutionId} does not exist in pipeline printer`,
      );
    } finally {
      socket.close();
      own.socket.close();
    }
  });

  it('needs codepipeline:ListActionExecutions on the pipeline: without it, ACCESS_DENIED and no text', async () => {
    const reader = await userWithPolicy(server, account, allow(['codepipeline:GetPipeline']));
    const lister = await userWithPolicy(
      server,
      account,
      allow(
        'codepipeline:ListActionExecutions',
        `arn:sluice:codepipeline:local:${account.accountId}:printer`,
      ),
    );
    const denied = await TestSocket.connect(server.url, reader.token);
    const allowed = await TestSocket.connect(server.url, lister.token);
    try {
      const sub = denied.socket.subscribe(LOGS, { p: 'printer', a: run.actionExecutionId });
      const error = await refusal(sub);
      expect(error.extensions?.code).toBe('ACCESS_DENIED');
      expect(error.message).toMatch(/codepipeline:ListActionExecutions/);
      const ok = allowed.socket.subscribe(LOGS, { p: 'printer', a: run.actionExecutionId });
      expect(await ok.ended).toEqual({ type: 'complete' });
      expect(
        chunksOf(ok)
          .map((c) => c.text)
          .join(''),
      ).toBe(await fullLog(run.actionExecutionId));
    } finally {
      denied.socket.close();
      allowed.socket.close();
    }
  });

  it('refuses a negative or fractional fromOffset with BAD_USER_INPUT', async () => {
    const { socket } = await TestSocket.connect(server.url, account.root.token);
    try {
      for (const from of [-1, 1.5]) {
        const error = await refusal(socket.subscribe(LOGS, { p: 'printer', a: run.actionExecutionId, from }));
        expect(error.extensions?.code, String(from)).toBe('BAD_USER_INPUT');
        expect(error.message).toMatch(/fromOffset/);
      }
    } finally {
      socket.close();
    }
  });

  it('audits every subscription start, allowed or refused, read back through auditEvents', async () => {
    const { auditEvents } = await account.root.ok<{
      auditEvents: {
        nodes: {
          eventName: string;
          readOnly: boolean;
          errorCode: string | null;
          requestParameters: { actionExecutionId?: string; fromOffset?: number | null };
          resources: { arn: string }[];
        }[];
      };
    }>(
      `{ auditEvents(filter: { eventName: "ListActionExecutions" }, first: 100) {
          nodes { eventName readOnly errorCode requestParameters resources { arn } } } }`,
    );
    const starts = auditEvents.nodes.filter(
      (e) => e.requestParameters.actionExecutionId === run.actionExecutionId,
    );
    const allowed = starts.filter((e) => e.errorCode === null);
    expect(allowed.length).toBeGreaterThanOrEqual(4);
    expect(allowed.find((e) => e.requestParameters.fromOffset === 0)).toMatchObject({ readOnly: true });
    expect(starts.map((e) => e.errorCode)).toEqual(expect.arrayContaining(['ACCESS_DENIED', 'NOT_FOUND']));
    expect(allowed[0].resources).toEqual([
      { arn: `arn:sluice:codepipeline:local:${account.accountId}:printer` },
    ]);
  });

  it('frees a stream at once when its subscriber unsubscribes or hangs up; completes when a log-less action ends', async () => {
    // createPipeline started the gate's first execution; it waits for an answer at Gate.
    const [approve] = await eventually(
      () => actionExecutions(account.root, 'gate'),
      (list) => list.some((a) => a.stageName === 'Gate' && a.token !== null),
      60,
    ).then((list) => list.filter((a) => a.stageName === 'Gate' && a.token !== null));
    const streams = logStreamsOf(server.app.services);
    const before = streams.openStreams;
    const sockets = await Promise.all(
      [1, 2, 3].map(() => TestSocket.connect(server.url, account.root.token)),
    );
    try {
      const subs = sockets.map(({ socket }) =>
        socket.subscribe(LOGS, { p: 'gate', a: approve.actionExecutionId }),
      );
      await waitUntil(
        () => (streams.openStreams === before + 3 ? true : undefined),
        20,
        'three open streams',
      );
      sockets[0].socket.unsubscribe(subs[0]);
      await waitUntil(
        () => (streams.openStreams === before + 2 ? true : undefined),
        20,
        'one freed by complete',
      );
      sockets[1].socket.socket.terminate();
      await waitUntil(
        () => (streams.openStreams === before + 1 ? true : undefined),
        20,
        'one freed by hang-up',
      );

      await account.root.ok(
        `mutation($p: String!, $t: String!) { putApprovalResult(pipelineName: $p, stageName: "Gate", actionName: "Approve",
           token: $t, result: { status: APPROVED, summary: "ok" }) }`,
        { p: 'gate', t: approve.token },
      );
      expect(await subs[2].ended).toEqual({ type: 'complete' });
      expect(subs[2].nexts).toEqual([]);
      expect(streams.openStreams).toBe(before);
    } finally {
      for (const { socket } of sockets) socket.close();
    }
  });
});
