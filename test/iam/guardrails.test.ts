import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalPipeline, CREATE_PIPELINE } from '../support/executions';
import { allow, newAccount, platformAdmin, userWithPolicy, type TestAccount } from '../support/factories';
import type { GraphQLClient } from '../support/graphql-client';
import { startTestServer, type TestServer } from '../support/test-server';

/** Account guardrails, as AWS Organizations' SCPs (issue 9, point 3). */
let server: TestServer;
let admin: GraphQLClient;
let capped: TestAccount;
let free: TestAccount;

const ATTACH = `mutation($a: String!, $p: String!) { attachAccountGuardrail(accountId: $a, policyArn: $p) }`;
const DETACH = `mutation($a: String!, $p: String!) { detachAccountGuardrail(accountId: $a, policyArn: $p) }`;
const LISTED = `query($a: String!) { accountGuardrails(accountId: $a) { name } }`;
const FULL = 'arn:sluice:iam::sluice:policy/GuardrailFullAccess';
const ADMIN = 'arn:sluice:iam::sluice:policy/AdministratorAccess';
const DELETE = `mutation($n: String!) { deletePipeline(name: $n) }`;

const pipeline = (name: string): Record<string, unknown> => ({ p: approvalPipeline(name) });

async function platformPolicy(name: string, document: object): Promise<string> {
  const { createPolicy } = await admin.ok<{ createPolicy: { arn: string } }>(
    `mutation($n: String!, $d: JSON!) { createPolicy(policyName: $n, policyDocument: $d) { arn } }`,
    { n: name, d: document },
  );
  return createPolicy.arn;
}

beforeAll(async () => {
  server = await startTestServer();
  admin = await platformAdmin(server);
  capped = await newAccount(server, 'capped');
  free = await newAccount(server, 'uncapped');
});
afterAll(() => server.stop());

describe('account guardrails', () => {
  it('a deny-list guardrail beside GuardrailFullAccess caps the root and every user, and no other account', async () => {
    const names = async (a: string): Promise<string[]> =>
      (await admin.ok<{ accountGuardrails: { name: string }[] }>(LISTED, { a })).accountGuardrails.map(
        (p) => p.name,
      );
    expect(await names(capped.accountId)).toEqual(['GuardrailFullAccess']);
    const deny = await platformPolicy('DenyDeleteProductionPipelines', {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'NoProdDeletes',
          Effect: 'Deny',
          Action: 'codepipeline:DeletePipeline',
          Resource: 'arn:sluice:codepipeline:*:*:prod-*',
        },
      ],
    });
    await admin.ok(ATTACH, { a: capped.accountId, p: deny });
    expect((await names(capped.accountId)).sort()).toEqual([
      'DenyDeleteProductionPipelines',
      'GuardrailFullAccess',
    ]);

    const user = await userWithPolicy(server, capped, undefined);
    for (const account of [capped, free]) {
      await account.root.ok(CREATE_PIPELINE, pipeline('prod-web'));
      await account.root.ok(CREATE_PIPELINE, pipeline('dev-web'));
    }
    // The root itself is capped; a user with AdministratorAccess too; dev pipelines are not.
    const denied = await capped.root.fails(DELETE, { n: 'prod-web' }, 'ACCESS_DENIED');
    expect(denied.message).toContain('explicit deny');
    const ops = await userWithPolicy(server, capped, undefined, 'ops');
    await capped.root.ok(`mutation($a: String!) { attachUserPolicy(userName: "ops", policyArn: $a) }`, {
      a: ADMIN,
    });
    await ops.fails(DELETE, { n: 'prod-web' }, 'ACCESS_DENIED');
    await ops.ok(DELETE, { n: 'dev-web' });
    await user.fails(DELETE, { n: 'dev-web' }, 'ACCESS_DENIED');
    // Another account is untouched.
    await free.root.ok(DELETE, { n: 'prod-web' });
    const { authorizationDecision } = await capped.root.ok<{ authorizationDecision: { deniedBy: string } }>(
      `query($id: String!) { authorizationDecision(decisionId: $id) { deniedBy } }`,
      { id: denied.extensions?.decisionId },
    );
    expect(authorizationDecision.deniedBy).toBe('GUARDRAILS');
  });

  it('an allow-list guardrail alone allows only what it lists, until it is widened', async () => {
    const account = await newAccount(server, 'allow-listed');
    await account.root.ok(CREATE_PIPELINE, pipeline('app'));
    const readOnly = await platformPolicy('OnlyReads', allow(['codepipeline:Get*', 'codepipeline:List*']));
    await admin.ok(ATTACH, { a: account.accountId, p: readOnly });
    await admin.ok(DETACH, { a: account.accountId, p: FULL });
    await account.root.ok(`{ pipeline(name: "app") { name } }`);
    await account.root.fails(DELETE, { n: 'app' }, 'ACCESS_DENIED');
    // Widening the cap applies to the next request.
    await admin.ok(ATTACH, { a: account.accountId, p: FULL });
    await account.root.ok(DELETE, { n: 'app' });
    // A guardrail in use cannot be deleted from the platform account.
    await admin.fails(`mutation($a: String!) { deletePolicy(policyArn: $a) }`, { a: readOnly }, 'CONFLICT');
  });

  it('refuses to detach the last guardrail, to cap the platform account, and callers outside the platform account', async () => {
    const account = await newAccount(server, 'lonely');
    const last = await admin.fails(DETACH, { a: account.accountId, p: FULL }, 'CONFLICT');
    expect(last.message).toContain('attach another first');
    await admin.fails(ATTACH, { a: '000000000000', p: FULL }, 'BAD_USER_INPUT');
    await admin.fails(ATTACH, { a: '999999999999', p: FULL }, 'NOT_FOUND');
    await account.root.fails(ATTACH, { a: account.accountId, p: FULL }, 'ACCESS_DENIED');
    await account.root.fails(LISTED, { a: account.accountId }, 'ACCESS_DENIED');
    // A tenant's own policy cannot be a guardrail: guardrails are the platform's.
    const { createPolicy } = await account.root.ok<{ createPolicy: { arn: string } }>(
      `mutation($d: JSON!) { createPolicy(policyName: "Mine", policyDocument: $d) { arn } }`,
      { d: allow('*') },
    );
    await admin.fails(ATTACH, { a: account.accountId, p: createPolicy.arn }, 'NOT_FOUND');
  });
});
