import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { PolicySource } from './account-authorizer';
import { parsePolicyDocument, type PolicyDocument } from './policy-document';

/**
 * Sluice's managed policies, shipped as JSON in policies/managed/<Name>.json. Each file is
 *
 *   { "Description": "what the policy grants", "Document": { <IAM policy document> } }
 *
 * so a document pastes in and out of AWS unchanged, and the description travels with it.
 * They are read and validated once, on first use; an invalid file stops the process loudly
 * rather than shipping a policy that silently grants nothing (or too much).
 */
export const MANAGED_POLICIES_DIR = path.resolve(__dirname, '../../../policies/managed');

export const MANAGED_POLICY_ARN_PREFIX = 'arn:sluice:iam::sluice:policy/';

export interface ManagedPolicy {
  readonly name: string;
  readonly arn: string;
  readonly description: string;
  readonly document: PolicyDocument;
  /** The IAM document as shipped, re-serialized as minified JSON (for GetPolicyVersion). */
  readonly documentJson: string;
}

const NAME = /^[A-Za-z0-9+=,.@_-]{1,128}$/;

let byArn: ReadonlyMap<string, ManagedPolicy> | undefined;

export function managedPolicyArn(name: string): string {
  return `${MANAGED_POLICY_ARN_PREFIX}${name}`;
}

/** Every managed policy, sorted by name. */
export function listManagedPolicies(): ManagedPolicy[] {
  return [...load().values()];
}

export function getManagedPolicy(arn: string): ManagedPolicy | undefined {
  return load().get(arn);
}

/** A managed policy as a source of rules for AccountAuthorizer (its id is its ARN). */
export function managedPolicySource(policy: ManagedPolicy): PolicySource {
  return { id: policy.arn, arn: policy.arn, name: policy.name, document: policy.document };
}

function load(): ReadonlyMap<string, ManagedPolicy> {
  if (!byArn) {
    const files = readdirSync(MANAGED_POLICIES_DIR)
      .filter((file) => file.endsWith('.json'))
      .sort();
    byArn = new Map(
      files.map((file) => {
        const policy = readManagedPolicy(path.join(MANAGED_POLICIES_DIR, file));
        return [policy.arn, policy];
      }),
    );
  }
  return byArn;
}

function readManagedPolicy(file: string): ManagedPolicy {
  const name = path.basename(file, '.json');
  const fail = (reason: string) => new Error(`Managed policy ${file} is invalid: ${reason}`);
  if (!NAME.test(name)) throw fail(`"${name}" is not a valid policy name`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw fail(error instanceof Error ? error.message : String(error));
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw fail('expected a JSON object');
  const { Description: description, Document: body, ...rest } = raw as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw fail(`unknown keys ${extra.join(', ')} (expected Description and Document)`);
  if (typeof description !== 'string' || description.trim() === '')
    throw fail('Description must be a string');
  let document: PolicyDocument;
  try {
    document = parsePolicyDocument(body);
  } catch (error) {
    throw fail(error instanceof Error ? error.message : String(error));
  }
  return deepFreeze({
    name,
    arn: managedPolicyArn(name),
    description,
    document,
    documentJson: JSON.stringify(body),
  });
}

/** Managed policies are shared by every account: freeze them so no caller can edit one. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
