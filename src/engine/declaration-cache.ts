import type { EntityManager } from 'typeorm';
import type { PipelineDeclaration } from '../pipelines/declaration/declaration';

/**
 * Pipeline versions by (account, pipeline, version). A version never changes once written, so
 * caching it forever is safe; a deleted pipeline's entries are never asked for again.
 */
export class DeclarationCache {
  private readonly cache = new Map<string, PipelineDeclaration>();

  async get(
    tx: EntityManager,
    accountId: string,
    pipelineName: string,
    version: number,
  ): Promise<PipelineDeclaration> {
    const key = `${accountId}|${pipelineName}|${version}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const rows: { declaration: PipelineDeclaration }[] = await tx.query(
      'SELECT declaration FROM pipeline_versions WHERE account_id = $1 AND pipeline_name = $2 AND version = $3',
      [accountId, pipelineName, version],
    );
    if (!rows.length) throw new Error(`pipeline ${pipelineName} has no version ${version}`);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, rows[0].declaration);
    return rows[0].declaration;
  }
}
