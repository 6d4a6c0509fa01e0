import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Each account's Invoke/Webhook signing secret, derived from one server key:
 * `hex(HMAC-SHA256(serverKey, "sluice-webhook-secret/v1:" + accountId))`.
 *
 * Why derived rather than stored: nothing new to keep in the database or to back up, every
 * instance and worker that holds the server key computes the same secret, and one account's
 * secret tells nothing about another's or about the server key (HMAC is a PRF). A callee of
 * account A therefore cannot forge requests that account B's callees accept. Rotation is
 * rotating the server key (`SLUICE_WEBHOOK_SECRET`, or deleting `<data dir>/webhook-secret`),
 * which changes every account's secret at once; the account reads its current secret with the
 * `webhookSigningSecret` query.
 */
export class WebhookSecrets {
  constructor(private readonly serverKey: string) {}

  forAccount(accountId: string): string {
    return createHmac('sha256', this.serverKey).update(`sluice-webhook-secret/v1:${accountId}`).digest('hex');
  }
}

/** The server key: the configured one, or one generated once into the data folder (mode 600). */
export function loadWebhookServerKey(configured: string | undefined, dataDir: string): string {
  if (configured) return configured;
  const file = path.join(dataDir, 'webhook-secret');
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dataDir, { recursive: true });
    try {
      fs.writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
    } catch (error) {
      // Another process sharing the data folder wrote it first: use that one.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  return fs.readFileSync(file, 'utf8').trim();
}
