import { BadInputError, type Problem } from '../../platform/errors';
import { parseOperatorName, type ConditionFamily, type SetQualifier } from './condition-operators';
import { parseIamBool, parseIamDate, parseIamNumber, parseIpRange } from './condition-values';

/**
 * IAM JSON policy documents: the grammar AWS documents, parsed into a normalized form with
 * every problem reported at once (each located by a path such as `Statement[1].Action`).
 */
export type PolicyVersion = '2012-10-17' | '2008-10-17';
export type PolicyEffect = 'Allow' | 'Deny';

export interface ConditionClause {
  /** The base operator, e.g. `StringEquals` (qualifier and `IfExists` are split off). */
  operator: string;
  qualifier?: SetQualifier;
  ifExists: boolean;
  /** The condition key as written; evaluation compares keys case-insensitively. */
  key: string;
  /** Numbers and booleans are normalized to their JSON text. */
  values: string[];
}

/** `"Principal": "*"` is normalized to `{ aws: ['*'], service: [] }`, as IAM treats them alike. */
export interface PolicyPrincipals {
  aws: string[];
  service: string[];
}

export interface PolicyStatement {
  sid?: string;
  effect: PolicyEffect;
  /** Exactly one of `actions` / `notActions` is set. */
  actions?: string[];
  notActions?: string[];
  /** Exactly one of `resources` / `notResources` is set, except in trust policies (neither). */
  resources?: string[];
  notResources?: string[];
  /** All clauses must hold (AND); empty when the statement has no Condition. */
  conditions: ConditionClause[];
  /** Trust policies only (parsed with `allowPrincipal`). */
  principals?: PolicyPrincipals;
  notPrincipals?: PolicyPrincipals;
}

export interface PolicyDocument {
  version: PolicyVersion;
  id?: string;
  statements: PolicyStatement[];
}

export interface ParsePolicyOptions {
  /** Trust policies (roles) name a Principal; identity policies must not. */
  allowPrincipal?: boolean;
}

export const POLICY_DOCUMENT_MAX_CHARS = 6_144;
export const POLICY_STATEMENTS_MAX = 100;

const VERSIONS: readonly PolicyVersion[] = ['2012-10-17', '2008-10-17'];
const DOCUMENT_KEYS = ['Version', 'Id', 'Statement'];
const STATEMENT_KEYS = [
  'Sid',
  'Effect',
  'Action',
  'NotAction',
  'Resource',
  'NotResource',
  'Condition',
  'Principal',
  'NotPrincipal',
];
const SID = /^[A-Za-z0-9]+$/;
const ACTION = /^(\*|[A-Za-z0-9*?_-]+:[A-Za-z0-9*?_.-]+)$/;
const CONDITION_KEY = /^[A-Za-z0-9*?_.-]+:\S+$/;
const ACCOUNT_ID = /^\d{12}$/;
// eslint-disable-next-line no-control-regex -- the point is to find control characters
const CONTROL = /[\u0000-\u001f\u007f]/;

export function parsePolicyDocument(input: unknown, options: ParsePolicyOptions = {}): PolicyDocument {
  const problems: Problem[] = [];
  const document = new DocumentReader(problems, options).read(input);
  if (problems.length > 0 || !document) throw BadInputError.of('Policy document', problems);
  return document;
}

class DocumentReader {
  constructor(
    private readonly problems: Problem[],
    private readonly options: ParsePolicyOptions,
  ) {}

  read(input: unknown): PolicyDocument | undefined {
    let raw = input;
    if (typeof input === 'string') {
      try {
        raw = JSON.parse(input);
      } catch (error) {
        this.problem('', `is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
        return undefined;
      }
    }
    if (!isObject(raw)) {
      this.problem('', `must be a JSON object, got ${describe(raw)}`);
      return undefined;
    }
    const size = JSON.stringify(raw).length;
    if (size > POLICY_DOCUMENT_MAX_CHARS) {
      this.problem('', `is ${size} characters of minified JSON; the limit is ${POLICY_DOCUMENT_MAX_CHARS}`);
    }
    this.unknownKeys(raw, DOCUMENT_KEYS, '');

    // As IAM: a document without Version follows 2008-10-17, where `${…}` is literal text.
    let version: PolicyVersion = '2008-10-17';
    if (raw.Version !== undefined) {
      const found = VERSIONS.find((v) => v === raw.Version);
      if (found) version = found;
      else
        this.problem('Version', `Version must be "2012-10-17" or "2008-10-17", got ${describe(raw.Version)}`);
    }
    let id: string | undefined;
    if (raw.Id !== undefined) {
      if (typeof raw.Id === 'string') id = raw.Id;
      else this.problem('Id', `Id must be a string, got ${describe(raw.Id)}`);
    }
    const statements = this.statements(raw.Statement);
    return { version, ...(id !== undefined ? { id } : {}), statements };
  }

  private statements(value: unknown): PolicyStatement[] {
    if (value === undefined) {
      this.problem('Statement', 'Statement is required');
      return [];
    }
    const list = Array.isArray(value) ? value : [value];
    const pathOf = (i: number) => (Array.isArray(value) ? `Statement[${i}]` : 'Statement');
    if (list.length === 0) this.problem('Statement', 'Statement must contain at least one statement');
    if (list.length > POLICY_STATEMENTS_MAX) {
      this.problem(
        'Statement',
        `Statement has ${list.length} statements; the limit is ${POLICY_STATEMENTS_MAX}`,
      );
    }
    const sids = new Map<string, string>();
    const statements: PolicyStatement[] = [];
    list.forEach((item: unknown, i) => {
      const path = pathOf(i);
      if (!isObject(item)) {
        this.problem(path, `${path} must be an object, got ${describe(item)}`);
        return;
      }
      const statement = this.statement(item, path);
      if (statement.sid !== undefined) {
        const earlier = sids.get(statement.sid);
        if (earlier) this.problem(`${path}.Sid`, `Sid "${statement.sid}" is already used by ${earlier}`);
        else sids.set(statement.sid, path);
      }
      statements.push(statement);
    });
    return statements;
  }

  private statement(raw: Record<string, unknown>, path: string): PolicyStatement {
    this.unknownKeys(raw, STATEMENT_KEYS, path);
    const statement: PolicyStatement = { effect: 'Allow', conditions: [] };

    if (raw.Sid !== undefined) {
      if (typeof raw.Sid === 'string' && SID.test(raw.Sid)) statement.sid = raw.Sid;
      else this.problem(`${path}.Sid`, `Sid must be alphanumeric (A-Z, a-z, 0-9), got ${describe(raw.Sid)}`);
    }

    if (raw.Effect === 'Allow' || raw.Effect === 'Deny') statement.effect = raw.Effect;
    else if (raw.Effect === undefined) this.problem(`${path}.Effect`, 'Effect is required');
    else this.problem(`${path}.Effect`, `Effect must be "Allow" or "Deny", got ${describe(raw.Effect)}`);

    const actions = this.exactlyOne(raw, path, 'Action', 'NotAction', true);
    if (actions) {
      const list = this.stringList(raw[actions], `${path}.${actions}`, actions, (text) =>
        ACTION.test(text) ? undefined : `is not an action name (expected "service:Operation" or "*")`,
      );
      if (actions === 'Action') statement.actions = list;
      else statement.notActions = list;
    }

    // Trust policies apply to the role that holds them, so they may leave Resource out.
    const resources = this.exactlyOne(raw, path, 'Resource', 'NotResource', !this.options.allowPrincipal);
    if (resources) {
      const list = this.stringList(raw[resources], `${path}.${resources}`, resources, checkResource);
      if (resources === 'Resource') statement.resources = list;
      else statement.notResources = list;
    }

    if (raw.Condition !== undefined)
      statement.conditions = this.conditions(raw.Condition, `${path}.Condition`);

    if (!this.options.allowPrincipal) {
      for (const key of ['Principal', 'NotPrincipal'] as const) {
        if (raw[key] !== undefined) {
          this.problem(`${path}.${key}`, `${key} is not allowed in an identity-based policy`);
        }
      }
    } else {
      const principal = this.exactlyOne(raw, path, 'Principal', 'NotPrincipal', true);
      if (principal) {
        const parsed = this.principals(raw[principal], `${path}.${principal}`, principal);
        if (principal === 'Principal') statement.principals = parsed;
        else statement.notPrincipals = parsed;
      }
    }
    return statement;
  }

  /** Which of a `X` / `NotX` pair the statement uses, reporting both-or-neither. */
  private exactlyOne<K extends string>(
    raw: Record<string, unknown>,
    path: string,
    positive: K,
    negative: `Not${K}`,
    required: boolean,
  ): K | `Not${K}` | undefined {
    const hasPositive = raw[positive] !== undefined;
    const hasNegative = raw[negative] !== undefined;
    if (hasPositive && hasNegative) {
      this.problem(
        `${path}.${negative}`,
        `${negative} cannot be used together with ${positive}; use one of them`,
      );
      return undefined;
    }
    if (hasPositive) return positive;
    if (hasNegative) return negative;
    if (required) this.problem(`${path}.${positive}`, `${positive} (or ${negative}) is required`);
    return undefined;
  }

  private stringList(
    value: unknown,
    path: string,
    name: string,
    check: (text: string) => string | undefined,
  ): string[] {
    const items = Array.isArray(value) ? value : [value];
    if (Array.isArray(value) && value.length === 0) this.problem(path, `${name} must not be an empty list`);
    const out: string[] = [];
    items.forEach((item: unknown, i) => {
      const itemPath = Array.isArray(value) ? `${path}[${i}]` : path;
      if (typeof item !== 'string') {
        this.problem(itemPath, `${name} must be a string or a list of strings, got ${describe(item)}`);
        return;
      }
      const reason = check(item);
      if (reason) this.problem(itemPath, `${name} ${describe(item)} ${reason}`);
      else out.push(item);
    });
    return out;
  }

  private conditions(value: unknown, path: string): ConditionClause[] {
    if (!isObject(value)) {
      this.problem(path, `Condition must be an object of operators, got ${describe(value)}`);
      return [];
    }
    const clauses: ConditionClause[] = [];
    for (const [name, block] of Object.entries(value)) {
      const opPath = `${path}.${name}`;
      const parsed = parseOperatorName(name);
      if (typeof parsed === 'string') {
        this.problem(opPath, parsed.charAt(0).toUpperCase() + parsed.slice(1));
        continue;
      }
      if (!isObject(block) || Object.keys(block).length === 0) {
        this.problem(
          opPath,
          `${name} must map at least one condition key to its values, got ${describe(block)}`,
        );
        continue;
      }
      for (const [key, raw] of Object.entries(block)) {
        const keyPath = `${opPath}${keyAccessor(key)}`;
        if (!CONDITION_KEY.test(key) || /\/$/.test(key)) {
          this.problem(
            keyPath,
            `${describe(key)} is not a condition key (expected "service:name", e.g. "aws:SourceIp")`,
          );
          continue;
        }
        const values = this.conditionValues(raw, keyPath, name, parsed.spec.family);
        if (values) {
          clauses.push({
            operator: parsed.operator,
            ...(parsed.qualifier ? { qualifier: parsed.qualifier } : {}),
            ifExists: parsed.ifExists,
            key,
            values,
          });
        }
      }
    }
    return clauses;
  }

  private conditionValues(
    raw: unknown,
    path: string,
    operator: string,
    family: ConditionFamily,
  ): string[] | undefined {
    const items = Array.isArray(raw) ? raw : [raw];
    if (items.length === 0) {
      this.problem(path, `${operator} needs at least one value`);
      return undefined;
    }
    const values: string[] = [];
    let ok = true;
    items.forEach((item: unknown, i) => {
      const itemPath = Array.isArray(raw) ? `${path}[${i}]` : path;
      if (typeof item !== 'string' && typeof item !== 'number' && typeof item !== 'boolean') {
        this.problem(
          itemPath,
          `${operator} values must be strings, numbers or booleans, got ${describe(item)}`,
        );
        ok = false;
        return;
      }
      const text = String(item);
      const reason = checkConditionValue(family, text);
      if (reason) {
        this.problem(itemPath, `${operator} value ${describe(item)} ${reason}`);
        ok = false;
        return;
      }
      values.push(text);
    });
    return ok ? values : undefined;
  }

  private principals(value: unknown, path: string, name: string): PolicyPrincipals {
    if (value === '*') return { aws: ['*'], service: [] };
    const result: PolicyPrincipals = { aws: [], service: [] };
    if (!isObject(value)) {
      this.problem(path, `${name} must be "*" or an object such as {"AWS": "…"}, got ${describe(value)}`);
      return result;
    }
    if (Object.keys(value).length === 0) this.problem(path, `${name} must name at least one principal`);
    for (const [type, entries] of Object.entries(value)) {
      if (type === 'AWS') {
        result.aws = this.stringList(entries, `${path}.AWS`, `${name}.AWS`, (text) =>
          text === '*' || ACCOUNT_ID.test(text) || text.startsWith('arn:')
            ? undefined
            : 'is not "*", a 12-digit account ID or an ARN',
        );
      } else if (type === 'Service') {
        result.service = this.stringList(entries, `${path}.Service`, `${name}.Service`, (text) =>
          text.length > 0 && !/\s/.test(text) ? undefined : 'is not a service principal name',
        );
      } else {
        this.problem(`${path}.${type}`, `${name} type "${type}" is not supported (use "AWS" or "Service")`);
      }
    }
    return result;
  }

  private unknownKeys(raw: Record<string, unknown>, known: readonly string[], path: string): void {
    for (const key of Object.keys(raw)) {
      if (known.includes(key)) continue;
      const hint = known.find((k) => k.toLowerCase() === key.toLowerCase());
      const where = path ? `${path}.${key}` : key;
      this.problem(where, `Unknown key "${key}"${hint ? ` (did you mean "${hint}"?)` : ''}`);
    }
  }

  private problem(path: string, message: string): void {
    this.problems.push({ path, message });
  }
}

function checkResource(text: string): string | undefined {
  if (CONTROL.test(text)) return 'must not contain control characters';
  if (text === '*') return undefined;
  if (!text.startsWith('arn:')) return 'is not an ARN or "*"';
  // A full ARN has six colon-separated parts; a wildcard may stand for several of them.
  const colons = text.split(':').length - 1;
  if (colons < 5 && !text.includes('*'))
    return 'is not a complete ARN (arn:partition:service:region:account:resource)';
  return undefined;
}

function checkConditionValue(family: ConditionFamily, text: string): string | undefined {
  switch (family) {
    case 'Numeric':
      return parseIamNumber(text) === undefined ? 'is not a number' : undefined;
    case 'Date':
      return parseIamDate(text) === undefined ? 'is not an ISO 8601 date-time or epoch seconds' : undefined;
    case 'Bool':
    case 'Null':
      return parseIamBool(text) === undefined ? 'must be true or false' : undefined;
    case 'IpAddress':
      return parseIpRange(text) === undefined ? 'is not an IPv4/IPv6 address or CIDR block' : undefined;
    case 'String':
    case 'Arn':
      return undefined;
  }
}

function keyAccessor(key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A short, quoted rendering of an offending value for messages. */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
