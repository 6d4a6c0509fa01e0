import fsp from 'node:fs/promises';
import path from 'node:path';

/**
 * Folders the platform lets providers touch on the server's file system (deploy targets, local
 * Git repositories), per account. A root may contain `<account id>`, replaced by the id of the
 * account whose action runs, so one setting gives each tenant a folder of its own; a root
 * without it is shared by every account.
 *
 * Two checks, for two moments: `containsLexically` when a declaration is validated (the path is
 * only text then, and may not exist yet), `realPathWithin` when the action runs, on real paths,
 * so neither `..` nor a symlink planted anywhere on the way leads out of the root.
 */
export const accountIdPlaceholder = '<account id>';

export class TenantRoots {
  constructor(private readonly templates: readonly string[]) {}

  /** No root at all: every path is refused. */
  get empty(): boolean {
    return this.templates.length === 0;
  }

  /** True when some root is not per account (several tenants may then share it). */
  get shared(): boolean {
    return this.templates.some((template) => !template.includes(accountIdPlaceholder));
  }

  /** The roots as absolute, normalized paths for one account. */
  forAccount(accountId: string): string[] {
    return this.templates.map((template) =>
      path.resolve(template.split(accountIdPlaceholder).join(accountId)),
    );
  }

  /** For messages: the roots the account may use, or that there are none. */
  describe(accountId: string): string {
    const roots = this.forAccount(accountId);
    return roots.length ? roots.join(', ') : '(none configured)';
  }

  /** The root `candidate` lies in by its text alone (`..` resolved, symlinks not followed). */
  containsLexically(accountId: string, candidate: string): string | undefined {
    if (!path.isAbsolute(candidate)) return undefined;
    const resolved = path.resolve(candidate);
    return this.forAccount(accountId).find((root) => isWithin(root, resolved));
  }

  /**
   * The real path of `candidate` when it lies in one of the account's roots, following every
   * symlink; `undefined` otherwise. The part of `candidate` that does not exist yet is taken
   * as written below the deepest existing ancestor (it holds no symlink, since it does not
   * exist). Roots themselves are compared by their real paths too.
   */
  async realPathWithin(
    accountId: string,
    candidate: string,
  ): Promise<{ root: string; real: string } | undefined> {
    if (!this.containsLexically(accountId, candidate)) return undefined;
    const real = await realPathOfPossiblyMissing(path.resolve(candidate));
    for (const root of this.forAccount(accountId)) {
      const realRoot = await realPathOfPossiblyMissing(root);
      if (isWithin(realRoot, real)) return { root: realRoot, real };
    }
    return undefined;
  }
}

/** `inner` is `outer` or lies below it (both absolute and normalized). */
export function isWithin(outer: string, inner: string): boolean {
  if (inner === outer) return true;
  const prefix = outer.endsWith(path.sep) ? outer : outer + path.sep;
  return inner.startsWith(prefix);
}

async function realPathOfPossiblyMissing(absolute: string, depth = 0): Promise<string> {
  const missing: string[] = [];
  let current = absolute;
  for (;;) {
    try {
      const real = await fsp.realpath(current);
      return missing.length ? path.join(real, ...missing.reverse()) : real;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // A dangling symlink: where it would lead is what counts, not its own name.
      const link = await fsp.readlink(current).catch(() => undefined);
      if (link !== undefined) {
        if (depth > 40) throw Object.assign(new Error(`too many symlinks at ${current}`), { code: 'ELOOP' });
        const target = path.resolve(path.dirname(current), link);
        return realPathOfPossiblyMissing(path.join(target, ...missing.reverse()), depth + 1);
      }
      const parent = path.dirname(current);
      if (parent === current) return absolute;
      missing.push(path.basename(current));
      current = parent;
    }
  }
}
