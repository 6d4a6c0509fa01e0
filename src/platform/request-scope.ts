import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from './logger';

export interface RequestScope {
  requestId: string;
  logger: Logger;
}

/**
 * The request id and logger of the HTTP request being served, wherever the code is (Apollo's
 * formatError, for one, gets no context object).
 */
export const requestScope = new AsyncLocalStorage<RequestScope>();
