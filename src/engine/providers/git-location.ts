import path from 'node:path';
import { ActionFailure } from './provider';
import type { TenantRoots } from './tenant-roots';

/**
 * Where a Source/Git `RepositoryUrl` points, as git itself reads it: a URL with a scheme
 * (`https://`, `ssh://`, `git://`, `file://`), the scp-like `[user@]host:path` (ssh: a colon
 * before any slash), or otherwise a path on this machine.
 *
 * Remote locations are the network's business (and a sandbox's). A local one would let a
 * tenant read any repository on the server, another tenant's included, so it is allowed only
 * under the platform's Git roots (SLUICE_GIT_LOCAL_ROOTS, `<account id>` per account), compared
 * by real path so neither `..` nor a symlink leads out. Relative paths are refused: git would
 * read them relative to wherever it runs.
 */
export function localRepositoryPath(url: string): string | undefined {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url);
  if (scheme) {
    if (scheme[1].toLowerCase() !== 'file') return undefined;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ActionFailure('CONFIGURATION_ERROR', 'RepositoryUrl is not a valid file:// URL');
    }
    if (parsed.host !== '') {
      throw new ActionFailure(
        'CONFIGURATION_ERROR',
        'RepositoryUrl must be a file:// URL without a host (file:///path)',
      );
    }
    return decodeURIComponent(parsed.pathname);
  }
  const colon = url.indexOf(':');
  const slash = url.indexOf('/');
  if (colon > 0 && (slash === -1 || colon < slash)) return undefined; // scp-like ssh
  if (!path.isAbsolute(url)) {
    throw new ActionFailure(
      'CONFIGURATION_ERROR',
      'RepositoryUrl must be a remote URL (https://, ssh://, git://, user@host:path) or an absolute path',
    );
  }
  return url;
}

/** Throws CONFIGURATION_ERROR when `url` is a local repository outside the account's Git roots. */
export async function checkRepositoryLocation(
  url: string,
  accountId: string,
  roots: TenantRoots,
): Promise<void> {
  const local = localRepositoryPath(url);
  if (local === undefined) return;
  if (!(await roots.realPathWithin(accountId, local))) {
    throw new ActionFailure(
      'CONFIGURATION_ERROR',
      `RepositoryUrl ${url} is a local repository outside the allowed Git roots ` +
        `(SLUICE_GIT_LOCAL_ROOTS: ${roots.describe(accountId)}); use a remote URL or a path under one of them`,
    );
  }
}
