import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InlinePolicyNames1764800000000 } from '../../migrations/1764800000000-inline-policy-names';
import { createDataSource } from '../../src/platform/db/database';
import { freshDatabase } from '../support/database';
import type { DataSource } from 'typeorm';

/**
 * Migration 1764800000000 on inline policies written before their names were unique without
 * regard to case. The test database is already migrated, so the index the migration creates is
 * dropped first, the old rows are written as the old code would have, and the audit trail gets
 * the Put…Policy events the old calls would have left (through audit_append, as the server
 * writes them).
 */

let dataSource: DataSource;
const ACCOUNT = '123456789012';

async function inline(holder: string, name: string, doc: string, type = 'user'): Promise<void> {
  await dataSource.query(
    `INSERT INTO inline_policies (account_id, principal_type, principal_id, name, document) VALUES ($1, $2, $3, $4, $5)`,
    [ACCOUNT, type, holder, name, JSON.stringify({ doc })],
  );
}

/** One audit event of a Put{User,Group}Policy call, appended to the account's chain. */
async function put(
  eventName: 'PutUserPolicy' | 'PutGroupPolicy',
  holderName: string,
  policyName: string,
  errorCode: string | null = null,
): Promise<void> {
  const holderKey = eventName === 'PutUserPolicy' ? 'userName' : 'groupName';
  const event = JSON.stringify({
    eventName,
    errorCode,
    requestParameters: { [holderKey]: holderName, policyName, policyDocument: {} },
  });
  await dataSource.query(
    `SELECT audit_append(ARRAY[$1]::text[], ARRAY[$2]::uuid[], ARRAY[now()]::timestamptz[], ARRAY[$3]::text[],
       ARRAY[false], ARRAY['arn:sluice:iam::${ACCOUNT}:root']::text[], ARRAY[$4]::text[], ARRAY[$5]::json[],
       ARRAY[$6]::text[], ARRAY[]::integer[], ARRAY[]::text[])`,
    [ACCOUNT, randomUUID(), eventName, errorCode, event, '0'.repeat(64)],
  );
}

beforeAll(async () => {
  dataSource = createDataSource(await freshDatabase(), 2);
  await dataSource.initialize();
  await dataSource.query(`DROP INDEX inline_policies_name_ci`);
  await dataSource.query(`INSERT INTO accounts (id, name, root_password_hash) VALUES ($1, 'm', 'x')`, [
    ACCOUNT,
  ]);
  for (const [id, name] of [
    ['AIDAALICE', 'alice'],
    ['AIDABOB', 'bob'],
    ['AIDACAROL', 'carol'],
  ]) {
    await dataSource.query(`INSERT INTO users (account_id, id, name) VALUES ($1, $2, $3)`, [
      ACCOUNT,
      id,
      name,
    ]);
  }
  await dataSource.query(`INSERT INTO groups (account_id, id, name) VALUES ($1, 'AGPADEVS', 'Devs')`, [
    ACCOUNT,
  ]);

  // alice: three spellings; the trail says `own` was put last (C order would keep `OWN`).
  await inline('AIDAALICE', 'Own', 'first');
  await inline('AIDAALICE', 'OWN', 'second');
  await inline('AIDAALICE', 'own', 'third');
  await inline('AIDAALICE', 'Other', 'alone');
  await put('PutUserPolicy', 'alice', 'Own');
  await put('PutUserPolicy', 'ALICE', 'OWN');
  await put('PutUserPolicy', 'Alice', 'own');
  // Later events that must not count: another user's put, a failed put, a group's put.
  await put('PutUserPolicy', 'bob', 'OWN');
  await put('PutUserPolicy', 'alice', 'OWN', 'BAD_USER_INPUT');
  await put('PutGroupPolicy', 'alice', 'OWN');
  // bob has spellings of his own; his trail says `own` last.
  await inline('AIDABOB', 'own', 'bob-1');
  await inline('AIDABOB', 'OWN', 'bob-2');
  await put('PutUserPolicy', 'BOB', 'own');
  // the Devs group: `deploy` put last.
  await inline('AGPADEVS', 'deploy', 'devs-1', 'group');
  await inline('AGPADEVS', 'Deploy', 'devs-2', 'group');
  await put('PutGroupPolicy', 'DEVS', 'Deploy');
  await put('PutGroupPolicy', 'devs', 'deploy');
  // carol: no event tells (pruned): the first spelling in C order stays.
  await inline('AIDACAROL', 'zed', 'carol-1');
  await inline('AIDACAROL', 'Zed', 'carol-2');

  const runner = dataSource.createQueryRunner();
  try {
    await new InlinePolicyNames1764800000000().up(runner);
  } finally {
    await runner.release();
  }
});
afterAll(() => dataSource.destroy());

describe('migration 1764800000000', () => {
  it('keeps, of names differing only in case, the one the audit trail shows was put last', async () => {
    const rows: { principal_id: string; name: string; document: { doc: string } }[] = await dataSource.query(
      `SELECT principal_id, name, document FROM inline_policies ORDER BY principal_id, name COLLATE "C"`,
    );
    expect(rows.map((r) => [r.principal_id, r.name, r.document.doc])).toEqual([
      ['AGPADEVS', 'deploy', 'devs-1'],
      ['AIDAALICE', 'Other', 'alone'],
      ['AIDAALICE', 'own', 'third'],
      ['AIDABOB', 'own', 'bob-1'],
      ['AIDACAROL', 'Zed', 'carol-2'],
    ]);
  });

  it('then refuses a second name differing only in case', async () => {
    await expect(inline('AIDAALICE', 'OWN', 'again')).rejects.toThrow(/inline_policies_name_ci/);
    // Another holder may still use the name.
    await inline('AIDACAROL', 'OWN', 'carol-own');
  });
});
