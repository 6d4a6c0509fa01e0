import { describe, expect, it } from 'vitest';
import {
  getManagedPolicy,
  listManagedPolicies,
  managedPolicyArn,
  managedPolicySource,
} from '../../../src/iam/policy/managed-policies';
import { parsePolicyDocument } from '../../../src/iam/policy/policy-document';
import { ACTION, build, expectDecision, PIPELINE, STAGE } from './authorizer-fixtures';

// The policies DESIGN §5 requires; the folder may ship more.
const REQUIRED = [
  'AuditReadOnlyAccess',
  'CodePipelineApproverAccess',
  'CodePipelineCustomActionAccess',
  'CodePipeline_FullAccess',
  'CodePipeline_ReadOnlyAccess',
  'IAMFullAccess',
];

describe('managed policies', () => {
  it('loads every shipped policy with its ARN, description and a valid document', () => {
    const policies = listManagedPolicies();
    const names = policies.map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(REQUIRED));
    expect(names).toEqual([...names].sort());
    for (const policy of policies) {
      expect(policy.arn).toBe(`arn:sluice:iam::sluice:policy/${policy.name}`);
      expect(policy.description.length).toBeGreaterThan(10);
      expect(parsePolicyDocument(policy.documentJson)).toEqual(policy.document);
    }
  });

  it('finds a policy by ARN, and nothing for an unknown ARN', () => {
    expect(getManagedPolicy(managedPolicyArn('IAMFullAccess'))?.name).toBe('IAMFullAccess');
    expect(getManagedPolicy('arn:sluice:iam::sluice:policy/Nope')).toBeUndefined();
    expect(getManagedPolicy('arn:sluice:iam::123456789012:policy/IAMFullAccess')).toBeUndefined();
  });

  it('is shared and frozen, so no caller can change what every account gets', () => {
    const policy = getManagedPolicy(managedPolicyArn('CodePipeline_ReadOnlyAccess'));
    expect(policy).toBe(listManagedPolicies().find((p) => p.name === 'CodePipeline_ReadOnlyAccess'));
    expect(Object.isFrozen(policy?.document.statements[0].actions)).toBe(true);
  });

  // [policy, action, resource, expected]
  // prettier-ignore
  const rows: [string, string, string, 'ALLOWED' | 'IMPLICIT_DENY'][] = [
    ['CodePipeline_ReadOnlyAccess', 'codepipeline:GetPipeline', PIPELINE, 'ALLOWED'],
    ['CodePipeline_ReadOnlyAccess', 'codepipeline:ListPipelineExecutions', PIPELINE, 'ALLOWED'],
    ['CodePipeline_ReadOnlyAccess', 'codepipeline:DeletePipeline', PIPELINE, 'IMPLICIT_DENY'],
    ['CodePipeline_ReadOnlyAccess', 'codepipeline:PutApprovalResult', ACTION, 'IMPLICIT_DENY'],
    ['CodePipeline_FullAccess', 'codepipeline:DeletePipeline', PIPELINE, 'ALLOWED'],
    ['CodePipeline_FullAccess', 'iam:CreateUser', '*', 'IMPLICIT_DENY'],
    ['CodePipelineApproverAccess', 'codepipeline:PutApprovalResult', ACTION, 'ALLOWED'],
    ['CodePipelineApproverAccess', 'codepipeline:GetPipelineState', PIPELINE, 'ALLOWED'],
    ['CodePipelineApproverAccess', 'codepipeline:RetryStageExecution', STAGE, 'IMPLICIT_DENY'],
    ['CodePipelineCustomActionAccess', 'codepipeline:PollForJobs', '*', 'ALLOWED'],
    ['CodePipelineCustomActionAccess', 'codepipeline:PutJobSuccessResult', '*', 'ALLOWED'],
    ['CodePipelineCustomActionAccess', 'codepipeline:PutJobFailureResult', '*', 'ALLOWED'],
    ['CodePipelineCustomActionAccess', 'codepipeline:StartPipelineExecution', PIPELINE, 'IMPLICIT_DENY'],
    ['IAMFullAccess', 'iam:AttachUserPolicy', 'arn:sluice:iam::123456789012:user/alice', 'ALLOWED'],
    ['IAMFullAccess', 'sts:AssumeRole', 'arn:sluice:iam::123456789012:role/deploy', 'IMPLICIT_DENY'],
    ['AuditReadOnlyAccess', 'cloudtrail:LookupEvents', '*', 'ALLOWED'],
    ['AuditReadOnlyAccess', 'cloudtrail:ValidateAuditTrail', '*', 'ALLOWED'],
    ['AuditReadOnlyAccess', 'cloudtrail:DeleteTrail', '*', 'IMPLICIT_DENY'],
  ];

  it.each(rows)('%s: %s on %s → %s', async (name, action, resource, expected) => {
    const policy = getManagedPolicy(managedPolicyArn(name));
    if (!policy) throw new Error(`missing managed policy ${name}`);
    const authz = await build([managedPolicySource(policy)], [{ member: 'user:alice', of: policy.arn }]);
    expectDecision(authz, 'user:alice', action, resource, {}, expected);
  });
});
