import { readFileSync } from 'node:fs';
import path from 'node:path';
import { newEnforcer, newModelFromString, type Enforcer } from 'casbin';
import {
  actionMatches,
  compileActionMatcher,
  compileResourceMatcher,
  resourceMatches,
  resourcePatternsOf,
  type ActionMatcher,
  type CompiledStatement,
  type MatchMode,
  type ResourceMatcher,
} from './compiled-statement';
import type { ConditionPredicate } from './condition-evaluator';
import type { PolicyStatement, PolicyVersion } from './policy-document';
import type { RequestContext } from './request-context';

/**
 * The bridge between compiled IAM statements and Casbin: how a statement is written as a `p`
 * rule (field order as in policies/model.conf) and the functions the fixed matcher calls.
 * Rule fields are data — JSON arrays of patterns, a mode flag, a condition id — never
 * expression text, so nothing a policy author writes is ever evaluated by Casbin.
 */
export const MODEL_PATH = path.resolve(__dirname, '../../../policies/model.conf');

let modelText: string | undefined;

function loadModelText(): string {
  modelText ??= readFileSync(MODEL_PATH, 'utf8');
  return modelText;
}

/** A `p` rule: sub, act, actmode, res, resmode, cond, eft, stmt. */
export type CasbinRule = [string, string, MatchMode, string, MatchMode, string, 'allow' | 'deny', string];

/**
 * What the registered functions look rule fields up in. Keyed by the field text, so equal
 * pattern lists (say, one managed policy attached twice) share one compiled matcher.
 */
export class RuleRegistry {
  private readonly actions = { in: new Map<string, ActionMatcher>(), not: new Map<string, ActionMatcher>() };
  private readonly resources = {
    in: new Map<string, ResourceMatcher>(),
    not: new Map<string, ResourceMatcher>(),
  };
  private readonly conditions = new Map<string, ConditionPredicate>();

  /** Encodes one compiled statement as a rule, registering its matchers. */
  encode(
    sourceId: string,
    statement: PolicyStatement,
    version: PolicyVersion,
    compiled: CompiledStatement,
  ): CasbinRule {
    const actionMode = compiled.actions.mode;
    const actionText = JSON.stringify(statement.actions ?? statement.notActions ?? []);
    if (!this.actions[actionMode].has(actionText)) this.actions[actionMode].set(actionText, compiled.actions);

    const resourceMode = compiled.resources.mode;
    const resourceText = JSON.stringify(resourcePatternsOf(statement, version));
    if (!this.resources[resourceMode].has(resourceText)) {
      this.resources[resourceMode].set(resourceText, compiled.resources);
    }

    let conditionId = '';
    if (compiled.condition) {
      conditionId = `c${this.conditions.size + 1}`;
      this.conditions.set(conditionId, compiled.condition);
    }
    const effect = compiled.effect === 'Allow' ? 'allow' : 'deny';
    return [
      sourceId,
      actionText,
      actionMode,
      resourceText,
      resourceMode,
      conditionId,
      effect,
      String(compiled.index),
    ];
  }

  actionMatch = (action: unknown, patterns: unknown, mode: unknown): boolean => {
    const key = mode === 'not' ? 'not' : 'in';
    const text = String(patterns);
    let matcher = this.actions[key].get(text);
    if (!matcher) {
      matcher = compileActionMatcher(key, parseList(text));
      this.actions[key].set(text, matcher);
    }
    return actionMatches(matcher, String(action));
  };

  resourceMatch = (resource: unknown, patterns: unknown, mode: unknown, context: unknown): boolean => {
    const key = mode === 'not' ? 'not' : 'in';
    const text = String(patterns);
    let matcher = this.resources[key].get(text);
    if (!matcher) {
      matcher = compileResourceMatcher(key, parseList(text));
      this.resources[key].set(text, matcher);
    }
    return resourceMatches(matcher, String(resource), asContext(context));
  };

  condition = (id: unknown, context: unknown): boolean => {
    if (id === '' || id === undefined) return true;
    const predicate = this.conditions.get(String(id));
    // A rule naming a condition that does not exist is a bug; failing the whole request is
    // safer than guessing (false would silently disable a Deny).
    if (!predicate) throw new Error(`IAM rule refers to unknown condition ${String(id)}`);
    return predicate(asContext(context));
  };
}

function parseList(text: string): string[] {
  const value: unknown = JSON.parse(text);
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new Error(`IAM rule field is not a JSON list of strings: ${text}`);
  }
  return value;
}

function asContext(value: unknown): RequestContext {
  return typeof value === 'object' && value !== null ? (value as RequestContext) : {};
}

/** A fresh enforcer over model.conf with the IAM functions bound to `registry`. */
export async function newIamEnforcer(registry: RuleRegistry): Promise<Enforcer> {
  const enforcer = await newEnforcer(newModelFromString(loadModelText()));
  await enforcer.addFunction('iamActionMatch', registry.actionMatch);
  await enforcer.addFunction('iamResourceMatch', registry.resourceMatch);
  await enforcer.addFunction('iamCondition', registry.condition);
  return enforcer;
}
