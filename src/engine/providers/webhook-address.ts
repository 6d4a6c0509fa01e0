import dns from 'node:dns';
import net from 'node:net';
import { ActionFailure } from './provider';

/**
 * Which addresses an Invoke/Webhook may reach (SSRF protection). A webhook URL is a tenant's
 * choice, and the server sits next to things no tenant should reach: its own ports, the
 * cloud's metadata service (169.254.169.254), the private network. So every address a host
 * name resolves to must be public, unless the platform allows the host in
 * SLUICE_WEBHOOK_ALLOW_HOSTS; the request then goes to the address that was checked (no second
 * lookup that DNS rebinding could answer differently).
 *
 * IPv4 and IPv6 are compared within their own family; an IPv6 address that embeds an IPv4
 * one (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`) is judged by the
 * IPv4 address it leads to.
 */

interface Range {
  bytes: number[];
  prefix: number;
  name: string;
}

function range(cidr: string, name: string): Range {
  const [address, prefix] = cidr.split('/');
  return { bytes: addressBytes(address)!, prefix: Number(prefix), name };
}

const blockedV4: Range[] = [
  range('0.0.0.0/8', 'unspecified'),
  range('10.0.0.0/8', 'private'),
  range('100.64.0.0/10', 'shared (CGNAT)'),
  range('127.0.0.0/8', 'loopback'),
  range('169.254.0.0/16', 'link-local'),
  range('172.16.0.0/12', 'private'),
  range('192.0.0.0/24', 'IETF protocol assignments'),
  range('192.168.0.0/16', 'private'),
  range('198.18.0.0/15', 'benchmarking'),
  range('224.0.0.0/4', 'multicast'),
  range('240.0.0.0/4', 'reserved'),
];

const blockedV6: Range[] = [
  range('::/128', 'unspecified'),
  range('::1/128', 'loopback'),
  range('fe80::/10', 'link-local'),
  range('fec0::/10', 'site-local'),
  range('fc00::/7', 'unique local (private)'),
  range('ff00::/8', 'multicast'),
];

/** IPv6 prefixes whose last 32 bits are an IPv4 address. */
const embeddingV4: Range[] = [
  range('::ffff:0:0/96', 'IPv4-mapped'),
  range('::/96', 'IPv4-compatible'),
  range('64:ff9b::/96', 'NAT64'),
];

/** 4 bytes for IPv4, 16 for IPv6 (brackets and a zone id allowed), `undefined` when not an address. */
export function addressBytes(text: string): number[] | undefined {
  const address = text.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = net.isIP(address);
  if (family === 4) return address.split('.').map(Number);
  if (family !== 6) return undefined;
  let head = address;
  let tailV4: number[] = [];
  const lastColon = address.lastIndexOf(':');
  if (address.slice(lastColon + 1).includes('.')) {
    tailV4 = address
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    const prefix = address.slice(0, lastColon + 1);
    head = prefix.endsWith('::') ? prefix : prefix.slice(0, -1);
  }
  const [left, right] = head.includes('::') ? head.split('::') : [head, undefined];
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const leftGroups = groups(left);
  const rightGroups = right === undefined ? [] : groups(right);
  const total = 8 - tailV4.length / 2;
  const zeros = right === undefined ? 0 : total - leftGroups.length - rightGroups.length;
  const all = [...leftGroups, ...new Array<number>(zeros).fill(0), ...rightGroups];
  const bytes = all.flatMap((g) => [g >> 8, g & 0xff]);
  return [...bytes, ...tailV4];
}

function inRange(bytes: number[], r: Range): boolean {
  if (bytes.length !== r.bytes.length) return false;
  let bits = r.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[i] & mask) !== (r.bytes[i] & mask)) return false;
  }
  return true;
}

/** Why `address` may not be called (e.g. "loopback"), or `undefined` for a public address. */
export function forbiddenReason(address: string): string | undefined {
  const bytes = addressBytes(address);
  if (!bytes) return 'not an IP address';
  if (bytes.length === 4) return blockedV4.find((r) => inRange(bytes, r))?.name;
  const direct = blockedV6.find((r) => inRange(bytes, r));
  if (direct) return direct.name;
  const embedding = embeddingV4.find((r) => inRange(bytes, r));
  if (embedding) {
    const v4 = bytes.slice(12);
    const reason = blockedV4.find((r) => inRange(v4, r))?.name;
    return reason ? `${embedding.name} ${reason}` : undefined;
  }
  return undefined;
}

export type Lookup = (host: string) => Promise<{ address: string; family: number }[]>;

export const systemLookup: Lookup = (host) => dns.promises.lookup(host, { all: true, verbatim: true });

/** The URL's host as written in the allow list: lower case, IPv6 in brackets. */
function hostOf(url: URL): string {
  return url.hostname.toLowerCase();
}

function portOf(url: URL): string {
  return url.port || (url.protocol === 'https:' ? '443' : '80');
}

/** `host` allows the host on every port, `host:port` on that port only. */
export function isAllowedHost(url: URL, allowHosts: readonly string[]): boolean {
  const host = hostOf(url);
  const port = portOf(url);
  return allowHosts.some((entry) => entry === host || entry === `${host}:${port}`);
}

/**
 * The address to connect to for `url`: its host resolved once, every address checked.
 * Throws CONFIGURATION_ERROR naming the host and why it is refused.
 */
export async function resolveWebhookAddress(
  url: URL,
  allowHosts: readonly string[],
  lookup: Lookup = systemLookup,
): Promise<{ address: string; family: 4 | 6 }> {
  const host = hostOf(url);
  const literal = host.replace(/^\[|\]$/g, '');
  const family = net.isIP(literal);
  const addresses = family
    ? [{ address: literal, family }]
    : await lookup(host).catch((error: unknown) => {
        throw new ActionFailure(
          'JOB_FAILED',
          `Webhook host ${host} could not be resolved (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
        );
      });
  if (!addresses.length) throw new ActionFailure('JOB_FAILED', `Webhook host ${host} resolved to no address`);
  if (!isAllowedHost(url, allowHosts)) {
    for (const { address } of addresses) {
      const reason = forbiddenReason(address);
      if (reason) {
        throw new ActionFailure(
          'CONFIGURATION_ERROR',
          `Webhook host ${host} resolves to ${address} (${reason}), which webhooks may not call; ` +
            `the platform can allow it with SLUICE_WEBHOOK_ALLOW_HOSTS`,
        );
      }
    }
  }
  const chosen = addresses[0];
  return { address: chosen.address, family: chosen.family === 6 ? 6 : 4 };
}
