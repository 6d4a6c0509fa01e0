import fsp from 'node:fs/promises';
import path from 'node:path';

/**
 * The globs of a buildspec's `artifacts.files` (CodeBuild's dialect): `*` and `?` stay within
 * one path segment, `**` spans any number of segments (zero included), `[abc]`/`[!abc]` are
 * character classes. Dot files match like any other. A pattern naming a directory selects
 * everything under it. Node 20 has no `fs.glob`, and these few rules need no dependency.
 */

export function globToRegExp(pattern: string): RegExp {
  const segments = normalizePattern(pattern).split('/');
  let source = '';
  segments.forEach((segment, index) => {
    const last = index === segments.length - 1;
    if (segment === '**') source += last ? '.*' : '(?:[^/]*/)*';
    else source += segmentToRegExp(segment) + (last ? '' : '/');
  });
  return new RegExp(`^${source}$`);
}

function normalizePattern(pattern: string): string {
  let normalized = pattern.trim().replace(/\/{2,}/g, '/');
  while (normalized.startsWith('./')) normalized = normalized.slice(2);
  if (normalized.endsWith('/') && normalized.length > 1) normalized = normalized.slice(0, -1);
  return normalized;
}

function segmentToRegExp(segment: string): string {
  let source = '';
  for (let i = 0; i < segment.length; i += 1) {
    const char = segment[i];
    if (char === '*') {
      source += '[^/]*';
    } else if (char === '?') {
      source += '[^/]';
    } else if (char === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close === -1) {
        source += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, close);
      const negated = body.startsWith('!') || body.startsWith('^');
      if (negated) body = body.slice(1);
      source += `[${negated ? '^' : ''}${body.replace(/[\\\]]/g, '\\$&')}]`;
      i = close;
    } else {
      source += char.replace(/[.+^${}()|\\/]/g, '\\$&');
    }
  }
  return source;
}

/** Files and symlinks under `base` (symlinks are not followed), as sorted `/`-separated paths. */
export async function listFiles(base: string): Promise<string[]> {
  const found: string[] = [];
  async function walk(absDir: string, relDir: string): Promise<void> {
    for (const child of await fsp.readdir(absDir, { withFileTypes: true })) {
      const relPath = relDir === '' ? child.name : `${relDir}/${child.name}`;
      if (child.isDirectory()) await walk(path.join(absDir, child.name), relPath);
      else if (child.isFile() || child.isSymbolicLink()) found.push(relPath);
    }
  }
  await walk(base, '');
  return found.sort();
}

/** The paths matching one of `include` and none of `exclude`, directory patterns included. */
export function selectPaths(
  paths: readonly string[],
  include: readonly string[],
  exclude: readonly string[] = [],
) {
  const includes = include.map(globToRegExp);
  const excludes = exclude.map(globToRegExp);
  const matches = (candidates: readonly string[], patterns: RegExp[]) =>
    candidates.some((candidate) => patterns.some((pattern) => pattern.test(candidate)));
  return paths.filter((relPath) => {
    const candidates = withAncestors(relPath);
    return matches(candidates, includes) && !matches(candidates, excludes);
  });
}

function withAncestors(relPath: string): string[] {
  const parts = relPath.split('/');
  return parts.map((_part, index) => parts.slice(0, index + 1).join('/'));
}
