import { compileConditions, type ConditionPredicate } from './condition-evaluator';
import {
  compileIamPattern,
  matchesCompiled,
  matchesFolded,
  parsePatternTemplate,
  resolvePatternTemplate,
  type CompiledPattern,
  type PatternTemplate,
} from './iam-match';
import type { PolicyDocument, PolicyEffect, PolicyStatement, PolicyVersion } from './policy-document';
import type { RequestContext } from './request-context';

/**
 * A statement ready to be matched against requests. The same matchers serve the Casbin
 * functions (through the rule fields) and the direct evaluation of session policies and of
 * `matchedStatements`, so IAM semantics live in one place.
 */
export type MatchMode = 'in' | 'not';

export interface ActionMatcher {
  readonly mode: MatchMode;
  readonly patterns: readonly CompiledPattern[];
}

export interface ResourceMatcher {
  readonly mode: MatchMode;
  /** Patterns without policy variables, compiled once. */
  readonly fixed: readonly CompiledPattern[];
  /** Patterns with policy variables, resolved per request. */
  readonly dynamic: readonly PatternTemplate[];
}

export interface CompiledStatement {
  readonly index: number;
  readonly sid?: string;
  readonly effect: PolicyEffect;
  readonly actions: ActionMatcher;
  readonly resources: ResourceMatcher;
  readonly condition?: ConditionPredicate;
}

const ACTION_OPTIONS = { caseInsensitive: true };
const RESOURCE_OPTIONS = { caseInsensitive: false };

export function compileDocument(document: PolicyDocument): CompiledStatement[] {
  return document.statements.map((statement, index) => compileStatement(statement, index, document.version));
}

export function compileStatement(
  statement: PolicyStatement,
  index: number,
  version: PolicyVersion,
): CompiledStatement {
  return {
    index,
    ...(statement.sid !== undefined ? { sid: statement.sid } : {}),
    effect: statement.effect,
    actions: compileActionMatcher(
      statement.notActions ? 'not' : 'in',
      statement.actions ?? statement.notActions ?? [],
    ),
    resources: compileResourceMatcher(
      statement.notResources ? 'not' : 'in',
      resourcePatternsOf(statement, version),
    ),
    condition: compileConditions(statement.conditions, version),
  };
}

/** The statement's resource patterns in canonical form; `in`/`not` follows `notResources`. */
export function resourcePatternsOf(statement: PolicyStatement, version: PolicyVersion): string[] {
  // A trust policy's statement names no resource: it is about the role that holds it.
  const patterns = statement.resources ?? statement.notResources ?? ['*'];
  return patterns.map((pattern) => canonicalResourcePattern(pattern, version));
}

export function compileActionMatcher(mode: MatchMode, patterns: readonly string[]): ActionMatcher {
  return { mode, patterns: patterns.map((pattern) => compileIamPattern(pattern, ACTION_OPTIONS)) };
}

/** Resource patterns, already in the 2012-10-17 pattern language (`canonicalResourcePattern`). */
export function compileResourceMatcher(mode: MatchMode, patterns: readonly string[]): ResourceMatcher {
  const fixed: CompiledPattern[] = [];
  const dynamic: PatternTemplate[] = [];
  for (const pattern of patterns) {
    const template = parsePatternTemplate(pattern, true);
    if (template.hasVariables) dynamic.push(template);
    else {
      const compiled = resolvePatternTemplate(template, {}, RESOURCE_OPTIONS);
      if (compiled) fixed.push(compiled);
    }
  }
  return { mode, fixed, dynamic };
}

/**
 * Rewrites a resource pattern so that it means the same under 2012-10-17 rules: in a
 * 2008-10-17 document `${…}` is plain text, which `${$}{…}` spells under the newer rules.
 * This lets a rule field carry one pattern language whatever the document's version.
 */
export function canonicalResourcePattern(pattern: string, version: PolicyVersion): string {
  return version === '2008-10-17' ? pattern.replaceAll('${', '${$}{') : pattern;
}

/** `action` must already be lower-cased (actions compare case-insensitively). */
export function actionMatches(matcher: ActionMatcher, action: string): boolean {
  let any = false;
  for (const pattern of matcher.patterns) {
    if (matchesFolded(pattern, action)) {
      any = true;
      break;
    }
  }
  return matcher.mode === 'in' ? any : !any;
}

export function resourceMatches(
  matcher: ResourceMatcher,
  resource: string,
  context: RequestContext,
): boolean {
  let any = false;
  for (const pattern of matcher.fixed) {
    if (matchesCompiled(pattern, resource)) {
      any = true;
      break;
    }
  }
  if (!any) {
    for (const template of matcher.dynamic) {
      const pattern = resolvePatternTemplate(template, context, RESOURCE_OPTIONS);
      if (pattern && matchesCompiled(pattern, resource)) {
        any = true;
        break;
      }
    }
  }
  return matcher.mode === 'in' ? any : !any;
}

export function statementApplies(
  statement: CompiledStatement,
  action: string,
  resource: string,
  context: RequestContext,
): boolean {
  return (
    actionMatches(statement.actions, action) &&
    resourceMatches(statement.resources, resource, context) &&
    (statement.condition === undefined || statement.condition(context))
  );
}
