import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BadInputError, LimitExceededError, type Problem } from '../../../src/platform/errors';
import type { ActionDeclaration, PipelineDeclaration } from '../../../src/pipelines/declaration/declaration';
import {
  defaultPipelineLimits,
  validateDeclaration,
  type ValidateDeclarationOptions,
} from '../../../src/pipelines/declaration/validate-declaration';

export const fixtureNames = ['minimal', 'git-build-approve-deploy', 'all-features'] as const;
export type FixtureName = (typeof fixtureNames)[number];

/** A fresh copy each call, typed as the (valid) declaration it is, so tests can break it. */
export function loadFixture(name: FixtureName): PipelineDeclaration {
  const file = path.join(__dirname, '../../fixtures/pipelines', `${name}.json`);
  return JSON.parse(readFileSync(file, 'utf8')) as PipelineDeclaration;
}

/** Puts a value of any type in a field, for the cases a declaration's own types rule out. */
export function set(target: object, key: string, value: unknown): void {
  (target as Record<string, unknown>)[key] = value;
}

export function options(overrides: Partial<ValidateDeclarationOptions> = {}): ValidateDeclarationOptions {
  return { limits: defaultPipelineLimits, ...overrides };
}

function rejection(input: unknown, overrides: Partial<ValidateDeclarationOptions>): unknown {
  try {
    validateDeclaration(input, options(overrides));
  } catch (error) {
    return error;
  }
  throw new Error('expected the declaration to be rejected');
}

/** The problems of a declaration that must be rejected as BAD_USER_INPUT. */
export function problemsOf(input: unknown, overrides: Partial<ValidateDeclarationOptions> = {}): Problem[] {
  const error = rejection(input, overrides);
  if (!(error instanceof BadInputError)) throw error;
  return error.problems;
}

export function limitErrorOf(
  input: unknown,
  overrides: Partial<ValidateDeclarationOptions> = {},
): LimitExceededError {
  const error = rejection(input, overrides);
  if (!(error instanceof LimitExceededError)) throw error;
  return error;
}

export function buildAction(name: string, overrides: Partial<ActionDeclaration> = {}): ActionDeclaration {
  return {
    name,
    actionTypeId: { category: 'Build', owner: 'Sluice', provider: 'Shell', version: '1' },
    runOrder: 1,
    configuration: { Commands: 'true' },
    inputArtifacts: [{ name: 'SourceOutput' }],
    outputArtifacts: [],
    ...overrides,
  };
}
