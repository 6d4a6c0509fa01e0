import { createHmac } from 'node:crypto';
import { checkOutputVariables, outputVariableNamePattern } from './output-variables';
import { formatDuration } from './process-group';
import {
  type ActionJobContext,
  type ActionProvider,
  type ActionResult,
  type ActionTypeKey,
  ActionFailure,
} from './provider';

/**
 * `Invoke/Sluice/Webhook/1`: POSTs the job to `Url` and succeeds when the callee answers 2xx
 * within the action's timeout. The callee proves the request is Sluice's by checking
 * `x-sluice-signature: sha256=<hex HMAC-SHA256 of the raw body>`, the scheme GitHub uses for
 * its webhooks; `x-sluice-delivery` (the job id) lets it ignore a redelivery after a retry.
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
  /** Signs requests of actions whose configuration gives no `Secret`. */
  secret: string;
  /** Largest answer read, in bytes; the rest is ignored. */
  maxResponseBytes?: number;
}

/** Configuration keys never sent in the body. */
const secretKeys = ['Secret'];
const maxSummaryChars = 2048;
const defaultMaxResponseBytes = 1024 * 1024;

export function signWebhookBody(body: string | Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export class WebhookInvokeProvider implements ActionProvider {
  readonly type = webhookInvokeType;
  private readonly secret: string;
  private readonly maxResponseBytes: number;

  constructor(options: WebhookInvokeOptions) {
    this.secret = options.secret;
    this.maxResponseBytes = options.maxResponseBytes ?? defaultMaxResponseBytes;
  }

  async run(ctx: ActionJobContext): Promise<ActionResult> {
    const url = parseUrl(ctx.configuration.Url);
    const shown = `${url.origin}${url.pathname}`;
    const configuration = Object.fromEntries(
      Object.entries(ctx.configuration).filter(([key]) => !secretKeys.includes(key)),
    );
    const body = JSON.stringify({
      pipelineName: ctx.pipelineName,
      stageName: ctx.stageName,
      actionName: ctx.actionName,
      pipelineExecutionId: ctx.pipelineExecutionId,
      actionExecutionId: ctx.actionExecutionId,
      jobId: ctx.jobId,
      configuration,
      inputArtifacts: ctx.inputArtifacts.map((artifact) => artifact.name),
    });
    const secret = ctx.configuration.Secret || this.secret;

    const timeout = AbortSignal.timeout(Math.max(1, ctx.timeoutMs));
    const signal = AbortSignal.any([ctx.signal, timeout]);
    const failed = (why: string) => new ActionFailure('JOB_FAILED', why);
    const interrupted = () =>
      ctx.signal.aborted
        ? failed(`Stopped while waiting for the webhook ${shown}`)
        : failed(`Webhook ${shown} did not answer within ${formatDuration(ctx.timeoutMs)} (timed out)`);

    ctx.log(`POST ${shown} (delivery ${ctx.jobId})\n`);
    let status: number;
    let text: string;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Sluice-Webhook/1',
          'x-sluice-signature': signWebhookBody(body, secret),
          'x-sluice-delivery': ctx.jobId,
        },
        body,
        redirect: 'manual',
        signal,
      });
      status = response.status;
      text = await readCapped(response, this.maxResponseBytes);
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

async function readCapped(response: Response, maxBytes: number): Promise<string> {
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
    if (size >= maxBytes) {
      await reader.cancel();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
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
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code ? `${code} (${cause.message})` : cause.message;
  }
  return error.message;
}
