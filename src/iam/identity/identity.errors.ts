import { DomainError } from '../../platform/errors';

/** One message for every credential failure: it must not reveal which part was wrong. */
export class SignInFailedError extends DomainError {
  constructor() {
    super('UNAUTHENTICATED', 'Sign-in failed: the account, user name or password is not valid');
  }
}

export class InvalidAccessKeyError extends DomainError {
  constructor() {
    super('UNAUTHENTICATED', 'The access key id or secret access key is not valid');
  }
}

export class UnauthenticatedError extends DomainError {
  constructor(reason: string) {
    super('UNAUTHENTICATED', reason);
  }
}
