import { describe, expect, it } from 'vitest';
import {
  AccountAuthorizer,
  type Binding,
  type Decision,
  type EvaluationLayer,
  type PolicySource,
} from '../../../src/iam/policy/account-authorizer';
import { getManagedPolicy, managedPolicyArn } from '../../../src/iam/policy/managed-policies';
import { parsePolicyDocument } from '../../../src/iam/policy/policy-document';
import { referenceEvaluate, type ReferencePolicies } from './reference-evaluator';

/**
 * AWS's published CodePipeline identity-based policy examples (CodePipeline User Guide:
 * "Customer managed policy examples", "Identity-based policies (IAM) examples", "Using tags to
 * control access to CodePipeline resources"), with their ARNs translated to Sluice's
 * (`arn:aws:codepipeline:us-west-2:111222333444:MyFirstPipeline` becomes
 * `arn:sluice:codepipeline:local:111222333444:MyFirstPipeline`, DESIGN §3). Each row is decided
 * by the real authorizer (`evaluate` and `isAllowed`) and by the reference evaluator, and both
 * must give the expected answer.
 */

const ACCOUNT = '111222333444';
const CP = `arn:sluice:codepipeline:local:${ACCOUNT}`;
const MY_PIPELINE = `${CP}:MyFirstPipeline`;
const OTHER_PIPELINE = `${CP}:OtherPipeline`;

type Context = Record<string, string | string[]>;

interface Row {
  what: string;
  principal?: string;
  action: string;
  resource: string;
  context?: Context;
  session?: object;
  root?: boolean;
  expected: Decision;
  deniedBy?: EvaluationLayer;
}

interface Scenario {
  name: string;
  /** Raw policy documents by name, as AWS publishes them (ARNs translated). */
  policies: Record<string, unknown>;
  /** Principal key → names of the policies attached to it. */
  attach: Record<string, string[]>;
  boundaries?: Record<string, string>;
  guardrails?: string[];
  rows: Row[];
}

const doc = (...statements: object[]) => ({ Version: '2012-10-17', Statement: statements });

/** A Sluice managed policy as its raw JSON, so the reference reads it as written. */
function managed(name: string): unknown {
  const policy = getManagedPolicy(managedPolicyArn(name));
  if (!policy) throw new Error(`no managed policy ${name}`);
  return JSON.parse(policy.documentJson);
}

const FULL_ACCESS = managed('CodePipeline_FullAccess');

const SCENARIOS: Scenario[] = [
  {
    name: 'Example 1: get the state of one pipeline',
    policies: {
      GetState: doc({ Effect: 'Allow', Action: ['codepipeline:GetPipelineState'], Resource: MY_PIPELINE }),
    },
    attach: { 'user:dev': ['GetState'] },
    rows: [
      {
        what: 'its state',
        action: 'codepipeline:GetPipelineState',
        resource: MY_PIPELINE,
        expected: 'ALLOWED',
      },
      {
        what: 'another pipeline',
        action: 'codepipeline:GetPipelineState',
        resource: OTHER_PIPELINE,
        expected: 'IMPLICIT_DENY',
        deniedBy: 'identity',
      },
      {
        what: 'its declaration',
        action: 'codepipeline:GetPipeline',
        resource: MY_PIPELINE,
        expected: 'IMPLICIT_DENY',
        deniedBy: 'identity',
      },
    ],
  },
  {
    name: 'Example 2: enable and disable transitions between stages',
    policies: {
      AllStages: doc({
        Effect: 'Allow',
        Action: ['codepipeline:DisableStageTransition', 'codepipeline:EnableStageTransition'],
        Resource: `${MY_PIPELINE}/*`,
      }),
      StagingOnly: doc({
        Effect: 'Allow',
        Action: ['codepipeline:DisableStageTransition', 'codepipeline:EnableStageTransition'],
        Resource: `${MY_PIPELINE}/Staging`,
      }),
    },
    attach: { 'user:ops': ['AllStages'], 'user:staging': ['StagingOnly'] },
    rows: [
      {
        what: 'any stage',
        principal: 'user:ops',
        action: 'codepipeline:DisableStageTransition',
        resource: `${MY_PIPELINE}/Prod`,
        expected: 'ALLOWED',
      },
      {
        what: '/* names the stages, not the pipeline itself',
        principal: 'user:ops',
        action: 'codepipeline:EnableStageTransition',
        resource: MY_PIPELINE,
        expected: 'IMPLICIT_DENY',
        deniedBy: 'identity',
      },
      {
        what: 'the one stage named',
        principal: 'user:staging',
        action: 'codepipeline:EnableStageTransition',
        resource: `${MY_PIPELINE}/Staging`,
        expected: 'ALLOWED',
      },
      {
        what: 'not another stage',
        principal: 'user:staging',
        action: 'codepipeline:EnableStageTransition',
        resource: `${MY_PIPELINE}/Prod`,
        expected: 'IMPLICIT_DENY',
        deniedBy: 'identity',
      },
    ],
  },
  {
    name: 'Example 3: list the action types',
    policies: {
      ActionTypes: doc({
        Effect: 'Allow',
        Action: ['codepipeline:ListActionTypes'],
        Resource: `${CP}:actiontype:*`,
      }),
    },
    attach: { 'user:dev': ['ActionTypes'] },
    rows: [
      {
        what: 'an action type',
        action: 'codepipeline:ListActionTypes',
        resource: `${CP}:actiontype:Custom/Test/TestProvider/1`,
        expected: 'ALLOWED',
      },
      {
        what: 'not a pipeline',
        action: 'codepipeline:ListActionTypes',
        resource: MY_PIPELINE,
        expected: 'IMPLICIT_DENY',
        deniedBy: 'identity',
      },
    ],
  },
  {
    name: 'Example 4: approver for one stage',
    policies: {
      ApproveStaging: doc({
        Effect: 'Allow',
        Action: ['codepipeline:PutApprovalResult'],
        Resource: `${MY_PIPELINE}/Staging/*`,
      }),
    },
    attach: { 'user:approver': ['ApproveStaging'] },
    rows: [
      {
        what: 'approves in Staging',
        principal: 'user:approver',
        action: 'codepipeline:PutApprovalResult',
        resource: `${MY_PIPELINE}/Staging/ManualApproval`,
        expected: 'ALLOWED',
      },
      {
        what: 'not in Prod',
        principal: 'user:approver',
        action: 'codepipeline:PutApprovalResult',
        resource: `${MY_PIPELINE}/Prod/ManualApproval`,
        expected: 'IMPLICIT_DENY',
        deniedBy: 'identity',
      },
      {
        what: 'not in a stage of another pipeline with the same name',
        principal: 'user:approver',
        action: 'codepipeline:PutApprovalResult',
        resource: `${OTHER_PIPELINE}/Staging/ManualApproval`,
        expected: 'IMPLICIT_DENY',
        deniedBy: 'identity',
      },
      {
        what: 'cannot start the pipeline',
        principal: 'user:approver',
        action: 'codepipeline:StartPipelineExecution',
        resource: MY_PIPELINE,
        expected: 'IMPLICIT_DENY',
        deniedBy: 'identity',
      },
    ],
  },
  {
    name: 'Read-only access to one pipeline (CrossAccountPipelineViewers), and the managed read-only policy',
    policies: {
      CrossAccountPipelineViewers: {
        Statement: [
          {
            Action: [
              'codepipeline:GetPipeline',
              'codepipeline:GetPipelineState',
              'codepipeline:GetPipelineExecution',
              'codepipeline:ListPipelineExecutions',
              'codepipeline:ListActionTypes',
              'codepipeline:ListPipelines',
              'iam:ListRoles',
              's3:GetObject',
            ],
            Effect: 'Allow',
            Resource: MY_PIPELINE,
          },
        ],
        Version: '2012-10-17',
      },
      ReadOnly: managed('CodePipeline_ReadOnlyAccess'),
    },
    attach: {
      'role:CrossAccountPipelineViewers': ['CrossAccountPipelineViewers'],
      'user:reader': ['ReadOnly'],
    },
    rows: [
      {
        what: 'reads the pipeline',
        principal: 'role:CrossAccountPipelineViewers',
        action: 'codepipeline:GetPipeline',
        resource: MY_PIPELINE,
        expected: 'ALLOWED',
      },
      {
        what: 'reads its executions',
        principal: 'role:CrossAccountPipelineViewers',
        action: 'codepipeline:ListPipelineExecutions',
        resource: MY_PIPELINE,
        expected: 'ALLOWED',
      },
      {
        what: 'cannot change it',
        principal: 'role:CrossAccountPipelineViewers',
        action: 'codepipeline:UpdatePipeline',
        resource: MY_PIPELINE,
        expected: 'IMPLICIT_DENY',
        deniedBy: 'identity',
      },
      {
        what: 'cannot read another pipeline',
        principal: 'role:CrossAccountPipelineViewers',
        action: 'codepipeline:GetPipeline',
        resource: OTHER_PIPELINE,
        expected: 'IMPLICIT_DENY',
        deniedBy: 'identity',
      },
      {
        // ListPipelines checks Resource "*", which a statement naming one pipeline does not cover.
        what: 'cannot list pipelines with a one-pipeline resource',
        principal: 'role:CrossAccountPipelineViewers',
        action: 'codepipeline:ListPipelines',
        resource: '*',
        expected: 'IMPLICIT_DENY',
        deniedBy: 'identity',
      },
      {
        what: 'the managed read-only policy lists pipelines',
        principal: 'user:reader',
        action: 'codepipeline:ListPipelines',
        resource: '*',
        expected: 'ALLOWED',
      },
      {
        what: 'the managed read-only policy reads any pipeline',
        principal: 'user:reader',
        action: 'codepipeline:GetPipelineState',
        resource: OTHER_PIPELINE,
        expected: 'ALLOWED',
      },
      {
        what: 'the managed read-only policy cannot start one',
        principal: 'user:reader',
        action: 'codepipeline:StartPipelineExecution',
        resource: OTHER_PIPELINE,
        expected: 'IMPLICIT_DENY',
        deniedBy: 'identity',
      },
    ],
  },
  {
    name: 'Deny deleting a pipeline: full access minus DeletePipeline, and the same as a guardrail',
    policies: {
      FullAccess: FULL_ACCESS,
      DenyDeleteMyFirstPipeline: doc({
        Sid: 'DenyDelete',
        Effect: 'Deny',
        Action: 'codepipeline:DeletePipeline',
        Resource: MY_PIPELINE,
      }),
      AllowAll: doc({ Effect: 'Allow', Action: '*', Resource: '*' }),
      DenyDeleteProductionPipelines: doc({
        Effect: 'Deny',
        Action: 'codepipeline:DeletePipeline',
        Resource: '*',
        Condition: { StringEquals: { 'aws:ResourceTag/env': 'prod' } },
      }),
    },
    attach: { 'user:dev': ['FullAccess', 'DenyDeleteMyFirstPipeline'] },
    guardrails: ['AllowAll', 'DenyDeleteProductionPipelines'],
    rows: [
      {
        what: 'deletes another pipeline',
        action: 'codepipeline:DeletePipeline',
        resource: OTHER_PIPELINE,
        expected: 'ALLOWED',
      },
      {
        what: 'the Deny wins over full access',
        action: 'codepipeline:DeletePipeline',
        resource: MY_PIPELINE,
        expected: 'EXPLICIT_DENY',
        deniedBy: 'identity',
      },
      {
        what: 'everything else on it is allowed',
        action: 'codepipeline:UpdatePipeline',
        resource: MY_PIPELINE,
        expected: 'ALLOWED',
      },
      {
        what: 'the guardrail denies deleting a production pipeline',
        action: 'codepipeline:DeletePipeline',
        resource: OTHER_PIPELINE,
        context: { 'aws:resourcetag/env': 'prod' },
        expected: 'EXPLICIT_DENY',
        deniedBy: 'guardrails',
      },
      {
        what: 'the guardrail caps the account root too',
        principal: 'root',
        root: true,
        action: 'codepipeline:DeletePipeline',
        resource: OTHER_PIPELINE,
        context: { 'aws:resourcetag/env': 'prod' },
        expected: 'EXPLICIT_DENY',
        deniedBy: 'guardrails',
      },
      {
        what: 'the root may delete a pipeline that is not production',
        principal: 'root',
        root: true,
        action: 'codepipeline:DeletePipeline',
        resource: MY_PIPELINE,
        context: { 'aws:resourcetag/env': 'dev' },
        expected: 'ALLOWED',
      },
    ],
  },
  {
    name: 'Tags, Example 1: deny creating or retagging pipelines of some projects',
    policies: {
      FullAccess: FULL_ACCESS,
      DenyProjectTags: doc(
        {
          Effect: 'Deny',
          Action: ['codepipeline:CreatePipeline', 'codepipeline:TagResource'],
          Resource: '*',
          Condition: { StringEquals: { 'aws:RequestTag/Project': ['ProjectA', 'ProjectB'] } },
        },
        {
          Effect: 'Deny',
          Action: ['codepipeline:UntagResource'],
          Resource: '*',
          Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['Project'] } },
        },
      ),
    },
    attach: { 'user:dev': ['FullAccess', 'DenyProjectTags'] },
    rows: [
      {
        what: 'creating a ProjectA pipeline',
        action: 'codepipeline:CreatePipeline',
        resource: MY_PIPELINE,
        context: { 'aws:requesttag/project': 'ProjectA', 'aws:tagkeys': ['Project'] },
        expected: 'EXPLICIT_DENY',
        deniedBy: 'identity',
      },
      {
        what: 'creating a ProjectC pipeline',
        action: 'codepipeline:CreatePipeline',
        resource: MY_PIPELINE,
        context: { 'aws:requesttag/project': 'ProjectC', 'aws:tagkeys': ['Project'] },
        expected: 'ALLOWED',
      },
      {
        what: 'removing the Project tag',
        action: 'codepipeline:UntagResource',
        resource: MY_PIPELINE,
        context: { 'aws:tagkeys': ['Project'] },
        expected: 'EXPLICIT_DENY',
        deniedBy: 'identity',
      },
      {
        what: 'removing another tag and Project',
        action: 'codepipeline:UntagResource',
        resource: MY_PIPELINE,
        context: { 'aws:tagkeys': ['Owner', 'Project'] },
        expected: 'ALLOWED',
      },
      {
        // ForAllValues holds over an empty set: IAM documents this pitfall for Deny statements.
        what: 'an untag request without tag keys is denied too',
        action: 'codepipeline:UntagResource',
        resource: MY_PIPELINE,
        expected: 'EXPLICIT_DENY',
        deniedBy: 'identity',
      },
    ],
  },
  {
    name: 'Tags, Example 2: deny changing pipelines of some projects',
    policies: {
      FullAccess: FULL_ACCESS,
      DenyProjects: doc({
        Effect: 'Deny',
        Action: [
          'codepipeline:TagResource',
          'codepipeline:UntagResource',
          'codepipeline:UpdatePipeline',
          'codepipeline:DeletePipeline',
          'codepipeline:ListTagsForResource',
        ],
        Resource: '*',
        Condition: { StringEquals: { 'aws:ResourceTag/Project': ['ProjectA', 'ProjectB'] } },
      }),
    },
    attach: { 'user:dev': ['FullAccess', 'DenyProjects'] },
    rows: [
      {
        what: 'deleting a ProjectB pipeline',
        action: 'codepipeline:DeletePipeline',
        resource: MY_PIPELINE,
        context: { 'aws:resourcetag/project': 'ProjectB' },
        expected: 'EXPLICIT_DENY',
        deniedBy: 'identity',
      },
      {
        what: 'deleting a ProjectC pipeline',
        action: 'codepipeline:DeletePipeline',
        resource: MY_PIPELINE,
        context: { 'aws:resourcetag/project': 'ProjectC' },
        expected: 'ALLOWED',
      },
      {
        what: 'deleting an untagged pipeline',
        action: 'codepipeline:DeletePipeline',
        resource: MY_PIPELINE,
        expected: 'ALLOWED',
      },
      {
        what: 'tag values compare case-sensitively',
        action: 'codepipeline:UpdatePipeline',
        resource: MY_PIPELINE,
        context: { 'aws:resourcetag/project': 'projecta' },
        expected: 'ALLOWED',
      },
      {
        what: 'reading a ProjectA pipeline is not denied',
        action: 'codepipeline:GetPipeline',
        resource: MY_PIPELINE,
        context: { 'aws:resourcetag/project': 'ProjectA' },
        expected: 'ALLOWED',
      },
    ],
  },
  {
    name: 'Tags, Example 3: allow creating ProjectA pipelines only',
    policies: {
      CreateProjectA: doc({
        Effect: 'Allow',
        Action: ['codepipeline:CreatePipeline', 'codepipeline:TagResource'],
        Resource: '*',
        Condition: {
          StringEquals: { 'aws:RequestTag/Project': 'ProjectA' },
          'ForAllValues:StringEquals': { 'aws:TagKeys': ['Project'] },
        },
      }),
    },
    attach: { 'user:dev': ['CreateProjectA'] },
    rows: [
      {
        what: 'tagged Project=ProjectA',
        action: 'codepipeline:CreatePipeline',
        resource: MY_PIPELINE,
        context: { 'aws:requesttag/project': 'ProjectA', 'aws:tagkeys': ['Project'] },
        expected: 'ALLOWED',
      },
      {
        what: 'with another tag key besides',
        action: 'codepipeline:CreatePipeline',
        resource: MY_PIPELINE,
        context: {
          'aws:requesttag/project': 'ProjectA',
          'aws:requesttag/owner': 'me',
          'aws:tagkeys': ['Project', 'Owner'],
        },
        expected: 'IMPLICIT_DENY',
        deniedBy: 'identity',
      },
      {
        // aws:TagKeys is case-sensitive where tag keys are not: "project" is not "Project".
        what: 'with the key in another case',
        action: 'codepipeline:CreatePipeline',
        resource: MY_PIPELINE,
        context: { 'aws:requesttag/project': 'ProjectA', 'aws:tagkeys': ['project'] },
        expected: 'IMPLICIT_DENY',
        deniedBy: 'identity',
      },
      {
        what: 'without tags',
        action: 'codepipeline:CreatePipeline',
        resource: MY_PIPELINE,
        expected: 'IMPLICIT_DENY',
        deniedBy: 'identity',
      },
    ],
  },
  {
    name: 'Tags, Example 4: allow changing ProjectA pipelines only',
    policies: {
      ChangeProjectA: doc({
        Effect: 'Allow',
        Action: ['codepipeline:UpdatePipeline', 'codepipeline:DeletePipeline', 'codepipeline:ListPipelines'],
        Resource: '*',
        Condition: {
          StringEquals: { 'aws:ResourceTag/Project': 'ProjectA' },
          'ForAllValues:StringEquals': { 'aws:TagKeys': ['Project'] },
        },
      }),
    },
    attach: { 'user:dev': ['ChangeProjectA'] },
    rows: [
      {
        what: 'a ProjectA pipeline',
        action: 'codepipeline:DeletePipeline',
        resource: MY_PIPELINE,
        context: { 'aws:resourcetag/project': 'ProjectA' },
        expected: 'ALLOWED',
      },
      {
        what: 'a ProjectB pipeline',
        action: 'codepipeline:DeletePipeline',
        resource: MY_PIPELINE,
        context: { 'aws:resourcetag/project': 'ProjectB' },
        expected: 'IMPLICIT_DENY',
        deniedBy: 'identity',
      },
      {
        what: 'an untagged pipeline',
        action: 'codepipeline:UpdatePipeline',
        resource: MY_PIPELINE,
        expected: 'IMPLICIT_DENY',
        deniedBy: 'identity',
      },
    ],
  },
  {
    name: 'Owners: a pipeline tagged with the caller as its owner (a policy variable in a condition)',
    policies: {
      OwnPipelines: doc({
        Effect: 'Allow',
        Action: ['codepipeline:StartPipelineExecution', 'codepipeline:UpdatePipeline'],
        Resource: `${CP}:*`,
        Condition: { StringEquals: { 'aws:ResourceTag/Owner': '${aws:username}' } },
      }),
    },
    attach: { 'user:carol': ['OwnPipelines'] },
    rows: [
      {
        what: 'carol starts her pipeline',
        principal: 'user:carol',
        action: 'codepipeline:StartPipelineExecution',
        resource: MY_PIPELINE,
        context: { 'aws:username': 'carol', 'aws:resourcetag/owner': 'carol' },
        expected: 'ALLOWED',
      },
      {
        what: "not dave's",
        principal: 'user:carol',
        action: 'codepipeline:StartPipelineExecution',
        resource: MY_PIPELINE,
        context: { 'aws:username': 'carol', 'aws:resourcetag/owner': 'dave' },
        expected: 'IMPLICIT_DENY',
        deniedBy: 'identity',
      },
    ],
  },
  {
    name: 'The cross-account approver role, narrowed by a session policy and capped by a boundary',
    policies: {
      ProdApprover: doc(
        { Effect: 'Allow', Action: 'codepipeline:GetPipelineState', Resource: `${CP}:rel` },
        { Effect: 'Allow', Action: 'codepipeline:PutApprovalResult', Resource: `${CP}:rel/Prod/*` },
      ),
      NoApprovals: doc({ Effect: 'Allow', NotAction: 'codepipeline:PutApprovalResult', Resource: '*' }),
    },
    attach: { 'role:ProdApprover': ['ProdApprover'], 'role:Bounded': ['ProdApprover'] },
    boundaries: { 'role:Bounded': 'NoApprovals' },
    rows: [
      {
        what: 'approves Prod',
        principal: 'role:ProdApprover',
        action: 'codepipeline:PutApprovalResult',
        resource: `${CP}:rel/Prod/Approve`,
        expected: 'ALLOWED',
      },
      {
        what: 'not Staging',
        principal: 'role:ProdApprover',
        action: 'codepipeline:PutApprovalResult',
        resource: `${CP}:rel/Staging/Approve`,
        expected: 'IMPLICIT_DENY',
        deniedBy: 'identity',
      },
      {
        what: 'a read-only session cannot approve',
        principal: 'role:ProdApprover',
        action: 'codepipeline:PutApprovalResult',
        resource: `${CP}:rel/Prod/Approve`,
        session: doc({ Effect: 'Allow', Action: 'codepipeline:Get*', Resource: '*' }),
        expected: 'IMPLICIT_DENY',
        deniedBy: 'session',
      },
      {
        what: 'a read-only session reads the state',
        principal: 'role:ProdApprover',
        action: 'codepipeline:GetPipelineState',
        resource: `${CP}:rel`,
        session: doc({ Effect: 'Allow', Action: 'codepipeline:Get*', Resource: '*' }),
        expected: 'ALLOWED',
      },
      {
        what: 'a session policy never widens',
        principal: 'role:ProdApprover',
        action: 'codepipeline:StartPipelineExecution',
        resource: `${CP}:rel`,
        session: doc({ Effect: 'Allow', Action: '*', Resource: '*' }),
        expected: 'IMPLICIT_DENY',
        deniedBy: 'identity',
      },
      {
        what: 'a boundary without approvals caps the same identity policy',
        principal: 'role:Bounded',
        action: 'codepipeline:PutApprovalResult',
        resource: `${CP}:rel/Prod/Approve`,
        expected: 'IMPLICIT_DENY',
        deniedBy: 'boundary',
      },
      {
        what: 'the bounded role still reads the state',
        principal: 'role:Bounded',
        action: 'codepipeline:GetPipelineState',
        resource: `${CP}:rel`,
        expected: 'ALLOWED',
      },
    ],
  },
];

const policyId = (name: string) => `arn:sluice:iam::${ACCOUNT}:policy/${name}`;

function build(scenario: Scenario): Promise<AccountAuthorizer> {
  const policies: PolicySource[] = Object.entries(scenario.policies).map(([name, raw]) => ({
    id: policyId(name),
    arn: policyId(name),
    name,
    document: parsePolicyDocument(raw),
  }));
  const bindings: Binding[] = Object.entries(scenario.attach).flatMap(([member, names]) =>
    names.map((name) => ({ member, of: policyId(name) })),
  );
  const boundaries: Binding[] = Object.entries(scenario.boundaries ?? {}).map(([member, name]) => ({
    member,
    of: policyId(name),
  }));
  return AccountAuthorizer.build({
    accountId: ACCOUNT,
    policies,
    bindings,
    boundaries,
    ...(scenario.guardrails ? { guardrails: scenario.guardrails.map(policyId) } : {}),
  });
}

function referenceInput(scenario: Scenario, row: Row, principal: string): ReferencePolicies {
  const raw = (name: string) => scenario.policies[name];
  const boundary = scenario.boundaries?.[principal];
  return {
    identityPolicies: (scenario.attach[principal] ?? []).map(raw),
    ...(boundary !== undefined ? { boundary: raw(boundary) } : {}),
    ...(scenario.guardrails ? { guardrails: scenario.guardrails.map(raw) } : {}),
    ...(row.session ? { sessionPolicy: row.session } : {}),
    root: row.root === true,
  };
}

describe.each(SCENARIOS)('$name', (scenario) => {
  const principalOf = (row: Row) => row.principal ?? Object.keys(scenario.attach)[0];

  it.each(scenario.rows)('$what → $expected', async (row) => {
    const authz = await build(scenario);
    const principal = principalOf(row);
    const context = row.context ?? {};
    const options = {
      ...(row.session ? { sessionPolicy: parsePolicyDocument(row.session) } : {}),
      root: row.root === true,
    };
    const evaluation = authz.evaluate(principal, row.action, row.resource, context, options);
    expect(evaluation.decision).toBe(row.expected);
    expect(evaluation.deniedBy).toBe(row.deniedBy);
    expect(authz.isAllowed(principal, row.action, row.resource, context, options)).toBe(
      row.expected === 'ALLOWED',
    );

    const reference = referenceEvaluate(referenceInput(scenario, row, principal), {
      action: row.action,
      resource: row.resource,
      context,
    });
    expect(reference.decision).toBe(row.expected);
    expect(reference.deniedBy).toBe(row.deniedBy);
  });
});
