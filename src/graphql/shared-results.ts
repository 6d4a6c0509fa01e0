import {
  createSourceEventStream,
  execute,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLError,
} from 'graphql';

/**
 * A subscription over graphql-ws, like graphql-js's `subscribe`, except that a payload marked
 * as shared (one object handed to every subscriber of an event, src/events/event-permits.ts)
 * is executed once per operation text and variables, and that one result is sent to all of
 * them. With 2,000 subscribers of a pipeline an event costs one execution, not 2,000. Sound
 * because a shared payload's fields resolve from the payload and the arguments alone; anything
 * per subscriber (a denial, a log chunk) is a payload of its own and executed as usual.
 */
export async function subscribeSharing(
  args: ExecutionArgs,
  /** The operation as sent: its text, operation name and variables. */
  operationKey: string,
  shared: WeakSet<object>,
): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  const source = await createSourceEventStream(args);
  if (!isAsyncIterator(source)) return source as ExecutionResult;
  const run = (payload: unknown): ExecutionResult | Promise<ExecutionResult> =>
    execute({ ...args, rootValue: payload }) as ExecutionResult | Promise<ExecutionResult>;
  const map = (payload: unknown): ExecutionResult | Promise<ExecutionResult> => {
    if (typeof payload !== 'object' || payload === null || !shared.has(payload)) return run(payload);
    let byOperation = results.get(payload);
    if (!byOperation) results.set(payload, (byOperation = new Map()));
    let result = byOperation.get(operationKey);
    if (!result) byOperation.set(operationKey, (result = Promise.resolve(run(payload))));
    return result;
  };
  return mapIterator(source, map);
}

const results = new WeakMap<object, Map<string, Promise<ExecutionResult>>>();

function isAsyncIterator(value: unknown): value is AsyncIterator<unknown> {
  return typeof (value as { [Symbol.asyncIterator]?: unknown })?.[Symbol.asyncIterator] === 'function';
}

/** As graphql-js maps its source stream: `return()` reaches the source at once, even while it waits. */
function mapIterator<T, U>(
  source: AsyncIterator<T>,
  map: (value: T) => U | Promise<U>,
): AsyncIterableIterator<U> {
  const end = async (): Promise<IteratorResult<U>> => {
    await source.return?.();
    return { value: undefined, done: true };
  };
  return {
    async next(): Promise<IteratorResult<U>> {
      const result = await source.next();
      if (result.done) return { value: undefined, done: true };
      try {
        return { value: await map(result.value), done: false };
      } catch (error) {
        await end();
        throw error as GraphQLError;
      }
    },
    return: end,
    async throw(error: unknown): Promise<IteratorResult<U>> {
      await end();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
