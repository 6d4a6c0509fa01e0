import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { ensureDatabase } from '../../src/platform/db/database';
import { startEmbeddedPostgres, type RunningPostgres } from '../../src/platform/embedded-postgres';

export interface BenchServer {
  url: string;
  databaseUrl: string;
  /** Sends an IPC message to the server process; resolves with its answer. */
  send(message: object): Promise<unknown>;
  stop(): Promise<void>;
}

export const ADMIN_PASSWORD = 'bench-admin-password';

/** A bench server process: waits for the port it reports, and talks to it over IPC. */
async function forkServer(
  file: string,
  execArgv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ port: number; send: BenchServer['send']; stop(): Promise<void> }> {
  const child: ChildProcess = fork(path.join(__dirname, file), [], {
    execArgv: ['--import', 'tsx', ...execArgv],
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
  return {
    port,
    send: (message) =>
      new Promise((resolve) => {
        child.once('message', (answer) => resolve(answer));
        child.send(message);
      }),
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.send({ stop: true });
      await exited;
    },
  };
}

/** bench/support/bare-ws-server.ts in its own process: the fan-out's floor on this machine. */
export async function startBareWsServer(): Promise<BenchServer> {
  const child = await forkServer('bare-ws-server.ts', []);
  return {
    url: `http://127.0.0.1:${child.port}/graphql`,
    databaseUrl: '',
    send: child.send,
    stop: child.stop,
  };
}

/**
 * bench/support/bare-api-server.ts in its own process, on the database of a running bench
 * server: the same libraries reading the same row, with none of Sluice's guarantees.
 */
export async function startBareApiServer(databaseUrl: string, accountId: string): Promise<BenchServer> {
  // BARE_NODE_ARGS profiles the bare server as BENCH_NODE_ARGS does the Sluice one.
  const child = await forkServer(
    'bare-api-server.ts',
    process.env.BARE_NODE_ARGS?.split(' ').filter(Boolean) ?? [],
    {
      ...process.env,
      DATABASE_URL: databaseUrl,
      BENCH_ACCOUNT_ID: accountId,
      NODE_ENV: 'production',
    },
  );
  return { url: `http://127.0.0.1:${child.port}/graphql`, databaseUrl, send: child.send, stop: child.stop };
}

/** A throwaway PostgreSQL and a Sluice server process on it; both removed by stop(). */
export async function startBenchServer(
  env: Record<string, string> = {},
  /** Extra node flags for the server process (e.g. --expose-gc). */
  nodeArgs: string[] = [],
): Promise<BenchServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-'));
  fs.chmodSync(dir, 0o755);
  const pg: RunningPostgres = await startEmbeddedPostgres({ dir: path.join(dir, 'pg') });
  const dbUrl = new URL(pg.url);
  dbUrl.pathname = '/sluice';
  await ensureDatabase(dbUrl.toString());
  const child = await forkServer(
    'bench-server.ts',
    // BENCH_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the server.
    [...nodeArgs, ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [])],
    {
      ...process.env,
      DATABASE_URL: dbUrl.toString(),
      SLUICE_DATA_DIR: path.join(dir, 'data'),
      SLUICE_ADMIN_PASSWORD: ADMIN_PASSWORD,
      SLUICE_HOST: '127.0.0.1',
      PORT: '0',
      NODE_ENV: 'production',
      SLUICE_LOG_LEVEL: 'warn',
      // Benchmarks read repositories from temp folders (and name /srv/git in declarations).
      SLUICE_GIT_LOCAL_ROOTS: `${os.tmpdir()},/srv/git`,
      ...env,
    },
  );
  return {
    url: `http://127.0.0.1:${child.port}/graphql`,
    databaseUrl: dbUrl.toString(),
    send: child.send,
    async stop() {
      await child.stop();
      await pg.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function graphql<T>(
  url: string,
  query: string,
  variables: object = {},
  token?: string,
): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: { message: string }[] };
  if (body.errors) throw new Error(`GraphQL error: ${body.errors.map((e) => e.message).join('; ')}`);
  return body.data as T;
}

export interface LoadResult {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
}

/** Fixed-duration load at `connections` concurrent keep-alive connections (autocannon). */
export async function load(options: {
  url: string;
  /** The request body, or a function giving the n-th one (for writes that must differ). */
  body: string | ((n: number) => string);
  token: string;
  connections: number;
  seconds: number;
  /** The exact answer each request must get; any other counts as an error. */
  expectBody?: string;
}): Promise<LoadResult> {
  let n = 0;
  let mismatches = 0;
  const bodyFor = options.body;
  const expected = options.expectBody;
  const result = await autocannon({
    url: options.url,
    method: 'POST',
    connections: options.connections,
    duration: options.seconds,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${options.token}` },
    ...(typeof bodyFor === 'string'
      ? { body: bodyFor, ...(expected ? { expectBody: expected } : {}) }
      : {
          requests: [
            {
              setupRequest: (req: autocannon.Request) => ({ ...req, body: bodyFor(n++) }),
              onResponse: (_status: number, body: string) => {
                if (expected !== undefined && body !== expected) mismatches++;
              },
            },
          ],
        }),
  });
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx + (expected ? result.mismatches : 0) + mismatches,
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function report(name: string, value: number, unit: string): void {
  process.stdout.write(`${name}: ${Number.isInteger(value) ? value : value.toFixed(2)} ${unit}\n`);
}

export interface BenchAccount {
  accountId: string;
  rootToken: string;
  /** A user reading through a group's managed policy (CodePipeline_ReadOnlyAccess). */
  readerToken: string;
  /** A user writing through a directly attached managed policy (CodePipeline_FullAccess). */
  writerToken: string;
  readerArn: string;
  pipelineArn: string;
}

/** An account with a reader user and a 2-stage pipeline named "bench", as a real tenant would have. */
export async function prepareAccount(url: string): Promise<BenchAccount> {
  const admin = await graphql<{ login: { accessToken: string } }>(
    url,
    `
      mutation ($p: String!) {
        login(accountId: "000000000000", userName: "admin", password: $p) {
          accessToken
        }
      }
    `,
    { p: ADMIN_PASSWORD },
  );
  const { createAccount } = await graphql<{ createAccount: { accountId: string; rootPassword: string } }>(
    url,
    `
      mutation {
        createAccount(name: "bench") {
          accountId
          rootPassword
        }
      }
    `,
    {},
    admin.login.accessToken,
  );
  const login = `mutation($a: String!, $u: String!, $p: String!) { login(accountId: $a, userName: $u, password: $p) { accessToken } }`;
  const root = (
    await graphql<{ login: { accessToken: string } }>(url, login, {
      a: createAccount.accountId,
      u: 'root',
      p: createAccount.rootPassword,
    })
  ).login.accessToken;
  // A real user whose access comes from a managed policy and a group, as in production.
  await graphql(
    url,
    `
      mutation {
        createUser(userName: "reader", password: "reader-password") {
          userName
        }
      }
    `,
    {},
    root,
  );
  await graphql(
    url,
    `
      mutation {
        createGroup(groupName: "readers") {
          groupName
        }
      }
    `,
    {},
    root,
  );
  await graphql(
    url,
    `
      mutation {
        addUserToGroup(groupName: "readers", userName: "reader")
      }
    `,
    {},
    root,
  );
  await graphql(
    url,
    `
      mutation {
        attachGroupPolicy(
          groupName: "readers"
          policyArn: "arn:sluice:iam::sluice:policy/CodePipeline_ReadOnlyAccess"
        )
      }
    `,
    {},
    root,
  );
  await graphql(
    url,
    `
      mutation ($p: PipelineDeclarationInput!) {
        createPipeline(pipeline: $p) {
          name
        }
      }
    `,
    {
      p: {
        name: 'bench',
        stages: [
          {
            name: 'Source',
            actions: [
              {
                name: 'Checkout',
                actionTypeId: { category: 'Source', owner: 'Sluice', provider: 'Git', version: '1' },
                configuration: { RepositoryUrl: '/srv/git/app.git', BranchName: 'main' },
                outputArtifacts: [{ name: 'Src' }],
              },
            ],
          },
          {
            name: 'Build',
            actions: [
              {
                name: 'Build',
                actionTypeId: { category: 'Build', owner: 'Sluice', provider: 'Shell', version: '1' },
                configuration: { Commands: 'true' },
                inputArtifacts: [{ name: 'Src' }],
              },
            ],
          },
        ],
      },
    },
    root,
  );
  await graphql(
    url,
    `
      mutation {
        createUser(userName: "writer", password: "writer-password") {
          userName
        }
        attachUserPolicy(
          userName: "writer"
          policyArn: "arn:sluice:iam::sluice:policy/CodePipeline_FullAccess"
        )
      }
    `,
    {},
    root,
  );
  const signIn = async (userName: string): Promise<string> =>
    (
      await graphql<{ login: { accessToken: string } }>(url, login, {
        a: createAccount.accountId,
        u: userName,
        p: `${userName}-password`,
      })
    ).login.accessToken;
  const token = await signIn('reader');
  const writerToken = await signIn('writer');
  return {
    accountId: createAccount.accountId,
    rootToken: root,
    readerToken: token,
    writerToken,
    readerArn: `arn:sluice:iam::${createAccount.accountId}:user/reader`,
    pipelineArn: `arn:sluice:codepipeline:local:${createAccount.accountId}:bench`,
  };
}
