import { BadInputError } from './errors';

export interface Edge<T> {
  cursor: string;
  node: T;
}

export interface Connection<T> {
  edges: Edge<T>[];
  nodes: T[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

export function pageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw BadInputError.of('Page', [
      { path: 'first', message: `must be between 1 and ${MAX_PAGE_SIZE}, got ${first}` },
    ]);
  }
  return first;
}

/** Cursors are opaque to clients: base64url of a sort key. */
export function encodeCursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | null | undefined): string | undefined {
  if (!cursor) return undefined;
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!key || encodeCursor(key) !== cursor) {
    throw BadInputError.of('Page', [{ path: 'after', message: 'is not a cursor this list returned' }]);
  }
  return key;
}

/** Builds a connection from a page of items fetched one past the page size. */
export function toConnection<T>(items: T[], size: number, keyOf: (item: T) => string): Connection<T> {
  const page = items.slice(0, size);
  const edges = page.map((node) => ({ cursor: encodeCursor(keyOf(node)), node }));
  return {
    edges,
    nodes: page,
    pageInfo: { hasNextPage: items.length > size, endCursor: edges.at(-1)?.cursor ?? null },
  };
}

/**
 * Pages through a list held in memory, in key order, keeping only items the caller may see.
 * For lists that are small by limit (users, groups, policies); large lists page in the database.
 */
export async function paginateFiltered<T>(
  items: T[],
  keyOf: (item: T) => string,
  visible: (item: T) => Promise<boolean>,
  first: number | null | undefined,
  after: string | null | undefined,
): Promise<Connection<T>> {
  const size = pageSize(first);
  const afterKey = decodeCursor(after);
  const picked: T[] = [];
  // Sorted here, not by the database, so cursor comparison and order agree whatever the collation.
  const sorted = [...items].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
  for (const item of sorted) {
    if (afterKey !== undefined && keyOf(item) <= afterKey) continue;
    if (!(await visible(item))) continue;
    picked.push(item);
    if (picked.length > size) break;
  }
  return toConnection(picked, size, keyOf);
}

/** The same page with every node mapped (rows → API types). */
export function mapConnection<T, U>(page: Connection<T>, map: (node: T) => U): Connection<U> {
  return {
    edges: page.edges.map((e) => ({ cursor: e.cursor, node: map(e.node) })),
    nodes: page.nodes.map(map),
    pageInfo: page.pageInfo,
  };
}
