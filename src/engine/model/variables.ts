import type { Problem } from '../../platform/errors';
import type { PipelineVariableDeclaration } from '../../pipelines/declaration/declaration';

/**
 * CodePipeline's variable references in action configuration values (DESIGN §6), resolved
 * just before an action runs:
 * - `#{variables.Name}`: a pipeline-level variable (its start-time value or its default);
 * - `#{codepipeline.PipelineExecutionId}`: the only variable CodePipeline documents in its
 *   reserved `codepipeline` namespace ("this set currently includes PipelineExecutionId"),
 *   so no other key resolves there (the declaration validator rejects them up front too);
 * - `#{Namespace.Key}`: output variable `Key` of the earlier action declared with
 *   `namespace: Namespace`.
 *
 * The reference grammar mirrors `validate-declaration.ts`, which checks references when a
 * pipeline is saved: anything in `#{…}` that is not `Namespace.Key` is an error there, and
 * reported as unresolvable here should it ever arrive.
 */

/** `#{…}` with no brace inside: what the validator treats as a reference attempt. */
const referencePattern = /#\{([^{}]*)\}/g;
const referenceBodyPattern = /^([A-Za-z0-9@\-_]+)\.([A-Za-z0-9@\-_]+)$/;

export const pipelineVariablesNamespace = 'variables';
export const codepipelineNamespace = 'codepipeline';

export interface VariableReference {
  namespace: string;
  key: string;
  /** As written in the value, e.g. `#{variables.Env}`. */
  reference: string;
}

export interface VariableScope {
  /** Every pipeline variable of the execution, defaults already applied (see resolvePipelineVariables). */
  pipelineVariables: Record<string, string>;
  /**
   * `pipelineName` is carried for context only: CodePipeline offers no
   * `#{codepipeline.PipelineName}`, and Sluice keeps its declarations portable.
   */
  execution: { pipelineExecutionId: string; pipelineName: string };
  /**
   * Output variables by namespace, holding only the namespaces the action may see: those of
   * actions in earlier stages and in lower runOrders of its own stage. The engine builds it;
   * a namespace absent here is "not produced (yet)".
   */
  namespaces: Record<string, Record<string, string>>;
}

export interface UnresolvedReference {
  /** The configuration key whose value holds the reference. */
  key: string;
  /** The reference as written, e.g. `#{Build.Version}`. */
  reference: string;
  /** Why it did not resolve, for the action's failure message. */
  message: string;
}

export type ConfigurationResolution =
  { resolved: Record<string, string> } | { unresolved: UnresolvedReference[] };

/** Every well-formed reference in a value, in order of appearance, repeats included. */
export function referencesIn(value: string): VariableReference[] {
  const references: VariableReference[] = [];
  for (const [reference, body] of value.matchAll(referencePattern)) {
    const match = referenceBodyPattern.exec(body);
    if (match) references.push({ namespace: match[1], key: match[2], reference });
  }
  return references;
}

/**
 * Substitutes every reference of every value in one pass, or reports every reference that
 * cannot be resolved (each distinct one once per key) so the action fails naming them all.
 *
 * Substitution is not recursive: a substituted value that itself contains `#{…}` is kept
 * literally. Variable values are data that users and actions supply (a commit message, a
 * webhook's answer); expanding them again would let such data pull other values into a
 * configuration, would make a value's meaning depend on its neighbours, and a value that
 * names itself would never end. CodePipeline substitutes once too.
 */
export function resolveConfiguration(
  configuration: Record<string, string>,
  scope: VariableScope,
): ConfigurationResolution {
  const unresolved: UnresolvedReference[] = [];
  const resolved: [string, string][] = [];
  for (const [key, value] of Object.entries(configuration)) {
    const reported = new Set<string>();
    const substituted = value.replace(referencePattern, (reference: string, body: string) => {
      const lookup = lookUp(body, scope);
      if ('value' in lookup) return lookup.value;
      if (!reported.has(reference)) {
        reported.add(reference);
        unresolved.push({ key, reference, message: lookup.problem });
      }
      return reference;
    });
    resolved.push([key, substituted]);
  }
  // fromEntries defines own properties, so even a key such as `__proto__` stays data.
  return unresolved.length ? { unresolved } : { resolved: Object.fromEntries(resolved) };
}

function lookUp(body: string, scope: VariableScope): { value: string } | { problem: string } {
  const match = referenceBodyPattern.exec(body);
  if (!match) return { problem: 'is not a variable reference; write #{Namespace.Key}' };
  const [, namespace, key] = match;
  // Own properties only: `#{variables.constructor}` must not find Object.prototype's.
  if (namespace === pipelineVariablesNamespace) {
    return Object.hasOwn(scope.pipelineVariables, key)
      ? { value: scope.pipelineVariables[key] }
      : { problem: `the execution has no pipeline variable ${key}` };
  }
  if (namespace === codepipelineNamespace) {
    return key === 'PipelineExecutionId'
      ? { value: scope.execution.pipelineExecutionId }
      : { problem: 'the codepipeline namespace offers only PipelineExecutionId' };
  }
  if (!Object.hasOwn(scope.namespaces, namespace)) {
    return { problem: `no earlier action of this execution produced the namespace ${namespace}` };
  }
  const outputs = scope.namespaces[namespace];
  return Object.hasOwn(outputs, key)
    ? { value: outputs[key] }
    : { problem: `the action with namespace ${namespace} output no variable ${key}` };
}

export interface PipelineVariableOverride {
  name: string;
  value: string;
}

export interface PipelineVariableLimits {
  /** DESIGN §10: variables per pipeline. */
  maxVariables: number;
  /** CodePipeline's PipelineVariable.value: 1 to 1,000 characters. */
  maxValueLength: number;
}

export const defaultPipelineVariableLimits: PipelineVariableLimits = {
  maxVariables: 50,
  maxValueLength: 1000,
};

/**
 * The pipeline variables of a new execution: each declared variable's override, else its
 * default. Problems (all of them, located in the start request's `variables` list) when an
 * override names an undeclared variable or repeats one, a value is empty or too long, there
 * are too many overrides, or a variable without default gets no value (CodePipeline treats
 * such a variable as required).
 */
export function resolvePipelineVariables(
  declared: readonly Pick<PipelineVariableDeclaration, 'name' | 'defaultValue'>[],
  overrides: readonly PipelineVariableOverride[],
  limits: PipelineVariableLimits = defaultPipelineVariableLimits,
): { values: Record<string, string> } | { problems: Problem[] } {
  const problems: Problem[] = [];
  if (overrides.length > limits.maxVariables) {
    // Reported alone: past the limit the list is not worth checking item by item.
    return {
      problems: [
        { path: 'variables', message: `${overrides.length} variables, more than ${limits.maxVariables}` },
      ],
    };
  }
  const declaredNames = new Set(declared.map((variable) => variable.name));
  const given = new Map<string, string>();
  const firstAt = new Map<string, string>();
  overrides.forEach((override, index) => {
    const path = `variables[${index}](${override.name})`;
    const earlier = firstAt.get(override.name);
    if (earlier !== undefined) {
      problems.push({ path: `${path}.name`, message: `duplicates ${earlier}` });
      return;
    }
    firstAt.set(override.name, path);
    if (!declaredNames.has(override.name)) {
      problems.push({ path: `${path}.name`, message: `the pipeline declares no variable ${override.name}` });
      return;
    }
    if (override.value.length === 0) {
      problems.push({ path: `${path}.value`, message: 'must not be empty' });
    } else if (override.value.length > limits.maxValueLength) {
      problems.push({
        path: `${path}.value`,
        message: `must be at most ${limits.maxValueLength} characters (it has ${override.value.length})`,
      });
    }
    given.set(override.name, override.value);
  });
  const values: [string, string][] = [];
  for (const variable of declared) {
    const value = given.get(variable.name) ?? variable.defaultValue ?? undefined;
    if (value === undefined) {
      problems.push({
        path: 'variables',
        message: `${variable.name} has no default value, so the start must give it a value`,
      });
    } else {
      values.push([variable.name, value]);
    }
  }
  return problems.length ? { problems } : { values: Object.fromEntries(values) };
}
