import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { checkOutputVariables, outputVariableNamePattern } from './output-variables';
import { formatDuration } from './process-group';
import {
  type ActionJobContext,
  type ActionProvider,
  type ActionResult,
  type ActionTypeKey,
  ActionFailure,
} from './provider';
import { resolveWebhookAddress, systemLookup, type Lookup } from './webhook-address';
import type { WebhookSecrets } from './webhook-secrets';

/**
 * `Invoke/Sluice/Webhook/1`: POSTs the job to `Url` and succeeds when the callee answers 2xx
 * within the action's timeout. The callee proves the request is Sluice's by checking
 * `x-sluice-signature: sha256=<hex HMAC-SHA256 of the raw body>`, the scheme GitHub uses for
 * its webhooks, with the secret of the action's account (webhook-secrets.ts): a callee of one
 * account never accepts a request made for another. The body names the account, pipeline,
 * stage, action and execution, so a signed request cannot be replayed as another one's;
 * `x-sluice-delivery` (the job id) lets the callee ignore a redelivery after a retry.
 *
 * The host must resolve to public addresses only (webhook-address.ts), unless the platform
 * allows it; the connection goes to the very address that was checked.
 *
 * The answer may be JSON `{ "outputVariables": { "<name>": "<string>" }, "summary": "…",
 * "externalExecutionId": "…" }`. Only synchronous answers exist for now: a callee that needs
 * longer than the timeout will later answer through the job API instead.
 *
 * Redirects are not followed: a 3xx is a failure, so the signed body never goes to a host
 * the pipeline's author did not name.
 */

export const webhookInvokeType: ActionTypeKey = {
  category: 'Invoke',
  owner: 'Sluice',
  provider: 'Webhook',
  version: '1',
};

export interface WebhookInvokeOptions {
  /** The per-account signing secrets. */
  secrets: WebhookSecrets;
  /** `host` / `host:port` that may resolve to loopback, link-local or private addresses. */
  allowHosts: readonly string[];
  /** Largest answer read, in bytes; the rest is ignored. */
  maxResponseBytes?: number;
  /** Name resolution (tests give their own; the system's by default). */
  lookup?: Lookup;
}

const maxSummaryChars = 2048;
const defaultMaxResponseBytes = 1024 * 1024;

export function signWebhookBody(body: string | Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export class WebhookInvokeProvider implements ActionProvider {
  readonly type = webhookInvokeType;
  private readonly maxResponseBytes: number;

  constructor(private readonly options: WebhookInvokeOptions) {
    this.maxResponseBytes = options.maxResponseBytes ?? defaultMaxResponseBytes;
  }

  async run(ctx: ActionJobContext): Promise<ActionResult> {
    const url = parseUrl(ctx.configuration.Url);
    const shown = `${url.origin}${url.pathname}`;
    const body = JSON.stringify({
      accountId: ctx.accountId,
      pipelineName: ctx.pipelineName,
      stageName: ctx.stageName,
      actionName: ctx.actionName,
      pipelineExecutionId: ctx.pipelineExecutionId,
      actionExecutionId: ctx.actionExecutionId,
      jobId: ctx.jobId,
      configuration: ctx.configuration,
      inputArtifacts: ctx.inputArtifacts.map((artifact) => artifact.name),
    });
    const secret = this.options.secrets.forAccount(ctx.accountId);

    const timeout = AbortSignal.timeout(Math.max(1, ctx.timeoutMs));
    const signal = AbortSignal.any([ctx.signal, timeout]);
    const failed = (why: string) => new ActionFailure('JOB_FAILED', why);
    const interrupted = () =>
      ctx.signal.aborted
        ? failed(`Stopped while waiting for the webhook ${shown}`)
        : failed(`Webhook ${shown} did not answer within ${formatDuration(ctx.timeoutMs)} (timed out)`);

    // Name resolution counts against the timeout too (getaddrinfo cannot be cancelled: stop waiting).
    const target = await untilAborted(
      resolveWebhookAddress(url, this.options.allowHosts, this.options.lookup ?? systemLookup),
      signal,
    ).catch((error: unknown) => {
      throw signal.aborted ? interrupted() : error;
    });
    ctx.log(`POST ${shown} (delivery ${ctx.jobId})\n`);
    let status: number;
    let text: string;
    try {
      ({ status, text } = await post(url, target, {
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Sluice-Webhook/1',
          'x-sluice-signature': signWebhookBody(body, secret),
          'x-sluice-delivery': ctx.jobId,
        },
        body,
        signal,
        maxBytes: this.maxResponseBytes,
      }));
    } catch (error) {
      if (signal.aborted) throw interrupted();
      throw failed(`Webhook request to ${shown} failed: ${describeNetworkError(error)}`);
    }
    ctx.log(`Webhook answered ${status}\n`);

    if (status < 200 || status > 299) {
      const excerpt = text.slice(0, 200);
      throw failed(`Webhook answered ${status}${excerpt ? `: ${excerpt}` : ''}`);
    }
    return parseAnswer(text);
  }
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function parseUrl(value: string | undefined): URL {
  let url: URL;
  try {
    url = new URL(value ?? '');
  } catch {
    throw new ActionFailure('CONFIGURATION_ERROR', 'Url must be an http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ActionFailure('CONFIGURATION_ERROR', 'Url must be an http(s) URL');
  }
  return url;
}

/**
 * One POST to the checked address: the URL's host still names the server (Host header, TLS
 * name and certificate check), but the socket connects to `target` without another lookup.
 * Redirects are not followed (http.request never does). Reads at most `maxBytes` of the answer.
 */
function post(
  url: URL,
  target: { address: string; family: 4 | 6 },
  options: { headers: Record<string, string>; body: string; signal: AbortSignal; maxBytes: number },
): Promise<{ status: number; text: string }> {
  const pinned: LookupFunction = (_host, lookupOptions, callback) => {
    if (lookupOptions.all) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(
      url,
      {
        method: 'POST',
        headers: { ...options.headers, 'content-length': String(Buffer.byteLength(options.body)) },
        lookup: pinned,
        signal: options.signal,
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const finish = () =>
          resolve({
            status: response.statusCode ?? 0,
            text: Buffer.concat(chunks).subarray(0, options.maxBytes).toString('utf8'),
          });
        response.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          size += chunk.length;
          if (size >= options.maxBytes) {
            response.destroy();
            finish();
          }
        });
        response.on('end', finish);
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/** A 2xx answer: JSON with output variables is used; anything else is a plain success. */
function parseAnswer(text: string): ActionResult {
  let parsed: unknown;
  try {
    parsed = text.trim() ? JSON.parse(text) : undefined;
  } catch {
    return { outputVariables: {} };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { outputVariables: {} };
  const answer = parsed as Record<string, unknown>;
  const outputVariables: Record<string, string> = {};
  if (answer.outputVariables !== undefined) {
    const variables = answer.outputVariables;
    if (typeof variables !== 'object' || variables === null || Array.isArray(variables)) {
      throw new ActionFailure('JOB_FAILED', 'Webhook answer: outputVariables must be an object of strings');
    }
    for (const [name, value] of Object.entries(variables)) {
      if (!outputVariableNamePattern.test(name)) {
        throw new ActionFailure(
          'JOB_FAILED',
          `Webhook answer: "${name}" is not a valid output variable name`,
        );
      }
      if (typeof value !== 'string') {
        throw new ActionFailure('JOB_FAILED', `Webhook answer: outputVariables.${name} must be a string`);
      }
      outputVariables[name] = value;
    }
  }
  const result: ActionResult = { outputVariables: checkOutputVariables(outputVariables) };
  if (typeof answer.summary === 'string') result.summary = answer.summary.slice(0, maxSummaryChars);
  if (typeof answer.externalExecutionId === 'string') result.externalExecutionId = answer.externalExecutionId;
  return result;
}

function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as Error & { cause?: unknown }).cause;
  const inner = cause instanceof Error ? cause : error;
  const code = (inner as NodeJS.ErrnoException).code;
  return code ? `${code} (${inner.message})` : inner.message;
}
