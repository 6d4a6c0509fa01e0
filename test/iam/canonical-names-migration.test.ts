import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IamCanonicalNames1764400000000 } from '../../migrations/1764400000000-iam-canonical-names';
import { createDataSource } from '../../src/platform/db/database';
import { freshDatabase } from '../support/database';
import type { DataSource } from 'typeorm';

/**
 * Migration 1764400000000 on rows written before names were canonical: attachments made with
 * a case variant of a policy's ARN, and tag keys differing only in case. The test database is
 * already migrated, so the index the migration creates is dropped first and the old rows are
 * written as the old code would have.
 */

let dataSource: DataSource;
const ACCOUNT = '123456789012';
const arn = (name: string): string => `arn:sluice:iam::${ACCOUNT}:policy/${name}`;

beforeAll(async () => {
  dataSource = createDataSource(await freshDatabase(), 2);
  await dataSource.initialize();
  await dataSource.query(`DROP INDEX resource_tags_key_ci`);
  await dataSource.query(`INSERT INTO accounts (id, name, root_password_hash) VALUES ($1, 'm', 'x')`, [
    ACCOUNT,
  ]);
  await dataSource.query(
    `INSERT INTO policies (account_id, id, name, document) VALUES ($1, 'Deploy', 'Deploy', '{}')`,
    [ACCOUNT],
  );
  const attach = (holder: string, policyArn: string) =>
    dataSource.query(
      `INSERT INTO policy_attachments (account_id, principal_type, principal_id, policy_arn) VALUES ($1, 'user', $2, $3)`,
      [ACCOUNT, holder, policyArn],
    );
  await attach('AIDA1', arn('deploy')); // a variant only
  await attach('AIDA2', arn('DEPLOY')); // two variants and the canonical ARN
  await attach('AIDA2', arn('deploy'));
  await attach('AIDA2', arn('Deploy'));
  await attach('AIDA3', 'arn:sluice:iam::sluice:policy/AdministratorAccess'); // managed: untouched
  await attach('AIDA3', arn('Unknown')); // no such policy: untouched
  const tag = (key: string, value: string) =>
    dataSource.query(
      `INSERT INTO resource_tags (account_id, resource_arn, key, value) VALUES ($1, 'arn:p', $2, $3)`,
      [ACCOUNT, key, value],
    );
  await tag('Env', 'a');
  await tag('env', 'b');
  await tag('Team', 'c');
  const runner = dataSource.createQueryRunner();
  try {
    await new IamCanonicalNames1764400000000().up(runner);
  } finally {
    await runner.release();
  }
});
afterAll(() => dataSource.destroy());

describe('migration 1764400000000', () => {
  it('rewrites attachments to the policy’s canonical ARN, one per holder', async () => {
    const rows: { principal_id: string; policy_arn: string }[] = await dataSource.query(
      `SELECT principal_id, policy_arn FROM policy_attachments ORDER BY principal_id, policy_arn`,
    );
    expect(rows).toEqual([
      { principal_id: 'AIDA1', policy_arn: arn('Deploy') },
      { principal_id: 'AIDA2', policy_arn: arn('Deploy') },
      { principal_id: 'AIDA3', policy_arn: arn('Unknown') },
      { principal_id: 'AIDA3', policy_arn: 'arn:sluice:iam::sluice:policy/AdministratorAccess' },
    ]);
  });

  it('keeps one tag per key without regard to case, and then refuses a second', async () => {
    const rows: { key: string; value: string }[] = await dataSource.query(
      `SELECT key, value FROM resource_tags ORDER BY key COLLATE "C"`,
    );
    expect(rows).toEqual([
      { key: 'Env', value: 'a' },
      { key: 'Team', value: 'c' },
    ]);
    await expect(
      dataSource.query(
        `INSERT INTO resource_tags (account_id, resource_arn, key, value) VALUES ($1, 'arn:p', 'TEAM', 'd')`,
        [ACCOUNT],
      ),
    ).rejects.toThrow(/resource_tags_key_ci/);
  });
});
