import { expect } from 'vitest';

export interface GraphQLErrorShape {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; [key: string]: unknown };
}

export interface GraphQLResult<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: GraphQLErrorShape[];
}

/** Talks to the real HTTP endpoint, as any GraphQL client would. */
export class GraphQLClient {
  constructor(
    readonly url: string,
    readonly token?: string,
  ) {}

  withToken(token: string): GraphQLClient {
    return new GraphQLClient(this.url, token);
  }

  async request<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    headers: Record<string, string> = {},
  ): Promise<GraphQLResult<T>> {
    const response = await fetch(this.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...headers,
      },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as Omit<GraphQLResult<T>, 'status'>;
    return { status: response.status, ...body };
  }

  /** Runs an operation that must succeed and returns its data. */
  async ok<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>): Promise<T> {
    const result = await this.request<T>(query, variables);
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    return result.data as T;
  }

  /** Runs an operation that must fail with `code`, and returns the first error. */
  async fails(
    query: string,
    variables: Record<string, unknown> | undefined,
    code: string,
  ): Promise<GraphQLErrorShape> {
    const result = await this.request(query, variables);
    expect(result.errors?.length, `expected ${code}, got ${JSON.stringify(result)}`).toBeGreaterThan(0);
    const error = result.errors![0];
    expect(error.extensions?.code, error.message).toBe(code);
    expect(JSON.stringify(result.errors)).not.toMatch(/\bat .+\.(ts|js):\d+/); // no stack traces
    return error;
  }
}
