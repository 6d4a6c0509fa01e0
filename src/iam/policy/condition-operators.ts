/**
 * The condition operators IAM defines, as data: the parser validates names and values against
 * this table and the evaluator picks its comparison from it.
 */
export type ConditionFamily = 'String' | 'Arn' | 'Numeric' | 'Date' | 'Bool' | 'IpAddress' | 'Null';

export type ConditionComparison =
  | 'equals'
  | 'equalsIgnoreCase'
  | 'like'
  | 'lessThan'
  | 'lessThanEquals'
  | 'greaterThan'
  | 'greaterThanEquals'
  | 'inRange'
  | 'isNull';

export interface OperatorSpec {
  family: ConditionFamily;
  comparison: ConditionComparison;
  /** `…Not…` operators: the request value must match none of the policy values. */
  negated: boolean;
}

const op = (family: ConditionFamily, comparison: ConditionComparison, negated = false): OperatorSpec => ({
  family,
  comparison,
  negated,
});

export const CONDITION_OPERATORS: Readonly<Record<string, OperatorSpec>> = {
  StringEquals: op('String', 'equals'),
  StringNotEquals: op('String', 'equals', true),
  StringEqualsIgnoreCase: op('String', 'equalsIgnoreCase'),
  StringNotEqualsIgnoreCase: op('String', 'equalsIgnoreCase', true),
  StringLike: op('String', 'like'),
  StringNotLike: op('String', 'like', true),
  // IAM documents ArnEquals and ArnLike as the same wildcard comparison.
  ArnEquals: op('Arn', 'like'),
  ArnLike: op('Arn', 'like'),
  ArnNotEquals: op('Arn', 'like', true),
  ArnNotLike: op('Arn', 'like', true),
  Bool: op('Bool', 'equals'),
  Null: op('Null', 'isNull'),
  NumericEquals: op('Numeric', 'equals'),
  NumericNotEquals: op('Numeric', 'equals', true),
  NumericLessThan: op('Numeric', 'lessThan'),
  NumericLessThanEquals: op('Numeric', 'lessThanEquals'),
  NumericGreaterThan: op('Numeric', 'greaterThan'),
  NumericGreaterThanEquals: op('Numeric', 'greaterThanEquals'),
  DateEquals: op('Date', 'equals'),
  DateNotEquals: op('Date', 'equals', true),
  DateLessThan: op('Date', 'lessThan'),
  DateLessThanEquals: op('Date', 'lessThanEquals'),
  DateGreaterThan: op('Date', 'greaterThan'),
  DateGreaterThanEquals: op('Date', 'greaterThanEquals'),
  IpAddress: op('IpAddress', 'inRange'),
  NotIpAddress: op('IpAddress', 'inRange', true),
};

export type SetQualifier = 'ForAnyValue' | 'ForAllValues';

export interface OperatorName {
  /** The base operator, e.g. `StringEquals` for `ForAnyValue:StringEqualsIfExists`. */
  operator: string;
  qualifier?: SetQualifier;
  ifExists: boolean;
  spec: OperatorSpec;
}

/** Reads `[ForAnyValue:|ForAllValues:]<Operator>[IfExists]`; a string is the reason it is not one. */
export function parseOperatorName(name: string): OperatorName | string {
  let rest = name;
  let qualifier: SetQualifier | undefined;
  const colon = rest.indexOf(':');
  if (colon >= 0) {
    const prefix = rest.slice(0, colon);
    if (prefix !== 'ForAnyValue' && prefix !== 'ForAllValues') {
      return `unknown set qualifier "${prefix}" (expected "ForAnyValue" or "ForAllValues")`;
    }
    qualifier = prefix;
    rest = rest.slice(colon + 1);
  }
  let ifExists = false;
  if (rest.endsWith('IfExists') && !Object.hasOwn(CONDITION_OPERATORS, rest)) {
    ifExists = true;
    rest = rest.slice(0, -'IfExists'.length);
  }
  const spec = Object.hasOwn(CONDITION_OPERATORS, rest) ? CONDITION_OPERATORS[rest] : undefined;
  if (!spec) {
    const hint = Object.keys(CONDITION_OPERATORS).find((known) => known.toLowerCase() === rest.toLowerCase());
    return `unknown condition operator "${name}"${hint ? ` (did you mean "${hint}"?)` : ''}`;
  }
  if (spec.family === 'Null' && ifExists) return 'Null cannot take the IfExists suffix';
  if (spec.family === 'Null' && qualifier) return `Null cannot take a ${qualifier} qualifier`;
  return { operator: rest, qualifier, ifExists, spec };
}
