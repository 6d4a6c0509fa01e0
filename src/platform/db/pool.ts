import type { Pool } from 'pg';
import type { DataSource } from 'typeorm';

/**
 * The pg pool behind a data source (TypeORM's postgres driver keeps it as `master`), for hot
 * statements outside any transaction: TypeORM's query runner costs ~100 µs of CPU per
 * statement on this machine (bench/api.ts), as much as the rest of a read.
 */
export function poolOf(dataSource: DataSource): Pool {
  return (dataSource.driver as unknown as { master: Pool }).master;
}
