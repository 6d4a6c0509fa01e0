import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import {
  buildSchema,
  DangerousChangeType,
  findBreakingChanges,
  findDangerousChanges,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  printSchema,
  type GraphQLSchema,
} from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSchema } from '../../src/graphql/schema';

/** Every contract file of this folder as one document, core.graphql first. */
function contractSchema(): GraphQLSchema {
  const files = fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith('.graphql'))
    .sort((a, b) => (a === 'core.graphql' ? -1 : b === 'core.graphql' ? 1 : a.localeCompare(b)));
  return buildSchema(files.map((f) => fs.readFileSync(path.join(__dirname, f), 'utf8')).join('\n'));
}

/** Additions the contract allows (DESIGN §4: more may be added). */
const ALLOWED_DANGEROUS: string[] = [
  DangerousChangeType.OPTIONAL_ARG_ADDED,
  DangerousChangeType.OPTIONAL_INPUT_FIELD_ADDED,
  DangerousChangeType.VALUE_ADDED_TO_ENUM,
  DangerousChangeType.IMPLEMENTED_INTERFACE_ADDED,
  DangerousChangeType.TYPE_ADDED_TO_UNION,
];

let contract: GraphQLSchema;
let served: GraphQLSchema;
beforeAll(async () => {
  contract = contractSchema();
  served = await createSchema();
});

describe('the fixed contract (test/contract/*.graphql)', () => {
  it('is kept by the served schema: findBreakingChanges(contract, served) finds nothing', () => {
    const breaks = findBreakingChanges(contract, served).map((c) => `${c.type}: ${c.description}`);
    expect(breaks, `the served schema breaks the contract:\n${breaks.join('\n')}`).toEqual([]);
  });

  it('changes nothing it fixes in a dangerous way (only additions)', () => {
    const changes = findDangerousChanges(contract, served)
      .filter((c) => !ALLOWED_DANGEROUS.includes(c.type))
      .map((c) => `${c.type}: ${c.description}`);
    expect(changes, changes.join('\n')).toEqual([]);
  });

  it('prints arguments in declaration order, which is the contract’s order', () => {
    const misordered: string[] = [];
    for (const type of Object.values(contract.getTypeMap())) {
      if (!isObjectType(type) && !isInterfaceType(type) && !isInputObjectType(type)) continue;
      const servedType = served.getType(type.name);
      if (!servedType || !(isObjectType(servedType) || isInterfaceType(servedType))) continue;
      if (isInputObjectType(type)) continue;
      for (const field of Object.values(type.getFields())) {
        const wanted = field.args.map((a) => a.name);
        const servedField = servedType.getFields()[field.name];
        if (!servedField) continue;
        const got = servedField.args.map((a) => a.name).filter((name) => wanted.includes(name));
        if (got.join() !== wanted.join()) misordered.push(`${type.name}.${field.name}(${got.join(', ')})`);
      }
    }
    expect(misordered, `arguments out of the contract's order:\n${misordered.join('\n')}`).toEqual([]);
    const printed = printSchema(served)
      .split('\n')
      .map((line) => line.trim());
    const line = (field: string) => printed.find((l) => l.startsWith(`${field}(`));
    expect(line('pipeline')).toBe('pipeline(name: String!, version: Int): Pipeline!');
    expect(line('stopPipelineExecution')).toBe(
      'stopPipelineExecution(pipelineName: String!, pipelineExecutionId: ID!, abandon: Boolean, reason: String): PipelineExecution!',
    );
  });
});
