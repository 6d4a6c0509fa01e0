import fsp from 'node:fs/promises';
import path from 'node:path';

/**
 * The globs of a buildspec's `artifacts.files` (CodeBuild's dialect): `*` and `?` stay within
 * one path segment, `**` spans any number of segments (zero included), `[abc]`/`[!abc]` are
 * character classes (also within a segment). Dot files match like any other. A pattern naming
 * a directory selects everything under it. Node 20 has no `fs.glob`, and these few rules need
 * no dependency.
 *
 * Matching runs in linear time: a pattern compiles to a small automaton (one state per pattern
 * element) that is simulated over the name with a set of active states, the way RE2 and Thompson's
 * construction do, so no input makes it backtrack. A backtracking regular expression took 10 s
 * of event loop for `*a*a*a*b` against 200 characters; this takes pattern length × name
 * length steps, whatever the input.
 */

type GlobNode =
  /** Consumes one character that `test` accepts. */
  | { kind: 'char'; test: (char: string) => boolean }
  /** `*`: any characters but `/`, zero included. */
  | { kind: 'star' }
  /** `**` followed by `/`: zero or more whole segments, each ending in `/`; its companion is next. */
  | { kind: 'segments' }
  /** Inside one of the segments that `segments` consumes. */
  | { kind: 'segmentsInside' }
  /** `**` at the end: anything at all. */
  | { kind: 'rest' };

export interface GlobMatcher {
  readonly pattern: string;
  matches(relPath: string): boolean;
  /** `relPath` or one of its ancestor folders matches (a pattern naming a folder selects its files). */
  matchesSelfOrAncestor(relPath: string): boolean;
}

export function compileGlob(pattern: string): GlobMatcher {
  const nodes: GlobNode[] = [];
  const segments = normalizePattern(pattern).split('/');
  segments.forEach((segment, index) => {
    const last = index === segments.length - 1;
    if (segment === '**') {
      if (last) nodes.push({ kind: 'rest' });
      else nodes.push({ kind: 'segments' }, { kind: 'segmentsInside' });
      return;
    }
    compileSegment(segment, nodes);
    if (!last) nodes.push({ kind: 'char', test: (char) => char === '/' });
  });
  return {
    pattern,
    matches: (relPath) => run(nodes, relPath, false),
    matchesSelfOrAncestor: (relPath) => run(nodes, relPath, true),
  };
}

/** Epsilon moves go forward only, so one ascending pass closes a state set. */
function close(nodes: readonly GlobNode[], states: Uint8Array): void {
  for (let i = 0; i < nodes.length; i += 1) {
    if (!states[i]) continue;
    const node = nodes[i];
    if (node.kind === 'star' || node.kind === 'rest') states[i + 1] = 1;
    else if (node.kind === 'segments') states[i + 2] = 1;
  }
}

/**
 * Whether the automaton accepts `text` — or, with `prefixes`, any prefix of it that ends just
 * before a `/` (an ancestor folder): one pass answers for the path and all its ancestors.
 */
function run(nodes: readonly GlobNode[], text: string, prefixes: boolean): boolean {
  const accept = nodes.length;
  let current = new Uint8Array(accept + 1);
  let next = new Uint8Array(accept + 1);
  current[0] = 1;
  close(nodes, current);
  for (const char of text) {
    const slash = char === '/';
    if (prefixes && slash && current[accept]) return true;
    next.fill(0);
    let alive = false;
    for (let i = 0; i < accept; i += 1) {
      if (!current[i]) continue;
      const node = nodes[i];
      let target = -1;
      if (node.kind === 'char') target = node.test(char) ? i + 1 : -1;
      else if (node.kind === 'star') target = slash ? -1 : i;
      else if (node.kind === 'rest') target = i;
      else if (node.kind === 'segments') target = slash ? i : i + 1;
      else target = slash ? i - 1 : i; // segmentsInside: a '/' ends the segment
      if (target >= 0) {
        next[target] = 1;
        alive = true;
      }
    }
    if (!alive) return false;
    close(nodes, next);
    [current, next] = [next, current];
  }
  return current[accept] === 1;
}

function normalizePattern(pattern: string): string {
  let normalized = pattern.trim().replace(/\/{2,}/g, '/');
  while (normalized.startsWith('./')) normalized = normalized.slice(2);
  if (normalized.endsWith('/') && normalized.length > 1) normalized = normalized.slice(0, -1);
  return normalized;
}

function compileSegment(segment: string, nodes: GlobNode[]): void {
  // By code point, as the name is read.
  const chars = [...segment];
  for (let i = 0; i < chars.length; i += 1) {
    const char = chars[i];
    if (char === '*') {
      nodes.push({ kind: 'star' });
    } else if (char === '?') {
      nodes.push({ kind: 'char', test: (c) => c !== '/' });
    } else if (char === '[') {
      const close = chars.indexOf(']', i + 2);
      if (close === -1) {
        nodes.push({ kind: 'char', test: (c) => c === '[' });
        continue;
      }
      nodes.push({ kind: 'char', test: characterClass(chars.slice(i + 1, close)) });
      i = close;
    } else {
      nodes.push({ kind: 'char', test: (c) => c === char });
    }
  }
}

/** `[abc]`, `[a-z]`, `[!abc]` / `[^abc]`: never `/`, which separates segments. */
function characterClass(source: readonly string[]): (char: string) => boolean {
  const negated = source[0] === '!' || source[0] === '^';
  const body = negated ? source.slice(1) : source;
  const ranges: [number, number][] = [];
  for (let i = 0; i < body.length; i += 1) {
    const from = body[i].codePointAt(0)!;
    if (body[i + 1] === '-' && i + 2 < body.length) {
      ranges.push([from, body[i + 2].codePointAt(0)!]);
      i += 2;
    } else {
      ranges.push([from, from]);
    }
  }
  return (char) => {
    if (char === '/') return false;
    const code = char.codePointAt(0)!;
    return ranges.some(([from, to]) => code >= from && code <= to) !== negated;
  };
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
  const includes = include.map(compileGlob);
  const excludes = exclude.map(compileGlob);
  const matches = (relPath: string, patterns: GlobMatcher[]) =>
    patterns.some((pattern) => pattern.matchesSelfOrAncestor(relPath));
  return paths.filter((relPath) => matches(relPath, includes) && !matches(relPath, excludes));
}
