import { LruCache } from './lru-cache';

/**
 * IAM wildcard matching: `*` matches any run of characters (`/` and `:` included), `?` exactly
 * one, everything else is literal. No regular expression is ever built from policy text: the
 * matcher walks the pattern with the classic greedy two-pointer algorithm, which is linear for
 * the usual patterns and O(pattern × value) at worst, so a hostile `*a*a*a*…` cannot backtrack
 * exponentially the way a RegExp would.
 */
export interface IamMatchOptions {
  /** Action names compare case-insensitively; ARNs and condition values case-sensitively. */
  caseInsensitive: boolean;
}

export const STAR = -1;
const ONE = -2;

export interface CompiledPattern {
  /** `any`: only `*`; `exact`: no wildcard; `prefix`: literal then one trailing `*`; else `glob`. */
  readonly kind: 'any' | 'exact' | 'prefix' | 'glob';
  readonly caseInsensitive: boolean;
  /** The literal text for `exact` and `prefix` (lower-cased when case-insensitive). */
  readonly literal: string;
  /** Code units, with STAR and ONE for the wildcards (used by `glob`). */
  readonly tokens: Int32Array;
}

const CACHE_CAPACITY = 10_000;
const patternCache = new LruCache<string, CompiledPattern>(CACHE_CAPACITY);

/** Compiles (and caches) a pattern whose every `*` and `?` is a wildcard. */
export function compileIamPattern(pattern: string, options: IamMatchOptions): CompiledPattern {
  const key = (options.caseInsensitive ? 'i:' : 's:') + pattern;
  return patternCache.getOrCompute(key, () => {
    const text = options.caseInsensitive ? pattern.toLowerCase() : pattern;
    const tokens = new Int32Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      tokens[i] = code === 42 ? STAR : code === 63 ? ONE : code;
    }
    return compileTokens(tokens, options.caseInsensitive);
  });
}

export function matchesCompiled(compiled: CompiledPattern, value: string): boolean {
  return matchesFolded(compiled, compiled.caseInsensitive ? value.toLowerCase() : value);
}

/** As `matchesCompiled`, for a value the caller already lower-cased (once per request). */
export function matchesFolded(compiled: CompiledPattern, subject: string): boolean {
  switch (compiled.kind) {
    case 'any':
      return true;
    case 'exact':
      return subject === compiled.literal;
    case 'prefix':
      return subject.startsWith(compiled.literal);
    case 'glob':
      return globMatch(compiled.tokens, subject);
  }
}

export function iamWildcardMatch(
  pattern: string,
  value: string,
  options: IamMatchOptions = { caseInsensitive: false },
): boolean {
  return matchesCompiled(compileIamPattern(pattern, options), value);
}

/** Builds a pattern from tokens already lower-cased when `caseInsensitive` (`*` = -1, `?` = -2). */
export function compileTokens(tokens: Int32Array, caseInsensitive: boolean): CompiledPattern {
  let stars = 0;
  let ones = 0;
  for (const t of tokens) {
    if (t === STAR) stars++;
    else if (t === ONE) ones++;
  }
  const literalOf = (list: Int32Array): string => String.fromCharCode(...list);
  let kind: CompiledPattern['kind'] = 'glob';
  if (stars > 0 && stars === tokens.length) kind = 'any';
  else if (stars === 0 && ones === 0) kind = 'exact';
  else if (stars === 1 && ones === 0 && tokens[tokens.length - 1] === STAR) kind = 'prefix';
  const literal =
    kind === 'exact' ? literalOf(tokens) : kind === 'prefix' ? literalOf(tokens.subarray(0, -1)) : '';
  return { kind, caseInsensitive, literal, tokens };
}

function globMatch(tokens: Int32Array, value: string): boolean {
  const n = tokens.length;
  const m = value.length;
  let p = 0;
  let s = 0;
  let starP = -1;
  let starS = 0;
  while (s < m) {
    if (p < n) {
      const t = tokens[p];
      if (t === STAR) {
        starP = p++;
        starS = s;
        continue;
      }
      if (t === ONE || t === value.charCodeAt(s)) {
        p++;
        s++;
        continue;
      }
    }
    // Mismatch: let the last `*` swallow one more character, or fail if there is none.
    if (starP < 0) return false;
    p = starP + 1;
    s = ++starS;
  }
  while (p < n && tokens[p] === STAR) p++;
  return p === n;
}

// ---------------------------------------------------------------------------------------------
// Policy variables (Version 2012-10-17 only): `${aws:username}` and friends are replaced by the
// request's value before matching; `${*}`, `${?}` and `${$}` stand for a literal `*`, `?`, `$`.
// A substituted value is always literal text, so a user named `a*` cannot widen a pattern.

export type TemplatePart =
  | { kind: 'pattern'; text: string } // policy text: `*` and `?` are wildcards
  | { kind: 'literal'; text: string } // from `${*}`, `${?}`, `${$}`: taken as is
  | { kind: 'variable'; key: string; fallback?: string }; // key lower-cased, as in RequestContext

export interface PatternTemplate {
  readonly source: string;
  readonly parts: readonly TemplatePart[];
  readonly hasVariables: boolean;
}

/** Values a template reads its variables from (RequestContext is assignable to it). */
export type VariableSource = Readonly<Record<string, string | readonly string[] | undefined>>;

const VARIABLE = /\$\{([^}]*)\}/g;
const FALLBACK = /^([^,]+?)\s*,\s*'([^']*)'$/;
const ESCAPES: Record<string, string> = { '*': '*', '?': '?', $: '$' };

/**
 * Splits `text` into parts. Without `variables` (Version 2008-10-17) the whole text is one
 * pattern, exactly as IAM treats it. `${key, 'default'}` supplies a value for a missing key.
 */
export function parsePatternTemplate(text: string, variables: boolean): PatternTemplate {
  if (!variables || !text.includes('${')) {
    return { source: text, parts: [{ kind: 'pattern', text }], hasVariables: false };
  }
  const parts: TemplatePart[] = [];
  let last = 0;
  let hasVariables = false;
  for (const match of text.matchAll(VARIABLE)) {
    const at = match.index;
    if (at > last) parts.push({ kind: 'pattern', text: text.slice(last, at) });
    const inner = match[1].trim();
    const escaped = ESCAPES[inner];
    if (escaped !== undefined) parts.push({ kind: 'literal', text: escaped });
    else {
      const withFallback = FALLBACK.exec(inner);
      parts.push(
        withFallback
          ? { kind: 'variable', key: withFallback[1].toLowerCase(), fallback: withFallback[2] }
          : { kind: 'variable', key: inner.toLowerCase() },
      );
      hasVariables = true;
    }
    last = at + match[0].length;
  }
  if (last < text.length) parts.push({ kind: 'pattern', text: text.slice(last) });
  return { source: text, parts, hasVariables };
}

function variableValue(part: { key: string; fallback?: string }, source: VariableSource): string | undefined {
  const value = source[part.key];
  // A multi-valued key has no single substitution: IAM treats it as absent.
  if (typeof value === 'string') return value;
  return part.fallback;
}

/**
 * The pattern a template stands for in this request, or undefined when a variable it needs
 * is absent (the pattern then matches nothing, as in IAM).
 */
export function resolvePatternTemplate(
  template: PatternTemplate,
  source: VariableSource,
  options: IamMatchOptions,
): CompiledPattern | undefined {
  const parts = template.parts;
  if (parts.length === 1 && parts[0].kind === 'pattern') return compileIamPattern(parts[0].text, options);
  const codes: number[] = [];
  for (const part of parts) {
    if (part.kind === 'pattern') {
      const text = options.caseInsensitive ? part.text.toLowerCase() : part.text;
      for (let i = 0; i < text.length; i++) {
        const code = text.charCodeAt(i);
        codes.push(code === 42 ? STAR : code === 63 ? ONE : code);
      }
      continue;
    }
    const raw = part.kind === 'literal' ? part.text : variableValue(part, source);
    if (raw === undefined) return undefined;
    const text = options.caseInsensitive ? raw.toLowerCase() : raw;
    for (let i = 0; i < text.length; i++) codes.push(text.charCodeAt(i));
  }
  return compileTokens(Int32Array.from(codes), options.caseInsensitive);
}

/**
 * The literal string a template stands for (for equality operators, where `*` is not a
 * wildcard anyway), or undefined when a variable it needs is absent.
 */
export function renderTemplate(template: PatternTemplate, source: VariableSource): string | undefined {
  const parts = template.parts;
  if (parts.length === 1 && parts[0].kind === 'pattern') return parts[0].text;
  let out = '';
  for (const part of parts) {
    if (part.kind === 'variable') {
      const value = variableValue(part, source);
      if (value === undefined) return undefined;
      out += value;
    } else out += part.text;
  }
  return out;
}
