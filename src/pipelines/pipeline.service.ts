import { type EntityManager } from 'typeorm';
import { arn } from '../iam/arn';
import type { Principal } from '../iam/identity/principal';
import { decodeCursor, pageSize, toConnection, type Connection } from '../platform/pagination';
import { BadInputError, ConflictError, LimitExceededError, NotFoundError } from '../platform/errors';
import { tagProblems, type Tag, type TagService } from '../tags/tag.service';
import type { ExecutionStarter } from '../engine/execution-starter';
import type { AllowedRoots } from './declaration/action-types';
import { roleArnsOf, type PipelineDeclaration } from './declaration/declaration';
import {
  defaultPipelineLimits,
  validateDeclaration,
  type PipelineLimits,
} from './declaration/validate-declaration';
import { PipelineEntity, PipelineVersionEntity } from './pipeline.entity';
import type { Db } from '../platform/db/unit-of-work';

export interface PipelineView {
  name: string;
  arn: string;
  version: number;
  /** The declaration as stored, with `version` set: accepted unchanged by create and update. */
  declaration: PipelineDeclaration;
  created: Date;
  updated: Date;
}

/**
 * Checks that the caller may pass each role a declaration names (`iam:PassRole`), rejecting
 * with ACCESS_DENIED otherwise. Asked after validation and before anything is written.
 */
export type RolePassCheck = (roleArns: string[]) => Promise<void>;

const noRoleCheck: RolePassCheck = () => Promise.resolve();

export interface PipelineServiceLimits extends PipelineLimits {
  pipelinesPerAccount: number;
}

export const defaultPipelineServiceLimits: PipelineServiceLimits = {
  ...defaultPipelineLimits,
  pipelinesPerAccount: 1000,
};

/** Pipeline definitions: create, read (any version), update, delete, list. */
export class PipelineService {
  constructor(
    private readonly db: Db,
    private readonly tags: TagService,
    private readonly starter: ExecutionStarter,
    private readonly region: string,
    private readonly limits: PipelineServiceLimits = defaultPipelineServiceLimits,
    /** The folders an account's providers may use, checked at validation (and again when run). */
    private readonly allowedRoots?: (accountId: string) => AllowedRoots,
  ) {}

  async create(
    principal: Principal,
    input: unknown,
    tags: Tag[],
    mayPassRoles: RolePassCheck = noRoleCheck,
  ): Promise<PipelineView> {
    const accountId = principal.accountId;
    const declaration = this.validate(input, accountId);
    const problems = tagProblems(tags, 'tags');
    if (problems.length) throw BadInputError.of('Tags', problems);
    await mayPassRoles(roleArnsOf(declaration));
    const entity = await this.db.transaction(async (tx) => {
      // Serialises creates per account so the pipelines-per-account limit holds under concurrency.
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext('pipelines:' || $1))`, [accountId]);
      if (await tx.getRepository(PipelineEntity).existsBy({ accountId, name: declaration.name })) {
        throw new ConflictError(`Pipeline ${declaration.name} already exists in account ${accountId}`);
      }
      const count = await tx.getRepository(PipelineEntity).countBy({ accountId });
      if (count >= this.limits.pipelinesPerAccount) {
        throw new LimitExceededError(
          'pipelinesPerAccount',
          `Account ${accountId} already has ${count} pipelines, the most allowed (pipelinesPerAccount)`,
        );
      }
      const stored = { ...declaration, version: 1 };
      const saved = await tx
        .getRepository(PipelineEntity)
        .save({ accountId, name: declaration.name, version: 1, declaration: stored });
      await this.saveVersion(tx, saved, principal);
      if (tags.length) await this.tags.put(tx, accountId, this.arnOf(accountId, saved.name), tags);
      // As CodePipeline: a new pipeline runs once straight away.
      await this.starter.start(tx, {
        accountId,
        pipelineName: saved.name,
        triggerType: 'CREATE_PIPELINE',
        triggerDetail: principal.arn,
      });
      return saved;
    });
    return this.view(entity);
  }

  async get(accountId: string, name: string, version?: number | null): Promise<PipelineView> {
    // The hottest read of the API (every console refresh and poller), hence raw SQL.
    const [current] = await this.db.rows<PipelineEntity>(
      `SELECT account_id AS "accountId", name, version, declaration, created_at AS "createdAt",
              updated_at AS "updatedAt"
         FROM pipelines WHERE account_id = $1 AND name = $2`,
      [accountId, name],
    );
    if (!current) throw this.notFound(accountId, name);
    if (version === undefined || version === null || version === current.version) return this.view(current);
    const old = await this.db.manager
      .getRepository(PipelineVersionEntity)
      .findOneBy({ accountId, pipelineName: name, version });
    if (!old)
      throw new NotFoundError(
        `Pipeline ${name} has no version ${version} (the latest is ${current.version})`,
      );
    return {
      name,
      arn: this.arnOf(accountId, name),
      version: old.version,
      declaration: old.declaration,
      created: current.createdAt,
      updated: old.createdAt,
    };
  }

  /**
   * Writes a new version. The declaration's `version`, when given, must be the current one:
   * an older one means someone else changed the pipeline since it was read (CONFLICT).
   */
  async update(
    principal: Principal,
    input: unknown,
    mayPassRoles: RolePassCheck = noRoleCheck,
  ): Promise<PipelineView> {
    const accountId = principal.accountId;
    const declaration = this.validate(input, accountId);
    // Every role the new version names, kept or new: as CodePipeline, each update passes them again.
    await mayPassRoles(roleArnsOf(declaration));
    const entity = await this.db.transaction(async (tx) => {
      const current = await tx
        .getRepository(PipelineEntity)
        .findOne({ where: { accountId, name: declaration.name }, lock: { mode: 'pessimistic_write' } });
      if (!current) throw this.notFound(accountId, declaration.name);
      if (
        declaration.version !== null &&
        declaration.version !== undefined &&
        declaration.version !== current.version
      ) {
        throw new ConflictError(
          `Pipeline ${declaration.name} is at version ${current.version}, but the update was based on version ` +
            `${declaration.version}; read it again and reapply your change`,
        );
      }
      const version = current.version + 1;
      current.version = version;
      current.declaration = { ...declaration, version };
      const saved = await tx.getRepository(PipelineEntity).save(current);
      await this.saveVersion(tx, saved, principal);
      return saved;
    });
    return this.view(entity);
  }

  /**
   * Deletes the pipeline with its versions, executions (their jobs are fenced off: a worker's
   * next write fails) and tags: nothing stays reachable under its name.
   */
  async delete(accountId: string, name: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.starter.forgetPipeline(tx, accountId, name);
      const result = await tx.getRepository(PipelineEntity).delete({ accountId, name });
      if (!result.affected) throw this.notFound(accountId, name);
      await this.tags.removeAll(tx, accountId, this.arnOf(accountId, name));
    });
  }

  /** Pipelines by name, keeping those `visible` accepts; pages in the database. */
  async list(
    accountId: string,
    visible: (pipelineArn: string) => Promise<boolean>,
    first: number | null | undefined,
    after: string | null | undefined,
  ): Promise<Connection<PipelineView>> {
    const size = pageSize(first);
    let cursor = decodeCursor(after);
    const picked: PipelineView[] = [];
    const batch = Math.min(500, size + 1);
    for (;;) {
      const query = this.db.manager
        .getRepository(PipelineEntity)
        .createQueryBuilder('p')
        .where('p.account_id = :accountId', { accountId })
        .orderBy('p.name COLLATE "C"')
        .limit(batch);
      if (cursor !== undefined) query.andWhere('p.name COLLATE "C" > :cursor', { cursor });
      const rows = await query.getMany();
      for (const row of rows) {
        if (await visible(this.arnOf(accountId, row.name))) picked.push(this.view(row));
        if (picked.length > size) break;
      }
      if (picked.length > size || rows.length < batch) break;
      cursor = rows[rows.length - 1].name;
    }
    return toConnection(picked, size, (p) => p.name);
  }

  arnOf(accountId: string, name: string): string {
    return arn.pipeline(this.region, accountId, name);
  }

  private validate(input: unknown, accountId: string): PipelineDeclaration {
    return validateDeclaration(input, {
      limits: this.limits,
      accountId,
      allowedRoots: this.allowedRoots?.(accountId),
    });
  }

  private async saveVersion(
    tx: EntityManager,
    pipeline: PipelineEntity,
    principal: Principal,
  ): Promise<void> {
    await tx.getRepository(PipelineVersionEntity).insert({
      accountId: pipeline.accountId,
      pipelineName: pipeline.name,
      version: pipeline.version,
      declaration: pipeline.declaration,
      createdBy: principal.arn,
    });
  }

  private view(entity: PipelineEntity): PipelineView {
    return {
      name: entity.name,
      arn: this.arnOf(entity.accountId, entity.name),
      version: entity.version,
      declaration: { ...entity.declaration, version: entity.version },
      created: entity.createdAt,
      updated: entity.updatedAt,
    };
  }

  private notFound(accountId: string, name: string): NotFoundError {
    return new NotFoundError(`Pipeline ${name} does not exist in account ${accountId}`);
  }
}
