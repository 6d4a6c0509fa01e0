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

// ArnLike compares each of the six colon-separated ARN components on its own, so a `*` in the
// region cannot swallow the account; the last component (the resource) may contain colons.
interface ArnPattern {
  whole?: CompiledPattern;
  parts?: CompiledPattern[];
}

const COLON = 58;
const ARN_COMPONENTS = 6;

function arnPatternOf(compiled: CompiledPattern): ArnPattern {
  const tokens = compiled.tokens;
  const cuts: number[] = [];
  for (let i = 0; i < tokens.length && cuts.length < ARN_COMPONENTS - 1; i++) {
    if (tokens[i] === COLON) cuts.push(i);
  }
  // `*` alone, or a pattern with fewer components: compare the whole string.
  if (cuts.length < ARN_COMPONENTS - 1) return { whole: compiled };
  const bounds = [-1, ...cuts, tokens.length];
  const parts = bounds.slice(1).map((end, i) => compileTokens(tokens.subarray(bounds[i] + 1, end), false));
  return { parts };
}

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
  return parts;
}

function arnMatches(pattern: ArnPattern, value: string): boolean {
  if (pattern.whole) return matchesCompiled(pattern.whole, value);
  const components = arnComponents(value);
  const parts = pattern.parts ?? [];
  return components !== undefined && parts.every((part, i) => matchesCompiled(part, components[i]));
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

function ipTest(values: readonly string[]): ValueTest {
  const ranges = new BlockList();
  for (const value of values) {
    const range = parseIpRange(value);
    if (range) ranges.addSubnet(range.address, range.prefix, range.family);
  }
  return (value) => {
    const address = value.trim();
    const version = isIP(address);
    // BlockList also matches an IPv4 range against the IPv4-mapped IPv6 form (::ffff:a.b.c.d).
    return version !== 0 && ranges.check(address, version === 4 ? 'ipv4' : 'ipv6');
  };
}
