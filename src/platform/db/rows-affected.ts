/**
 * TypeORM's `query()` answers UPDATE and DELETE with `[rows, rowCount]` (and anything else with
 * the rows): the number of rows an UPDATE or DELETE changed.
 */
export function rowsAffected(result: unknown): number {
  return Array.isArray(result) && result.length === 2 && typeof result[1] === 'number' ? result[1] : 0;
}

/** The rows an UPDATE or DELETE … RETURNING gave back through TypeORM's `query()`. */
export function returnedRows<T>(result: unknown): T[] {
  return Array.isArray(result) &&
    result.length === 2 &&
    Array.isArray(result[0]) &&
    typeof result[1] === 'number'
    ? (result[0] as T[])
    : [];
}
