/**
 * Whether a WebSocket upgrade may proceed, judged by its `Origin` header. Browsers let a page
 * of any site open a WebSocket to any server (no same-origin policy applies), and `Origin` is
 * what tells a page of ours, or of a console we trust, from someone else's. Clients that are
 * not browsers send none, or whatever they like: the check protects browser users, nothing more.
 *
 * Allowed: no `Origin` (CLIs, Node clients); the same origin (its host equals `Host`, so the
 * page came from this server); anything when `allowed` is `*`; an origin on the list.
 */
export function originAllowed(
  origin: string | undefined,
  host: string | undefined,
  allowed: '*' | readonly string[],
): boolean {
  if (origin === undefined || origin === '') return true;
  if (allowed === '*') return true;
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return false;
  }
  // `null` (sandboxed frames, file:// pages) is nobody's origin: never the same, never listed.
  if (parsed.origin === 'null') return false;
  if (host !== undefined && parsed.host === hostAs(parsed.protocol, host)) return true;
  return allowed.includes(parsed.origin);
}

/** `Host` as the URL parser spells it for `protocol` (lower case, default port dropped). */
function hostAs(protocol: string, host: string): string | undefined {
  try {
    return new URL(`${protocol}//${host}`).host;
  } catch {
    return undefined;
  }
}
