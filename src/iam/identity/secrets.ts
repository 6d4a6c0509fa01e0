import { randomBytes, randomInt, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Slow hashes for passwords and secret access keys (DESIGN §5): scrypt at OWASP's current
 * recommendation, N=2^17, r=8, p=1 (SLUICE_SCRYPT_LOG_N lowers N for tests, never below
 * 2^14). A hash is stored as `scrypt$N$r$p$salt$hash`, so it is verified with the parameters
 * it was made with, and one made at a lower cost is re-hashed on the next successful sign-in.
 * scrypt runs on libuv's thread pool (crypto.scrypt), never on the event loop.
 */
export const DEFAULT_SCRYPT_LOG_N = 17;
export const MIN_SCRYPT_LOG_N = 14;
export const MAX_SCRYPT_LOG_N = 20;
const KEY_LENGTH = 32;

export interface ScryptCost {
  N: number;
  r: number;
  p: number;
}

export interface Verification {
  ok: boolean;
  /** The stored hash was made at a lower cost than today's: store a new one. */
  outdated: boolean;
}

function derive(secret: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  // scrypt needs 128·N·r bytes (plus a little): allow twice that, explicitly, since Node's
  // default maxmem (32 MiB) is below what N=2^17 needs.
  const maxmem = 256 * cost.N * cost.r;
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, KEY_LENGTH, { N: cost.N, r: cost.r, p: cost.p, maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** The parameters of a stored hash, or undefined when it is not one we could have made. */
function storedCost(n: string, r: string, p: string): ScryptCost | undefined {
  const cost = { N: Number(n), r: Number(r), p: Number(p) };
  const powerOfTwo = Number.isInteger(cost.N) && cost.N > 1 && (cost.N & (cost.N - 1)) === 0;
  if (!powerOfTwo || cost.N > 2 ** MAX_SCRYPT_LOG_N) return undefined;
  if (!Number.isInteger(cost.r) || cost.r < 1 || cost.r > 32) return undefined;
  if (!Number.isInteger(cost.p) || cost.p < 1 || cost.p > 16) return undefined;
  return cost;
}

export class SecretHasher {
  readonly cost: ScryptCost;
  private decoy: Promise<string> | undefined;

  constructor(logN: number = DEFAULT_SCRYPT_LOG_N) {
    if (!Number.isInteger(logN) || logN < MIN_SCRYPT_LOG_N || logN > MAX_SCRYPT_LOG_N) {
      throw new RangeError(`scrypt log2(N) must be ${MIN_SCRYPT_LOG_N}–${MAX_SCRYPT_LOG_N}, got ${logN}`);
    }
    this.cost = { N: 2 ** logN, r: 8, p: 1 };
  }

  async hash(secret: string): Promise<string> {
    const salt = randomBytes(16);
    const key = await derive(secret, salt, this.cost);
    const { N, r, p } = this.cost;
    return ['scrypt', N, r, p, salt.toString('base64'), key.toString('base64')].join('$');
  }

  async verify(secret: string, stored: string): Promise<Verification> {
    const [scheme, n, r, p, salt, hash] = stored.split('$');
    const cost = scheme === 'scrypt' && salt && hash ? storedCost(n, r, p) : undefined;
    if (!cost) return { ok: false, outdated: false };
    const expected = Buffer.from(hash, 'base64');
    const key = await derive(secret, Buffer.from(salt, 'base64'), cost);
    const ok = key.length === expected.length && timingSafeEqual(key, expected);
    const outdated = cost.N < this.cost.N || cost.r < this.cost.r || cost.p < this.cost.p;
    return { ok, outdated: ok && outdated };
  }

  /** A hash to compare against when the user does not exist, so timing does not reveal it. */
  decoyHash(): Promise<string> {
    this.decoy ??= this.hash(randomBytes(16).toString('hex'));
    return this.decoy;
  }
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** AWS-style unique ids: a 4-letter kind prefix and 16 random base32 characters (AIDA…, AKIA…). */
export function newId(prefix: string, length = 16): string {
  let id = prefix;
  for (let i = 0; i < length; i++) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return id;
}

/** A password meeting the default password policy, for generated root/admin passwords. */
export function generatePassword(): string {
  return `${randomBytes(18).toString('base64url')}-A1a`;
}

export function newSecretAccessKey(): string {
  return randomBytes(30)
    .toString('base64')
    .replace(/[+/]/g, (c) => (c === '+' ? 'x' : 'Y'));
}

/** Default password policy: length 8–128. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < 8) return 'must be at least 8 characters long';
  if (password.length > 128) return 'must be at most 128 characters long';
  return undefined;
}
