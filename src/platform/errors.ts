/**
 * Typed domain errors. Services throw these; one place (src/graphql/error-mapping.ts) turns
 * them into GraphQL errors with `extensions.code`. Anything else is masked as INTERNAL.
 */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'ACCESS_DENIED'
  | 'NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'CONFLICT'
  | 'LIMIT_EXCEEDED'
  | 'THROTTLED'
  | 'INTERNAL';

/** One thing wrong with an input, located by a path such as `stages[1].actions[0].runOrder`. */
export interface Problem {
  path: string;
  message: string;
}

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra, client-safe details placed in `extensions` (e.g. the list of problems). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadInputError extends DomainError {
  constructor(
    message: string,
    readonly problems: Problem[] = [],
  ) {
    super('BAD_USER_INPUT', message, problems.length ? { problems } : {});
  }

  /** Builds one error reporting every problem at once. */
  static of(subject: string, problems: Problem[]): BadInputError {
    const list = problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; ');
    return new BadInputError(`${subject} is invalid: ${list}`, problems);
  }
}

export class LimitExceededError extends DomainError {
  constructor(
    readonly limit: string,
    message: string,
  ) {
    super('LIMIT_EXCEEDED', message, { limit });
  }
}

export class NotFoundError extends DomainError {
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

export class ConflictError extends DomainError {
  constructor(message: string) {
    super('CONFLICT', message);
  }
}
