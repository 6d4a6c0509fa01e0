import { Foundation1764100000000 } from './1764100000000-foundation';

/** Listed explicitly: TypeORM's glob loader cannot load .ts under vitest (STACK.md gotcha 3). */
export const migrations = [Foundation1764100000000];
