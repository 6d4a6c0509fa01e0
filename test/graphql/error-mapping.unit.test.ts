import { GraphQLError } from 'graphql';
import { describe, expect, it, vi } from 'vitest';
import { formatError } from '../../src/graphql/error-mapping';
import { BadInputError, ConflictError } from '../../src/platform/errors';
import type { Logger } from '../../src/platform/logger';
import { requestScope } from '../../src/platform/request-scope';

const located = (error: unknown): GraphQLError =>
  new GraphQLError('wrapped', { path: ['field'], originalError: error instanceof Error ? error : undefined });

describe('formatError', () => {
  it('keeps a domain error’s code, message and details', () => {
    const error = BadInputError.of('Thing', [{ path: 'a.b', message: 'is wrong' }]);
    expect(formatError({ message: 'x' }, located(error))).toEqual({
      message: 'Thing is invalid: a.b: is wrong',
      path: undefined,
      locations: undefined,
      extensions: { code: 'BAD_USER_INPUT', problems: [{ path: 'a.b', message: 'is wrong' }] },
    });
    expect(formatError({ message: 'x' }, located(new ConflictError('taken'))).extensions).toEqual({
      code: 'CONFLICT',
    });
  });

  it('keeps GraphQL’s own request errors', () => {
    const validation = new GraphQLError('Cannot query field "nope"', {
      extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
    });
    expect(
      formatError(
        { message: validation.message, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } },
        validation,
      ),
    ).toMatchObject({
      extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
    });
  });

  it('masks anything else as INTERNAL with the request id, and logs the real error', () => {
    const logged = vi.fn();
    const logger = { error: logged } as unknown as Logger;
    const secret = new Error('connection to 10.0.0.5 refused; password=hunter2');
    const formatted = requestScope.run({ requestId: 'req-1234abcd', logger }, () =>
      formatError(
        { message: secret.message, extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: ['at x'] } },
        located(secret),
      ),
    );
    expect(formatted).toEqual({
      message: 'Internal error; quote request id req-1234abcd when reporting it',
      path: undefined,
      locations: undefined,
      extensions: { code: 'INTERNAL', requestId: 'req-1234abcd' },
    });
    expect(logged).toHaveBeenCalledWith(
      expect.objectContaining({ err: secret, requestId: 'req-1234abcd' }),
      'unexpected error',
    );
  });
});
