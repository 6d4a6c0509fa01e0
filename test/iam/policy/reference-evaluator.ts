/**
 * A reference IAM evaluator, written straight from AWS's published evaluation logic (IAM User
 * Guide: "Policy evaluation logic", "Condition operators", "Variables and tags", "Single-valued
 * vs. multivalued context keys"), to check the real one against (evaluator-property.unit.test.ts).
 *
 * It imports nothing from src/ and reads policy documents as raw JSON, so a bug in the real
 * parser, matchers or Casbin rules cannot hide by being shared. It is written to be obviously
 * right, not fast: wildcards become regular expressions, everything is recomputed per call.
 *
 * The layers, in the order Sluice reports them (issue 9): an explicit Deny in any layer wins;
 * otherwise each layer present must allow: the account's guardrails (service control policies:
 * some guardrail must allow), the permissions boundary, the session policy, and the identity
 * policies. The account root has no identity policies and no boundary (AWS lets neither be
 * attached to it): its identity layer allows everything, the other layers still apply.
 */

export type ReferenceDecision = 'ALLOWED' | 'EXPLICIT_DENY' | 'IMPLICIT_DENY';
export type ReferenceLayer = 'guardrails' | 'boundary' | 'session' | 'identity';

export interface ReferencePolicies {
  /** The principal's identity policies, as raw JSON documents (objects or JSON text). */
  identityPolicies: readonly unknown[];
  boundary?: unknown;
  /** Undefined: the account has no guardrails. An empty list: guardrails that allow nothing. */
  guardrails?: readonly unknown[];
  sessionPolicy?: unknown;
  root?: boolean;
}

export interface ReferenceRequest {
  action: string;
  resource: string;
  /** Condition keys lower-cased, as the real RequestContext has them; absent keys left out. */
  context: Record<string, string | string[]>;
}

export interface ReferenceMatch {
  layer: ReferenceLayer;
  /** Index of the document in its layer (0 for the boundary and the session policy). */
  policy: number;
  statement: number;
  effect: 'Allow' | 'Deny';
}

export interface ReferenceResult {
  decision: ReferenceDecision;
  /** For a denial, the first layer (in the order above) that denied. */
  deniedBy?: ReferenceLayer;
  /** The Deny statements that matched for EXPLICIT_DENY, the Allow statements for ALLOWED. */
  matched: ReferenceMatch[];
}

export function referenceEvaluate(policies: ReferencePolicies, request: ReferenceRequest): ReferenceResult {
  const root = policies.root === true;
  const layers: { layer: ReferenceLayer; documents: readonly unknown[]; allowsAnyway: boolean }[] = [];
  if (policies.guardrails !== undefined)
    layers.push({ layer: 'guardrails', documents: policies.guardrails, allowsAnyway: false });
  if (!root && policies.boundary !== undefined)
    layers.push({ layer: 'boundary', documents: [policies.boundary], allowsAnyway: false });
  if (policies.sessionPolicy !== undefined)
    layers.push({ layer: 'session', documents: [policies.sessionPolicy], allowsAnyway: false });
  layers.push({ layer: 'identity', documents: root ? [] : policies.identityPolicies, allowsAnyway: root });

  const evaluated = layers.map(({ layer, documents, allowsAnyway }) => {
    const matched: ReferenceMatch[] = [];
    documents.forEach((document, policy) => {
      const { version, statements } = readDocument(document);
      statements.forEach((statement, index) => {
        if (statementApplies(statement, version, request)) {
          matched.push({
            layer,
            policy,
            statement: index,
            effect: statement.Effect === 'Deny' ? 'Deny' : 'Allow',
          });
        }
      });
    });
    return { layer, matched, allows: allowsAnyway || matched.some((m) => m.effect === 'Allow') };
  });

  const denies = evaluated.flatMap(({ matched }) => matched.filter((m) => m.effect === 'Deny'));
  if (denies.length > 0) return { decision: 'EXPLICIT_DENY', deniedBy: denies[0].layer, matched: denies };
  const refusing = evaluated.find(({ allows }) => !allows);
  if (refusing) return { decision: 'IMPLICIT_DENY', deniedBy: refusing.layer, matched: [] };
  return { decision: 'ALLOWED', matched: evaluated.flatMap(({ matched }) => matched) };
}

// ---------------------------------------------------------------------------------------------
// Documents, as written

type Statement = Record<string, unknown>;

/** Policy variables exist only in Version 2012-10-17; without a Version, a document is 2008-10-17. */
type Version = 'variables' | 'literal';

function readDocument(document: unknown): { version: Version; statements: Statement[] } {
  const raw: unknown = typeof document === 'string' ? JSON.parse(document) : document;
  if (!isRecord(raw)) throw new Error('a policy document must be an object');
  const version = raw.Version === '2012-10-17' ? 'variables' : 'literal';
  const list: unknown[] = Array.isArray(raw.Statement) ? raw.Statement : [raw.Statement];
  return { version, statements: list.filter(isRecord) };
}

/** An element holding one value or a list of them; numbers and booleans as their JSON text. */
function valuesOf(element: unknown): string[] {
  const list: unknown[] = Array.isArray(element) ? element : [element];
  return list.map((value) => String(value));
}

function statementApplies(statement: Statement, version: Version, request: ReferenceRequest): boolean {
  const { action, resource, context } = request;
  // Actions compare case-insensitively; NotAction matches every action not listed.
  const actionListed = (patterns: unknown) =>
    valuesOf(patterns).some((pattern) => wildcardMatch(literalTokens(pattern, true), action, true));
  const actionOk =
    'Action' in statement ? actionListed(statement.Action) : !actionListed(statement.NotAction);
  // Resources compare case-sensitively, with policy variables; NotResource as NotAction.
  const resourceListed = (patterns: unknown) =>
    valuesOf(patterns).some((pattern) => {
      const tokens = expandVariables(pattern, version, context);
      // "A resource that includes a policy variable with no value will not match any resource."
      return tokens !== undefined && wildcardMatch(tokens, resource, false);
    });
  const resourceOk =
    'Resource' in statement ? resourceListed(statement.Resource) : !resourceListed(statement.NotResource);
  return actionOk && resourceOk && conditionHolds(statement.Condition, version, context);
}

// ---------------------------------------------------------------------------------------------
// Wildcards and policy variables

/** One character of a pattern: `wild` for a `*` or `?` written in the policy as a wildcard. */
interface Token {
  char: string;
  wild: boolean;
}

function literalTokens(text: string, wildcards: boolean): Token[] {
  return [...text].map((char) => ({ char, wild: wildcards && (char === '*' || char === '?') }));
}

/**
 * The pattern with `${key}` replaced by the request's value (taken literally: a user named `a*`
 * does not become a wildcard), `${key, 'default'}` falling back to the default, and `${*}`,
 * `${?}`, `${$}` standing for those characters. Undefined when a variable has no value (a
 * multi-valued key cannot be a variable, so it has none). In a 2008-10-17 document all of
 * this is plain text.
 */
function expandVariables(
  text: string,
  version: Version,
  context: ReferenceRequest['context'],
): Token[] | undefined {
  if (version === 'literal') return literalTokens(text, true);
  const tokens: Token[] = [];
  let rest = text;
  for (;;) {
    const start = rest.indexOf('${');
    const end = start < 0 ? -1 : rest.indexOf('}', start + 2);
    if (end < 0) return [...tokens, ...literalTokens(rest, true)];
    tokens.push(...literalTokens(rest.slice(0, start), true));
    const inner = rest.slice(start + 2, end);
    if (inner === '*' || inner === '?' || inner === '$') tokens.push(...literalTokens(inner, false));
    else {
      const withDefault = /^(.+?), '(.*)'$/.exec(inner);
      const value = context[(withDefault ? withDefault[1] : inner).toLowerCase()];
      const substituted = typeof value === 'string' ? value : withDefault?.[2];
      if (substituted === undefined) return undefined;
      tokens.push(...literalTokens(substituted, false));
    }
    rest = rest.slice(end + 1);
  }
}

/** `*` matches any run of characters (`/` and `:` included), `?` exactly one. */
function wildcardMatch(tokens: readonly Token[], value: string, ignoreCase: boolean): boolean {
  const source = tokens
    .map(({ char, wild }) =>
      wild ? (char === '*' ? '[\\s\\S]*' : '[\\s\\S]') : char.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('');
  return new RegExp(`^${source}$`, ignoreCase ? 'i' : '').test(value);
}

function tokensText(tokens: readonly Token[]): string {
  return tokens.map(({ char }) => char).join('');
}

// ---------------------------------------------------------------------------------------------
// Conditions

type Comparison =
  | { kind: 'equals'; ignoreCase: boolean }
  | { kind: 'like' }
  | { kind: 'arn' }
  | { kind: 'numeric' | 'date'; order: Order }
  | { kind: 'bool' }
  | { kind: 'ip' };

type Order = 'eq' | 'lt' | 'le' | 'gt' | 'ge';

interface Operator {
  comparison: Comparison;
  /** The `…Not…` operators: a request value must match none of the policy's values. */
  negated: boolean;
}

const op = (comparison: Comparison, negated = false): Operator => ({ comparison, negated });
const ORDERS: [string, Order][] = [
  ['Equals', 'eq'],
  ['LessThan', 'lt'],
  ['LessThanEquals', 'le'],
  ['GreaterThan', 'gt'],
  ['GreaterThanEquals', 'ge'],
];

const OPERATORS: Record<string, Operator> = {
  StringEquals: op({ kind: 'equals', ignoreCase: false }),
  StringNotEquals: op({ kind: 'equals', ignoreCase: false }, true),
  StringEqualsIgnoreCase: op({ kind: 'equals', ignoreCase: true }),
  StringNotEqualsIgnoreCase: op({ kind: 'equals', ignoreCase: true }, true),
  StringLike: op({ kind: 'like' }),
  StringNotLike: op({ kind: 'like' }, true),
  // "ArnEquals, ArnLike: each of the six colon-delimited components of the ARN is checked
  // separately and each can include wildcards."
  ArnEquals: op({ kind: 'arn' }),
  ArnLike: op({ kind: 'arn' }),
  ArnNotEquals: op({ kind: 'arn' }, true),
  ArnNotLike: op({ kind: 'arn' }, true),
  Bool: op({ kind: 'bool' }),
  IpAddress: op({ kind: 'ip' }),
  NotIpAddress: op({ kind: 'ip' }, true),
  NumericNotEquals: op({ kind: 'numeric', order: 'eq' }, true),
  DateNotEquals: op({ kind: 'date', order: 'eq' }, true),
  ...Object.fromEntries(
    ORDERS.flatMap(([name, order]) => [
      [`Numeric${name}`, op({ kind: 'numeric', order })],
      [`Date${name}`, op({ kind: 'date', order })],
    ]),
  ),
};

/** Every operator block and every key in it must hold (AND). */
function conditionHolds(condition: unknown, version: Version, context: ReferenceRequest['context']): boolean {
  if (condition === undefined) return true;
  if (!isRecord(condition)) throw new Error('Condition must be an object');
  return Object.entries(condition).every(([name, block]) => {
    if (!isRecord(block)) throw new Error(`${name} must be an object`);
    return Object.entries(block).every(([key, values]) =>
      clauseHolds(name, valuesOf(values), context[key.toLowerCase()], version, context),
    );
  });
}

function clauseHolds(
  name: string,
  policyValues: readonly string[],
  requestValue: string | readonly string[] | undefined,
  version: Version,
  context: ReferenceRequest['context'],
): boolean {
  const present: readonly string[] =
    requestValue === undefined ? [] : typeof requestValue === 'string' ? [requestValue] : requestValue;

  // Null: "true" asks for the key to be absent, "false" for it to be present.
  if (name === 'Null')
    return policyValues.some((value) => (value.toLowerCase() === 'true') === (present.length === 0));

  const qualifier = name.startsWith('ForAllValues:')
    ? 'all'
    : name.startsWith('ForAnyValue:')
      ? 'any'
      : 'none';
  let base = qualifier === 'none' ? name : name.slice(name.indexOf(':') + 1);
  const ifExists = base.endsWith('IfExists');
  if (ifExists) base = base.slice(0, -'IfExists'.length);
  const operator = Object.hasOwn(OPERATORS, base) ? OPERATORS[base] : undefined;
  if (!operator) throw new Error(`unknown condition operator ${name}`);

  if (present.length === 0) {
    // "…IfExists: if the key is not present, the condition is true." ForAllValues is true for
    // an absent or empty key, ForAnyValue false. Otherwise an absent key matches nothing, so a
    // positive operator is false and a negated one ("the key is not matched") is true.
    if (ifExists || qualifier === 'all') return true;
    if (qualifier === 'any') return false;
    return operator.negated;
  }
  // Several policy values for one key: any may match (OR); a negated operator holds when none does.
  const holdsFor = (value: string): boolean => {
    const matches = policyValues.some((policyValue) =>
      valueMatches(operator.comparison, value, policyValue, version, context),
    );
    return operator.negated ? !matches : matches;
  };
  if (qualifier === 'all') return present.every(holdsFor);
  if (qualifier === 'any') return present.some(holdsFor);
  // Without a set operator the key is single-valued. (AWS requires a set operator for a
  // multi-valued key; should one have several values anyway, a positive operator asks for
  // any of them to match and a negated one for none, so that each stays the other's negation.)
  return operator.negated ? present.every(holdsFor) : present.some(holdsFor);
}

/** One request value against one policy value. */
function valueMatches(
  comparison: Comparison,
  value: string,
  policyValue: string,
  version: Version,
  context: ReferenceRequest['context'],
): boolean {
  switch (comparison.kind) {
    case 'equals': {
      // Policy variables in string comparisons; a variable with no value matches nothing.
      const tokens = expandVariables(policyValue, version, context);
      if (tokens === undefined) return false;
      const expected = tokensText(tokens);
      return comparison.ignoreCase ? expected.toLowerCase() === value.toLowerCase() : expected === value;
    }
    case 'like': {
      const tokens = expandVariables(policyValue, version, context);
      return tokens !== undefined && wildcardMatch(tokens, value, false);
    }
    case 'arn': {
      const tokens = expandVariables(policyValue, version, context);
      return tokens !== undefined && arnMatches(tokens, value);
    }
    case 'bool':
      return value.toLowerCase() === policyValue.toLowerCase();
    case 'numeric':
      return ordered(comparison.order, readNumber(value), readNumber(policyValue));
    case 'date':
      return ordered(comparison.order, readDate(value), readDate(policyValue));
    case 'ip':
      return ipInRange(value, policyValue);
  }
}

/** ARN operators: six components, each matched on its own; only the last may hold colons. */
function arnMatches(pattern: readonly Token[], value: string): boolean {
  const patternParts: Token[][] = [[]];
  for (const token of pattern) {
    if (token.char === ':' && patternParts.length < 6) patternParts.push([]);
    else patternParts[patternParts.length - 1].push(token);
  }
  const valueParts = value.split(':');
  const components = [...valueParts.slice(0, 5), valueParts.slice(5).join(':')];
  if (patternParts.length < 6 || valueParts.length < 6 || components[0] !== 'arn') return false;
  return patternParts.every((part, i) => wildcardMatch(part, components[i], false));
}

function ordered(order: Order, actual: number | undefined, bound: number | undefined): boolean {
  if (actual === undefined || bound === undefined) return false;
  switch (order) {
    case 'eq':
      return actual === bound;
    case 'lt':
      return actual < bound;
    case 'le':
      return actual <= bound;
    case 'gt':
      return actual > bound;
    case 'ge':
      return actual >= bound;
  }
}

function readNumber(text: string): number | undefined {
  const value = text.trim() === '' ? NaN : Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/** Dates are ISO 8601 (with a zone) or epoch seconds. */
function readDate(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const value = Date.parse(text);
  return Number.isNaN(value) ? undefined : value;
}

// IP addresses: an IPv4 address is only ever in an IPv4 block, an IPv6 address in an IPv6 one.

interface Address {
  bits: 32 | 128;
  value: bigint;
}

function ipInRange(address: string, range: string): boolean {
  const [base, prefixText] = range.split('/');
  const subject = readAddress(address);
  const block = readAddress(base);
  if (!subject || !block || subject.bits !== block.bits) return false;
  const prefix = prefixText === undefined ? block.bits : Number(prefixText);
  const shift = BigInt(block.bits - prefix);
  return subject.value >> shift === block.value >> shift;
}

function readAddress(text: string): Address | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const octets = v4.slice(1).map(Number);
    if (octets.some((octet) => octet > 255)) return undefined;
    return { bits: 32, value: octets.reduce((sum, octet) => (sum << 8n) + BigInt(octet), 0n) };
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (half: string) => (half === '' ? [] : half.split(':'));
  const head = groupsOf(halves[0]);
  const tail = halves.length === 2 ? groupsOf(halves[1]) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array.from({ length: halves.length === 2 ? missing : 0 }, () => '0'), ...tail];
  if (!groups.every((group) => /^[0-9a-f]{1,4}$/i.test(group))) return undefined;
  return { bits: 128, value: groups.reduce((sum, group) => (sum << 16n) + BigInt(`0x${group}`), 0n) };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
