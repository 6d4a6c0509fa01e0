import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionFailure } from '../../../src/engine/providers/provider';
import { resolveWebhookAddress, type Lookup } from '../../../src/engine/providers/webhook-address';
import { WebhookInvokeProvider } from '../../../src/engine/providers/webhook-invoke';
import { WebhookSecrets } from '../../../src/engine/providers/webhook-secrets';
import { makeJob, type TestJob } from './job-context';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

const secrets = new WebhookSecrets('server-key-for-webhook-tests');
/** The callee below listens on 127.0.0.1, which only an allow-listed host may reach. */
const provider = new WebhookInvokeProvider({ secrets, allowHosts: ['127.0.0.1'] });
let server: http.Server;
let baseUrl: string;
const received: Received[] = [];
const jobs: TestJob[] = [];

/** The callee: routes by path to the answer each test needs. */
beforeAll(async () => {
  server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      const route = request.url ?? '/';
      if (route.startsWith('/ok')) {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({
            outputVariables: { DeployUrl: 'https://x.example', Build: '42' },
            summary: 'Deployed',
          }),
        );
      } else if (route.startsWith('/plain')) {
        response.writeHead(204).end();
      } else if (route.startsWith('/unavailable')) {
        response.writeHead(503).end('Service Unavailable: ' + 'x'.repeat(500));
      } else if (route.startsWith('/redirect')) {
        response.writeHead(302, { location: '/ok' }).end();
      } else if (route.startsWith('/bad-variables')) {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"outputVariables":{"N":5}}');
      } else if (route.startsWith('/slow')) {
        setTimeout(() => response.writeHead(200).end('{}'), 5000).unref();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await Promise.all(jobs.map((job) => job.cleanup()));
});

async function webhookJob(configuration: Record<string, string>, timeoutMs = 10_000): Promise<TestJob> {
  const job = await makeJob({
    configuration,
    timeoutMs,
    inputArtifacts: [{ name: 'BuildOutput', path: '/nonexistent' }],
  });
  jobs.push(job);
  return job;
}

function verify(signatureHeader: string | string[] | undefined, body: string, secret: string): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  const given = Buffer.from(String(signatureHeader));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

describe('Webhook invoke provider', () => {
  it("POSTs the job signed with the account's secret, and takes output variables from the answer", async () => {
    const job = await webhookJob({ Url: `${baseUrl}/ok?x=1` });
    const result = await provider.run(job.ctx);
    expect(result).toEqual({
      outputVariables: { DeployUrl: 'https://x.example', Build: '42' },
      summary: 'Deployed',
    });

    const request = received.at(-1)!;
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['x-sluice-delivery']).toBe(job.ctx.jobId);
    const secret = secrets.forAccount(job.ctx.accountId);
    expect(verify(request.headers['x-sluice-signature'], request.body, secret)).toBe(true);
    expect(verify(request.headers['x-sluice-signature'], request.body, 'server-key-for-webhook-tests')).toBe(
      false,
    );
    expect(JSON.parse(request.body)).toEqual({
      accountId: '123456789012',
      pipelineName: 'demo',
      stageName: 'Build',
      actionName: 'Compile',
      pipelineExecutionId: job.ctx.pipelineExecutionId,
      actionExecutionId: job.ctx.actionExecutionId,
      jobId: job.ctx.jobId,
      configuration: { Url: `${baseUrl}/ok?x=1` },
      inputArtifacts: ['BuildOutput'],
    });
  });

  it("signs each account's requests with that account's own secret", async () => {
    const mine = await webhookJob({ Url: `${baseUrl}/plain` });
    expect(await provider.run(mine.ctx)).toEqual({ outputVariables: {} });
    const theirs = await webhookJob({ Url: `${baseUrl}/plain` });
    theirs.ctx.accountId = '210987654321';
    await provider.run(theirs.ctx);
    const [a, b] = received.slice(-2);
    expect(secrets.forAccount('123456789012')).not.toBe(secrets.forAccount('210987654321'));
    expect(verify(a.headers['x-sluice-signature'], a.body, secrets.forAccount('123456789012'))).toBe(true);
    expect(verify(b.headers['x-sluice-signature'], b.body, secrets.forAccount('210987654321'))).toBe(true);
    // A callee of one account rejects a request signed for the other.
    expect(verify(b.headers['x-sluice-signature'], b.body, secrets.forAccount('123456789012'))).toBe(false);
    expect(JSON.parse(b.body)).toMatchObject({ accountId: '210987654321' });
  });

  it('fails on a non-2xx answer with its status and the start of its body', async () => {
    const job = await webhookJob({ Url: `${baseUrl}/unavailable` });
    const failure = (await provider.run(job.ctx).catch((e) => e)) as ActionFailure;
    expect(failure).toBeInstanceOf(ActionFailure);
    expect(failure.type).toBe('JOB_FAILED');
    expect(failure.message).toBe(
      `Webhook answered 503: ${('Service Unavailable: ' + 'x'.repeat(500)).slice(0, 200)}`,
    );
  });

  it('does not follow redirects', async () => {
    const job = await webhookJob({ Url: `${baseUrl}/redirect` });
    await expect(provider.run(job.ctx)).rejects.toMatchObject({ message: 'Webhook answered 302' });
  });

  it('refuses output variables that are not strings', async () => {
    const job = await webhookJob({ Url: `${baseUrl}/bad-variables` });
    await expect(provider.run(job.ctx)).rejects.toMatchObject({
      message: expect.stringMatching(/N must be a string/),
    });
  });

  it('times out', async () => {
    const job = await webhookJob({ Url: `${baseUrl}/slow` }, 300);
    await expect(provider.run(job.ctx)).rejects.toMatchObject({
      type: 'JOB_FAILED',
      message: `Webhook ${baseUrl}/slow did not answer within 0.3 seconds (timed out)`,
    });
  });

  it('stops when the signal aborts', async () => {
    const controller = new AbortController();
    const job = await webhookJob({ Url: `${baseUrl}/slow` });
    job.ctx.signal = controller.signal;
    setTimeout(() => controller.abort(), 100);
    await expect(provider.run(job.ctx)).rejects.toMatchObject({
      message: expect.stringMatching(/^Stopped while waiting/),
    });
  });

  it('reports a network error', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const job = await webhookJob({ Url: `http://127.0.0.1:${port}/hook` });
    await expect(provider.run(job.ctx)).rejects.toMatchObject({
      type: 'JOB_FAILED',
      message: expect.stringMatching(
        new RegExp(`^Webhook request to http://127.0.0.1:${port}/hook failed: ECONNREFUSED`),
      ),
    });
  });
});

describe('Webhook addresses (SSRF)', () => {
  it('refuses loopback and link-local URLs without the allow list, and sends nothing', async () => {
    const strict = new WebhookInvokeProvider({ secrets, allowHosts: [] });
    const port = new URL(baseUrl).port;
    const before = received.length;
    for (const url of [
      `http://127.0.0.1:${port}/ok`,
      `http://localhost:${port}/ok`,
      `http://[::1]:${port}/ok`,
      `http://[::ffff:127.0.0.1]:${port}/ok`,
      `http://169.254.169.254/latest/meta-data/`,
    ]) {
      const job = await webhookJob({ Url: url });
      await expect(strict.run(job.ctx), url).rejects.toMatchObject({
        type: 'CONFIGURATION_ERROR',
        message: expect.stringMatching(
          /which webhooks may not call; the platform can allow it with SLUICE_WEBHOOK_ALLOW_HOSTS$/,
        ),
      });
    }
    expect(received.length).toBe(before);
  });

  /** A resolver with fixed answers: the decision is checked without any traffic leaving the host. */
  const fixed =
    (answers: Record<string, string[]>): Lookup =>
    (host) =>
      Promise.resolve(
        (answers[host] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
      );

  it.each([
    ['http://10.1.2.3/', 'private'],
    ['http://172.20.0.1/', 'private'],
    ['http://192.168.1.1/', 'private'],
    ['http://100.64.0.1/', 'shared (CGNAT)'],
    ['http://0.0.0.0/', 'unspecified'],
    ['http://[::]/', 'unspecified'],
    ['http://[fe80::1]/', 'link-local'],
    ['http://[fd12:3456::1]/', 'unique local (private)'],
    ['http://[::ffff:10.0.0.1]/', 'IPv4-mapped private'],
    ['http://[::ffff:a9fe:a9fe]/', 'IPv4-mapped link-local'],
    ['http://intranet.example/', 'private'],
    ['http://split.example/', 'loopback'],
  ])('refuses %s (%s)', async (url, reason) => {
    const lookup = fixed({
      'intranet.example': ['10.0.0.7'],
      'split.example': ['93.184.216.34', '127.0.0.1'],
    });
    await expect(resolveWebhookAddress(new URL(url), [], lookup)).rejects.toMatchObject({
      type: 'CONFIGURATION_ERROR',
      message: expect.stringContaining(`(${reason})`),
    });
  });

  it('allows public addresses, and allow-listed hosts on the listed port only', async () => {
    const lookup = fixed({ 'hooks.example': ['93.184.216.34'], 'intranet.example': ['10.0.0.7'] });
    expect(await resolveWebhookAddress(new URL('https://hooks.example/x'), [], lookup)).toEqual({
      address: '93.184.216.34',
      family: 4,
    });
    expect(await resolveWebhookAddress(new URL('http://[2606:4700::1111]/'), [], lookup)).toEqual({
      address: '2606:4700::1111',
      family: 6,
    });
    const allow = ['intranet.example:8080'];
    expect(await resolveWebhookAddress(new URL('http://intranet.example:8080/'), allow, lookup)).toEqual({
      address: '10.0.0.7',
      family: 4,
    });
    await expect(
      resolveWebhookAddress(new URL('http://intranet.example:9090/'), allow, lookup),
    ).rejects.toMatchObject({ type: 'CONFIGURATION_ERROR' });
  });

  it('gives up on a name that does not resolve within the timeout', async () => {
    const hanging: Lookup = () => new Promise(() => undefined);
    const slowDns = new WebhookInvokeProvider({ secrets, allowHosts: [], lookup: hanging });
    const job = await webhookJob({ Url: 'https://hooks.example/x' }, 200);
    await expect(slowDns.run(job.ctx)).rejects.toMatchObject({
      type: 'JOB_FAILED',
      message: 'Webhook https://hooks.example/x did not answer within 0.2 seconds (timed out)',
    });
  });

  it('connects to the address it checked, resolving the name once (no DNS rebinding)', async () => {
    let lookups = 0;
    const rebinding: Lookup = () => {
      lookups++;
      return Promise.resolve([{ address: lookups === 1 ? '127.0.0.1' : '10.9.9.9', family: 4 }]);
    };
    const port = new URL(baseUrl).port;
    const pinned = new WebhookInvokeProvider({ secrets, allowHosts: ['hooks.test'], lookup: rebinding });
    const job = await webhookJob({ Url: `http://hooks.test:${port}/ok` });
    await pinned.run(job.ctx);
    expect(lookups).toBe(1);
    expect(received.at(-1)!.headers.host).toBe(`hooks.test:${port}`);
  });
});
