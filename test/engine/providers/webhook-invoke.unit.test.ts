import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionFailure } from '../../../src/engine/providers/provider';
import { WebhookInvokeProvider } from '../../../src/engine/providers/webhook-invoke';
import { makeJob, type TestJob } from './job-context';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

const serverSecret = 'worker-default-secret';
const provider = new WebhookInvokeProvider({ secret: serverSecret });
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
  it('POSTs the job signed with the provider key, and takes output variables from the answer', async () => {
    const job = await webhookJob({ Url: `${baseUrl}/ok?x=1` });
    const result = await provider.run(job.ctx);
    expect(result).toEqual({
      outputVariables: { DeployUrl: 'https://x.example', Build: '42' },
      summary: 'Deployed',
    });

    const request = received.at(-1)!;
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['x-sluice-delivery']).toBe(job.ctx.jobId);
    expect(verify(request.headers['x-sluice-signature'], request.body, serverSecret)).toBe(true);
    expect(verify(request.headers['x-sluice-signature'], request.body, 'another key')).toBe(false);
    expect(JSON.parse(request.body)).toEqual({
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

  it('signs with the configured Secret instead, and never sends it', async () => {
    const job = await webhookJob({ Url: `${baseUrl}/plain`, Secret: 'per-action-secret' });
    expect(await provider.run(job.ctx)).toEqual({ outputVariables: {} });
    const request = received.at(-1)!;
    expect(verify(request.headers['x-sluice-signature'], request.body, 'per-action-secret')).toBe(true);
    expect(request.body).not.toContain('per-action-secret');
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
    const started = Date.now();
    await expect(provider.run(job.ctx)).rejects.toMatchObject({
      type: 'JOB_FAILED',
      message: `Webhook ${baseUrl}/slow did not answer within 0.3 seconds (timed out)`,
    });
    expect(Date.now() - started).toBeLessThan(2000);
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
