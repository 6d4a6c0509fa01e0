import Module, { isBuiltin } from 'node:module';

/**
 * `require` of a Node built-in skips the TypeScript loader's resolver (tsx hooks every
 * resolution to look for .ts files and tsconfig paths). Some libraries require a built-in on
 * every call — Apollo Server hashes each query with `module.require("crypto")` — and through
 * tsx that resolution cost ~40 µs per request (bench/api.ts). A built-in's name always means
 * the built-in, so answering it directly changes nothing but the time.
 */
type Resolve = (request: string, ...rest: unknown[]) => string;
const loader = Module as unknown as { _resolveFilename: Resolve & { builtinsFirst?: true } };
const resolve = loader._resolveFilename;
if (!resolve.builtinsFirst) {
  const builtinsFirst: Resolve & { builtinsFirst?: true } = function (this: unknown, request, ...rest) {
    return isBuiltin(request) ? request : resolve.call(this, request, ...rest);
  };
  builtinsFirst.builtinsFirst = true;
  loader._resolveFilename = builtinsFirst;
}
