import { buildSchema, getOperationAST, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { outcomeOf, RequestMetrics } from '../../src/graphql/request-metrics';
import { Metrics } from '../../src/platform/metrics/metrics';

const schema = buildSchema(`
  type Pipeline { name: String }
  type Query { pipeline(name: String): Pipeline, pipelines: [Pipeline] }
  type Mutation { createPipeline(name: String): Pipeline }
  type Subscription { pipelineEvents: Pipeline }
`);
const labels = new RequestMetrics(schema, new Metrics({ processMetrics: false }));

function labelOf(query: string, operationName?: string): string {
  const document = parse(query);
  return labels.operationLabel(document, getOperationAST(document, operationName));
}

/** The `operation` and `outcome` labels come from bounded sets, whatever the client sends. */
describe('request metric labels', () => {
  it.each([
    ['{ pipeline(name: "a") { name } }', 'pipeline'],
    ['query AnyNameAtAll { alias: pipeline { name } }', 'pipeline'],
    ['mutation { createPipeline(name: "a") { name } }', 'createPipeline'],
    ['subscription { pipelineEvents { name } }', 'pipelineEvents'],
    ['{ a: pipeline { name } b: pipeline { name } }', 'pipeline'],
    ['{ ... on Query { pipelines { name } } }', 'pipelines'],
    ['query { ...F } fragment F on Query { pipeline { name } }', 'pipeline'],
    ['{ pipeline { name } pipelines { name } }', 'multiple'],
    ['{ __typename }', 'unknown'],
    ['{ __schema { queryType { name } } }', 'unknown'],
    ['{ notInTheSchema }', 'unknown'],
    // A fragment cycle never validates; the label still terminates.
    [
      'query { ...A } fragment A on Query { ...B } fragment B on Query { ...A pipeline { name } }',
      'pipeline',
    ],
  ])('%s → %s', (query, expected) => {
    expect(labelOf(query)).toBe(expected);
  });

  it('is unknown without a resolved operation (a parse or validation failure)', () => {
    expect(labels.operationLabel(undefined, undefined)).toBe('unknown');
    expect(labelOf('query A { pipeline { name } } query B { pipelines { name } }')).toBe('unknown');
  });

  it('keeps known codes and counts any other as INTERNAL', () => {
    expect(outcomeOf(undefined)).toBe('ok');
    for (const code of ['ACCESS_DENIED', 'BAD_USER_INPUT', 'GRAPHQL_VALIDATION_FAILED', 'THROTTLED'])
      expect(outcomeOf(code)).toBe(code);
    for (const code of ['MADE_UP_BY_A_CLIENT', 'INTERNAL_SERVER_ERROR', 42, ''])
      expect(outcomeOf(code)).toBe('INTERNAL');
  });
});
