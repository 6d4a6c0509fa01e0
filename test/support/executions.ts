import { expect } from 'vitest';
import type { GraphQLClient } from './graphql-client';

export const EXECUTION_FIELDS = `pipelineExecutionId pipelineName pipelineVersion status statusSummary executionType
  rollbackTargetPipelineExecutionId currentStage trigger { triggerType triggerDetail }
  artifactRevisions { name revisionId revisionSummary } variables { name resolvedValue }`;

export interface Execution {
  pipelineExecutionId: string;
  pipelineName: string;
  pipelineVersion: number;
  status: string;
  statusSummary: string | null;
  executionType: string;
  rollbackTargetPipelineExecutionId: string | null;
  currentStage: string | null;
  trigger: { triggerType: string; triggerDetail: string | null };
  artifactRevisions: { name: string; revisionId: string | null; revisionSummary: string | null }[];
  variables: { name: string; resolvedValue: string }[];
}

export interface ActionExecution {
  actionExecutionId: string;
  pipelineExecutionId: string;
  stageName: string;
  actionName: string;
  status: string;
  summary: string | null;
  failureType: string | null;
  input: { configuration: Record<string, string>; resolvedConfiguration: Record<string, string> | null };
  output: { outputVariables: Record<string, string> };
  token: string | null;
  updatedBy: string | null;
}

/** Polls until `check` passes or `seconds` run out (executions are asynchronous). */
export async function eventually<T>(
  probe: () => Promise<T>,
  check: (value: T) => boolean,
  seconds = 30,
): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last: T = await probe();
  while (!check(last)) {
    if (Date.now() > deadline)
      throw new Error(`condition not met in ${seconds} s; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
    last = await probe();
  }
  return last;
}

export async function execution(client: GraphQLClient, pipelineName: string, id: string): Promise<Execution> {
  const data = await client.ok<{ pipelineExecution: Execution }>(
    `query($p: String!, $id: ID!) { pipelineExecution(pipelineName: $p, pipelineExecutionId: $id) { ${EXECUTION_FIELDS} } }`,
    { p: pipelineName, id },
  );
  return data.pipelineExecution;
}

export async function latestExecution(
  client: GraphQLClient,
  pipelineName: string,
): Promise<Execution | undefined> {
  const data = await client.ok<{ pipelineExecutions: { nodes: Execution[] } }>(
    `query($p: String!) { pipelineExecutions(pipelineName: $p, first: 1) { nodes { ${EXECUTION_FIELDS} } } }`,
    { p: pipelineName },
  );
  return data.pipelineExecutions.nodes[0];
}

/** The pipeline's executions, newest first (up to 50). */
export async function executions(client: GraphQLClient, pipelineName: string): Promise<Execution[]> {
  const data = await client.ok<{ pipelineExecutions: { nodes: Execution[] } }>(
    `query($p: String!) { pipelineExecutions(pipelineName: $p, first: 50) { nodes { ${EXECUTION_FIELDS} } } }`,
    { p: pipelineName },
  );
  return data.pipelineExecutions.nodes;
}

/** The execution that creating the pipeline started, once it has ended. */
export async function firstRunEnded(client: GraphQLClient, pipelineName: string): Promise<Execution> {
  const list = await eventually(
    () => executions(client, pipelineName),
    (found) => found.length > 0 && !['IN_PROGRESS', 'STOPPING'].includes(found[found.length - 1].status),
  );
  return list[list.length - 1];
}

const TERMINAL = ['SUCCEEDED', 'FAILED', 'STOPPED', 'SUPERSEDED', 'CANCELLED'];

/** Waits for an execution to reach `status` (or any terminal status, failing the test if another). */
export async function waitForStatus(
  client: GraphQLClient,
  pipelineName: string,
  id: string,
  status: string,
  seconds = 60,
): Promise<Execution> {
  const result = await eventually(
    () => execution(client, pipelineName, id),
    (e) => e.status === status || (TERMINAL.includes(e.status) && TERMINAL.includes(status)),
    seconds,
  );
  expect(result.status, result.statusSummary ?? '').toBe(status);
  return result;
}

export async function actionExecutions(
  client: GraphQLClient,
  pipelineName: string,
  executionId?: string,
): Promise<ActionExecution[]> {
  const data = await client.ok<{ actionExecutions: { nodes: ActionExecution[] } }>(
    `query($p: String!, $f: ActionExecutionFilter) { actionExecutions(pipelineName: $p, filter: $f, first: 200) {
      nodes { actionExecutionId pipelineExecutionId stageName actionName status summary failureType
        input { configuration resolvedConfiguration } output { outputVariables } token updatedBy } } }`,
    { p: pipelineName, f: executionId ? { pipelineExecutionId: executionId } : null },
  );
  return data.actionExecutions.nodes;
}

export const START = `mutation($n: String!, $v: [PipelineVariableInput!], $t: String, $s: [SourceRevisionOverrideInput!]) {
  startPipelineExecution(name: $n, variables: $v, clientRequestToken: $t, sourceRevisions: $s) { ${EXECUTION_FIELDS} }
}`;

export async function start(
  client: GraphQLClient,
  pipelineName: string,
  variables?: { name: string; value: string }[],
): Promise<Execution> {
  return (await client.ok<{ startPipelineExecution: Execution }>(START, { n: pipelineName, v: variables }))
    .startPipelineExecution;
}

export const CREATE_PIPELINE = `mutation($p: PipelineDeclarationInput!) { createPipeline(pipeline: $p) { name version } }`;

export const gitSourceType = { category: 'Source', owner: 'Sluice', provider: 'Git', version: '1' };
const shell = { category: 'Build', owner: 'Sluice', provider: 'Shell', version: '1' };

/** The first stage most test pipelines share: one git action `Checkout` giving artifact `Src`. */
export function gitSourceStage(repositoryUrl: string, namespace?: string): Record<string, unknown> {
  return {
    name: 'Source',
    actions: [
      {
        name: 'Checkout',
        actionTypeId: gitSourceType,
        configuration: { RepositoryUrl: repositoryUrl, BranchName: 'main' },
        outputArtifacts: [{ name: 'Src' }],
        ...(namespace ? { namespace } : {}),
      },
    ],
  };
}

/** Source (git) → Build (shell commands) [→ more stages]. */
export function sourceAndBuild(
  name: string,
  repo: string,
  commands: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name,
    stages: [
      gitSourceStage(repo, 'SourceVariables'),
      {
        name: 'Build',
        actions: [
          {
            name: 'Build',
            actionTypeId: shell,
            configuration: { Commands: commands },
            inputArtifacts: [{ name: 'Src' }],
            outputArtifacts: [{ name: 'Built' }],
            namespace: 'BuildVariables',
          },
        ],
      },
    ],
    ...extra,
  };
}

/** The smallest valid pipeline: an archive source and a manual approval (runs no build). */
export function approvalPipeline(name: string): Record<string, unknown> {
  return {
    name,
    stages: [
      {
        name: 'Source',
        actions: [
          {
            name: 'Src',
            actionTypeId: { category: 'Source', owner: 'Sluice', provider: 'Archive', version: '1' },
            configuration: { ObjectKey: 'app.zip' },
            outputArtifacts: [{ name: 'out' }],
          },
        ],
      },
      {
        name: 'Gate',
        actions: [
          {
            name: 'Approve',
            actionTypeId: { category: 'Approval', owner: 'Sluice', provider: 'Manual', version: '1' },
          },
        ],
      },
    ],
  };
}
