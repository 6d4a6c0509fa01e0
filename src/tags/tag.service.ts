import { type EntityManager } from 'typeorm';
import { BadInputError, LimitExceededError, NotFoundError, type Problem } from '../platform/errors';
import { parseArn } from '../iam/arn';
import { ResourceTagEntity } from './resource-tag.entity';
import type { Db } from '../platform/db/unit-of-work';

export interface Tag {
  key: string;
  value: string;
}

export const TAGS_PER_RESOURCE = 50;

/**
 * Tag rules as AWS's: key 1–128, value 0–256, no `aws:` prefix, keys unique in a request
 * without regard to case.
 */
export function tagProblems(tags: Tag[], path: string): Problem[] {
  const problems: Problem[] = [];
  const seen = new Set<string>();
  tags.forEach((tag, i) => {
    const at = `${path}[${i}]`;
    if (tag.key.length < 1 || tag.key.length > 128)
      problems.push({ path: `${at}.key`, message: 'must be 1–128 characters long' });
    if (tag.key.toLowerCase().startsWith('aws:'))
      problems.push({ path: `${at}.key`, message: 'the aws: prefix is reserved' });
    if (!/^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u.test(tag.key)) {
      problems.push({ path: `${at}.key`, message: 'may hold letters, digits, spaces and _.:/=+-@ only' });
    }
    if (tag.value.length > 256)
      problems.push({ path: `${at}.value`, message: 'must be at most 256 characters long' });
    // Keys are unique without regard to case (as in IAM), though stored as spelled.
    const folded = tag.key.toLowerCase();
    if (seen.has(folded)) problems.push({ path: `${at}.key`, message: `duplicates the key "${tag.key}"` });
    seen.add(folded);
  });
  return problems;
}

/**
 * Tags on resources of one account, keyed by ARN. Only resources that exist can be tagged;
 * a pipeline's tags go when it goes.
 */
export class TagService {
  constructor(
    private readonly db: Db,
    private readonly region: string,
  ) {}

  async list(accountId: string, resourceArn: string): Promise<Tag[]> {
    await this.requireResource(this.db.manager, accountId, resourceArn);
    return this.read(accountId, resourceArn);
  }

  /** For the condition key aws:ResourceTag/<key>. */
  async tagMap(accountId: string, resourceArn: string): Promise<Record<string, string>> {
    return Object.fromEntries((await this.read(accountId, resourceArn)).map((t) => [t.key, t.value]));
  }

  async tag(accountId: string, resourceArn: string, tags: Tag[]): Promise<void> {
    const problems = tagProblems(tags, 'tags');
    if (problems.length) throw BadInputError.of('Tags', problems);
    await this.db.transaction(async (tx) => {
      await this.requireResource(tx, accountId, resourceArn);
      await this.put(tx, accountId, resourceArn, tags);
    });
  }

  async untag(accountId: string, resourceArn: string, keys: string[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.requireResource(tx, accountId, resourceArn);
      if (keys.length) await this.deleteKeys(tx, accountId, resourceArn, keys);
    });
  }

  /**
   * Adds or replaces tags inside the caller's transaction, holding the per-resource limit. As
   * IAM's TagUser does, a key differing from an existing one only in case replaces it, value
   * and spelling both.
   */
  async put(tx: EntityManager, accountId: string, resourceArn: string, tags: Tag[]): Promise<void> {
    if (!tags.length) return;
    // Tag writes to one resource take turns: two callers setting the same key at once would
    // otherwise both find nothing to replace and one fail on the primary key, and two adding
    // different keys could together pass the per-resource limit.
    await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
      `resource-tags:${accountId}:${resourceArn}`,
    ]);
    await this.deleteKeys(
      tx,
      accountId,
      resourceArn,
      tags.map((t) => t.key),
    );
    // Raw statements: tagResource is the API's cheapest write, and TypeORM's insert and count
    // builders cost more CPU than the statements themselves (bench/api.ts).
    const [{ count }] = (await tx.query(
      `WITH added AS (
         INSERT INTO resource_tags (account_id, resource_arn, key, value)
         SELECT $1, $2, k, v FROM unnest($3::text[], $4::text[]) AS t(k, v) RETURNING 1)
       SELECT (SELECT count(*) FROM resource_tags WHERE account_id = $1 AND resource_arn = $2)
              + (SELECT count(*) FROM added) AS count`,
      [accountId, resourceArn, tags.map((t) => t.key), tags.map((t) => t.value)],
    )) as { count: string }[];
    if (Number(count) > TAGS_PER_RESOURCE) {
      throw new LimitExceededError(
        'tagsPerResource',
        `A resource may have at most ${TAGS_PER_RESOURCE} tags; this would give it ${count}`,
      );
    }
  }

  /** Removes the tags of a resource and of everything under it (`<arn>/…`). */
  async removeAll(tx: EntityManager, accountId: string, resourceArn: string): Promise<void> {
    await tx
      .getRepository(ResourceTagEntity)
      .createQueryBuilder()
      .delete()
      .where('account_id = :accountId AND (resource_arn = :arn OR starts_with(resource_arn, :prefix))', {
        accountId,
        arn: resourceArn,
        prefix: `${resourceArn}/`,
      })
      .execute();
  }

  /** Removes the tags whose keys match `keys` without regard to case. */
  private async deleteKeys(
    tx: EntityManager,
    accountId: string,
    resourceArn: string,
    keys: string[],
  ): Promise<void> {
    await tx.query(
      'DELETE FROM resource_tags WHERE account_id = $1 AND resource_arn = $2 AND lower(key) = ANY($3)',
      [accountId, resourceArn, keys.map((k) => k.toLowerCase())],
    );
  }

  private async read(accountId: string, resourceArn: string): Promise<Tag[]> {
    const rows = await this.db.manager
      .getRepository(ResourceTagEntity)
      .find({ where: { accountId, resourceArn }, order: { key: 'ASC' } });
    return rows.map((r) => ({ key: r.key, value: r.value }));
  }

  /**
   * Tags of an IAM user or role (iam:TagUser, iam:TagRole): `principalArn` is its canonical ARN.
   * Kept apart from tagResource, whose codepipeline: permissions must never reach IAM
   * entities (their tags are `aws:PrincipalTag`, which trust policies may rely on).
   */
  async tagPrincipal(accountId: string, principalArn: string, tags: Tag[]): Promise<void> {
    const problems = tagProblems(tags, 'tags');
    if (problems.length) throw BadInputError.of('Tags', problems);
    await this.db.transaction(async (tx) => {
      await this.requirePrincipal(tx, accountId, principalArn);
      await this.put(tx, accountId, principalArn, tags);
    });
  }

  async untagPrincipal(accountId: string, principalArn: string, keys: string[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.requirePrincipal(tx, accountId, principalArn);
      if (keys.length) await this.deleteKeys(tx, accountId, principalArn, keys);
    });
  }

  async principalTags(accountId: string, principalArn: string): Promise<Tag[]> {
    await this.requirePrincipal(this.db.manager, accountId, principalArn);
    return this.read(accountId, principalArn);
  }

  private async requirePrincipal(tx: EntityManager, accountId: string, principalArn: string): Promise<void> {
    const parsed = parseArn(principalArn);
    const entity = /^(user|role)\/([\w+=,.@-]{1,64})$/.exec(parsed?.resource ?? '');
    const exists =
      parsed?.service === 'iam' &&
      parsed.account === accountId &&
      parsed.region === '' &&
      entity !== null &&
      (
        await tx.query(
          `SELECT 1 FROM ${entity[1] === 'user' ? 'users' : 'roles'} WHERE account_id = $1 AND name = $2`,
          [accountId, entity[2]],
        )
      ).length > 0;
    if (!exists) throw new NotFoundError(`${principalArn} does not exist in account ${accountId}`);
  }

  /** Taggable through tagResource: pipelines. */
  private async requireResource(tx: EntityManager, accountId: string, resourceArn: string): Promise<void> {
    const parsed = parseArn(resourceArn);
    const isPipeline =
      parsed?.service === 'codepipeline' &&
      parsed.region === this.region &&
      parsed.account === accountId &&
      parsed.resource &&
      !parsed.resource.includes('/');
    const exists =
      isPipeline &&
      (
        await tx.query('SELECT 1 FROM pipelines WHERE account_id = $1 AND name = $2', [
          accountId,
          parsed.resource,
        ])
      ).length > 0;
    if (!exists) throw new NotFoundError(`Resource ${resourceArn} does not exist or cannot be tagged`);
  }
}
