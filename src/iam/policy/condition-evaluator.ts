import { BlockList, isIP } from 'node:net';
import { CONDITION_OPERATORS, type OperatorSpec } from './condition-operators';
import { parseIamBool, parseIamDate, parseIamNumber, parseIpRange } from './condition-values';
import {
  compileTokens,
  matchesCompiled,
  parsePatternTemplate,
  renderTemplate,
  resolvePatternTemplate,
  type CompiledPattern,
  STAR,
  type PatternTemplate,
} from './iam-match';
import type { ConditionClause, PolicyVersion } from './policy-document';
import type { RequestContext } from './request-context';

/**
 * Compiles a statement's Condition into one predicate, with IAM's semantics:
 * - clauses (operators, and keys within an operator) all must hold;
 * - several values for one key: any may match (for `…Not…` operators: none may match);
 * - a missing key makes the clause false, except `…IfExists` (true), negated operators (true,
 *   as IAM documents for StringNotLike/ArnNotLike and the like), `Null` (tests presence),
 *   `ForAllValues` (true on an empty set) and `ForAnyValue` (false on an empty set).
 */
export type ConditionPredicate = (context: RequestContext) => boolean;

/** True when one request value matches at least one of the policy's values. */
type ValueTest = (value: string, context: RequestContext) => boolean;

export function compileConditions(
  clauses: readonly ConditionClause[],
  version: PolicyVersion,
): ConditionPredicate | undefined {
  if (clauses.length === 0) return undefined;
  const tests = clauses.map((clause) => compileClause(clause, version === '2012-10-17'));
  if (tests.length === 1) return tests[0];
  return (context) => {
    for (const test of tests) if (!test(context)) return false;
    return true;
  };
}

function compileClause(clause: ConditionClause, variables: boolean): ConditionPredicate {
  const spec = Object.hasOwn(CONDITION_OPERATORS, clause.operator)
    ? CONDITION_OPERATORS[clause.operator]
    : undefined;
  // parsePolicyDocument only produces known operators; anything else is a programming error.
  if (!spec) throw new Error(`Unknown condition operator ${clause.operator}`);
  const key = clause.key.toLowerCase();

  if (spec.comparison === 'isNull') {
    const wantAbsent = clause.values.map((value) => parseIamBool(value) === true);
    return (context) => {
      const present = valuesOf(context[key]).length > 0;
      return wantAbsent.some((absent) => absent !== present);
    };
  }

  const matchesAny = compileValueTest(spec, clause.values, variables);
  const satisfies: ValueTest = spec.negated ? (value, context) => !matchesAny(value, context) : matchesAny;
  const { qualifier, ifExists } = clause;
  const whenMissing = ifExists || qualifier === 'ForAllValues' || (qualifier === undefined && spec.negated);
  // Unqualified negated operators over a multi-valued key: no request value may match.
  const every = qualifier === 'ForAllValues' || (qualifier === undefined && spec.negated);

  return (context) => {
    const raw = context[key];
    if (typeof raw === 'string') return satisfies(raw, context);
    const values = valuesOf(raw);
    if (values.length === 0) return whenMissing;
    return every
      ? values.every((value) => satisfies(value, context))
      : values.some((value) => satisfies(value, context));
  };
}

function valuesOf(raw: string | readonly string[] | undefined): readonly string[] {
  if (raw === undefined) return [];
  return typeof raw === 'string' ? [raw] : raw;
}

function compileValueTest(spec: OperatorSpec, values: readonly string[], variables: boolean): ValueTest {
  switch (spec.family) {
    case 'String':
      if (spec.comparison === 'like') return likeTest(values, variables);
      return equalsTest(values, variables, spec.comparison === 'equalsIgnoreCase');
    case 'Arn':
      return arnLikeTest(values, variables);
    case 'Bool': {
      const accepted = new Set(values.map((value) => value.trim().toLowerCase()));
      return (value) => accepted.has(value.trim().toLowerCase());
    }
    case 'Numeric':
      return orderedTest(values.map(parseIamNumber), parseIamNumber, spec);
    case 'Date':
      return orderedTest(values.map(parseIamDate), parseIamDate, spec);
    case 'IpAddress':
      return ipTest(values);
    case 'Null':
      throw new Error('Null is handled by compileClause');
  }
}

function equalsTest(values: readonly string[], variables: boolean, ignoreCase: boolean): ValueTest {
  const fold = (text: string) => (ignoreCase ? text.toLowerCase() : text);
  const templates = values.map((value) => parsePatternTemplate(value, variables));
  if (!templates.some((template) => template.hasVariables)) {
    const accepted = new Set(templates.map((template) => fold(renderTemplate(template, {}) ?? '')));
    return (value) => accepted.has(fold(value));
  }
  return (value, context) => {
    const subject = fold(value);
    return templates.some((template) => {
      const expected = renderTemplate(template, context);
      return expected !== undefined && fold(expected) === subject;
    });
  };
}

/** Patterns fixed at compile time are compiled once; those with variables per request. */
function patternsOf(
  values: readonly string[],
  variables: boolean,
): { fixed: CompiledPattern[]; dynamic: PatternTemplate[] } {
  const fixed: CompiledPattern[] = [];
  const dynamic: PatternTemplate[] = [];
  for (const value of values) {
    const template = parsePatternTemplate(value, variables);
    if (template.hasVariables) dynamic.push(template);
    else {
      const compiled = resolvePatternTemplate(template, {}, { caseInsensitive: false });
      if (compiled) fixed.push(compiled);
    }
  }
  return { fixed, dynamic };
}

function likeTest(values: readonly string[], variables: boolean): ValueTest {
  const { fixed, dynamic } = patternsOf(values, variables);
  return (value, context) => {
    for (const pattern of fixed) if (matchesCompiled(pattern, value)) return true;
    for (const template of dynamic) {
      const pattern = resolvePatternTemplate(template, context, { caseInsensitive: false });
      if (pattern && matchesCompiled(pattern, value)) return true;
    }
    return false;
  };
}

// ArnLike/ArnEquals compare each of the six colon-separated ARN components on its own
// (arn:partition:service:region:account:resource), as IAM documents: a `*` in the region
// cannot run into the account. Only the last component (the resource) may hold colons. A
// value that is not an ARN matches nothing; a pattern of fewer than six components matches
// nothing either, except the bare `*`, which matches every ARN.
type ArnPattern = { kind: 'any' } | { kind: 'none' } | { kind: 'parts'; parts: CompiledPattern[] };

const COLON = 58;
const ARN_COMPONENTS = 6;
const STAR_ONLY = (tokens: Int32Array): boolean => tokens.length > 0 && tokens.every((t) => t === STAR);

function arnPatternOf(compiled: CompiledPattern): ArnPattern {
  const tokens = compiled.tokens;
  const cuts: number[] = [];
  for (let i = 0; i < tokens.length && cuts.length < ARN_COMPONENTS - 1; i++) {
    if (tokens[i] === COLON) cuts.push(i);
  }
  if (cuts.length < ARN_COMPONENTS - 1) return STAR_ONLY(tokens) ? { kind: 'any' } : { kind: 'none' };
  const bounds = [-1, ...cuts, tokens.length];
  const parts = bounds.slice(1).map((end, i) => compileTokens(tokens.subarray(bounds[i] + 1, end), false));
  return { kind: 'parts', parts };
}

/** The six components of an ARN, or undefined for text that is not one. */
function arnComponents(value: string): string[] | undefined {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < ARN_COMPONENTS - 1; i++) {
    const colon = value.indexOf(':', start);
    if (colon < 0) return undefined;
    parts.push(value.slice(start, colon));
    start = colon + 1;
  }
  parts.push(value.slice(start));
  return parts[0] === 'arn' ? parts : undefined;
}

function arnMatches(pattern: ArnPattern, value: string): boolean {
  const components = arnComponents(value);
  if (!components || pattern.kind === 'none') return false;
  if (pattern.kind === 'any') return true;
  return pattern.parts.every((part, i) => matchesCompiled(part, components[i]));
}

function arnLikeTest(values: readonly string[], variables: boolean): ValueTest {
  const { fixed, dynamic } = patternsOf(values, variables);
  const fixedArns = fixed.map(arnPatternOf);
  return (value, context) => {
    for (const pattern of fixedArns) if (arnMatches(pattern, value)) return true;
    for (const template of dynamic) {
      const pattern = resolvePatternTemplate(template, context, { caseInsensitive: false });
      if (pattern && arnMatches(arnPatternOf(pattern), value)) return true;
    }
    return false;
  };
}

function orderedTest(
  expected: readonly (number | undefined)[],
  read: (text: string) => number | undefined,
  spec: OperatorSpec,
): ValueTest {
  const bounds = expected.filter((value): value is number => value !== undefined);
  const compare = comparator(spec);
  return (value) => {
    const actual = read(value);
    return actual !== undefined && bounds.some((bound) => compare(actual, bound));
  };
}

function comparator(spec: OperatorSpec): (actual: number, bound: number) => boolean {
  switch (spec.comparison) {
    case 'lessThan':
      return (actual, bound) => actual < bound;
    case 'lessThanEquals':
      return (actual, bound) => actual <= bound;
    case 'greaterThan':
      return (actual, bound) => actual > bound;
    case 'greaterThanEquals':
      return (actual, bound) => actual >= bound;
    default:
      return (actual, bound) => actual === bound;
  }
}

/**
 * IpAddress/NotIpAddress. An address is inside a block only of its own family: Node's BlockList
 * would match 8.8.8.8 against `::/0` through the IPv4-mapped form, so a
 * `NotIpAddress ["10.0.0.0/8", "::/0"]` Deny would never apply to IPv4 callers. IPv4 blocks
 * go into one list, IPv6 blocks into another, and each address is checked against its own.
 * An IPv4-mapped IPv6 request address (`::ffff:a.b.c.d`, how a dual-stack socket reports an
 * IPv4 client) is read as the IPv4 address it carries, as AWS reports IPv4 clients.
 */
function ipTest(values: readonly string[]): ValueTest {
  const v4 = new BlockList();
  const v6 = new BlockList();
  let hasV4 = false;
  let hasV6 = false;
  for (const value of values) {
    const range = parseIpRange(value);
    if (!range) continue;
    if (range.family === 'ipv4') {
      v4.addSubnet(range.address, range.prefix, 'ipv4');
      hasV4 = true;
    } else {
      v6.addSubnet(range.address, range.prefix, 'ipv6');
      hasV6 = true;
    }
  }
  return (value) => {
    const address = unmapIpv4(value.trim());
    const version = isIP(address);
    if (version === 4) return hasV4 && v4.check(address, 'ipv4');
    return version === 6 && hasV6 && v6.check(address, 'ipv6');
  };
}

const IPV4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/** `::ffff:a.b.c.d` → `a.b.c.d`; any other text unchanged. */
export function unmapIpv4(address: string): string {
  const mapped = IPV4_MAPPED.exec(address);
  return mapped && isIP(mapped[1]) === 4 ? mapped[1] : address;
}
