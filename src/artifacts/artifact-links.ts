import type { DataSource } from 'typeorm';
import type { TokenService } from '../iam/identity/token.service';
import type { ArtifactStore } from './artifact-store';

/** How long a download link works. */
export const LINK_SECONDS = 15 * 60;

export interface ArtifactFile {
  sha256: string;
  sizeBytes: number;
  name: string;
}

/**
 * Signed, expiring download links for artifacts (DESIGN §4): the link itself is the
 * permission, granted to whoever could call `artifacts` for the execution, so a browser or
 * curl can fetch the zip without a bearer token. Signed with the server key (ES256), so any
 * instance honours any instance's links.
 */
export class ArtifactLinks {
  constructor(
    private readonly dataSource: DataSource,
    private readonly tokens: TokenService,
    private readonly store: ArtifactStore,
  ) {}

  path(accountId: string, executionId: string, name: string, now = Date.now()): string {
    const resource = `/artifacts/${accountId}/${executionId}/${encodeURIComponent(name)}`;
    const expires = Math.floor(now / 1000) + LINK_SECONDS;
    const { kid, signature } = this.tokens.signDetached(`${resource}\n${expires}`);
    const query = new URLSearchParams({ expires: String(expires), kid, signature });
    return `${resource}?${query.toString()}`;
  }

  /** The artifact a link names, or undefined when the link is not valid (forged, expired, gone). */
  async resolve(
    accountId: string,
    executionId: string,
    name: string,
    query: { expires?: string; kid?: string; signature?: string },
  ): Promise<ArtifactFile | undefined> {
    const expires = Number(query.expires);
    if (!query.kid || !query.signature || !Number.isInteger(expires) || expires * 1000 < Date.now())
      return undefined;
    const resource = `/artifacts/${accountId}/${executionId}/${encodeURIComponent(name)}`;
    if (!(await this.tokens.verifyDetached(query.kid, `${resource}\n${expires}`, query.signature)))
      return undefined;
    const rows: { sha256: string; size_bytes: string }[] = await this.dataSource.query(
      `SELECT sha256, size_bytes FROM execution_artifacts
        WHERE account_id = $1 AND pipeline_execution_id::text = $2 AND name = $3`,
      [accountId, executionId, name],
    );
    if (!rows.length || !(await this.store.has(rows[0].sha256))) return undefined;
    return { sha256: rows[0].sha256, sizeBytes: Number(rows[0].size_bytes), name };
  }
}
