import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import type { DataSource } from 'typeorm';
import type { PolicyDocument } from '../policy/policy-document';
import { parseSessionPolicy } from '../sts/session-policy';
import type { Principal, PrincipalType, RoleSession } from './principal';

const ALGORITHM = 'ES256';
const ISSUER = 'sluice';
/** Trusted-key files are read again for an unknown key id at most this often. */
const RESCAN_MS = 1_000;
const VERIFIED_TTL_MS = 60_000;
const VERIFIED_MAX = 20_000;

export interface IssuedToken {
  accessToken: string;
  expiresAt: Date;
}

interface Claims {
  sub: string;
  acct: string;
  ptype: PrincipalType;
  uid?: string;
  uname?: string;
  akid?: string;
  /** An assumed-role session: the role, the session and who started it. */
  role?: RoleClaims;
  jti: string;
}

interface RoleClaims {
  id: string;
  name: string;
  arn: string;
  session: string;
  source: string;
  by: string;
  /** The session policy as the JSON text assumeRole was given (parsed again on verify). */
  policy?: string;
  at: string;
}

function roleClaims(role: RoleSession | undefined): RoleClaims | undefined {
  if (!role) return undefined;
  return {
    id: role.roleId,
    name: role.roleName,
    arn: role.roleArn,
    session: role.sessionName,
    source: role.sourceIdentity,
    by: role.issuedBy,
    policy: role.sessionPolicyText,
    at: role.createdAt,
  };
}

/** Session policies parsed from tokens, by their text: a session's policy is parsed once. */
const sessionPolicies = new Map<string, PolicyDocument>();

function sessionOf(claims: RoleClaims | undefined): RoleSession | undefined {
  if (!claims) return undefined;
  let sessionPolicy: PolicyDocument | undefined;
  if (claims.policy !== undefined) {
    sessionPolicy = sessionPolicies.get(claims.policy);
    if (!sessionPolicy) {
      // Signed by us, so it parsed when assumeRole accepted it; a failure here is a bug.
      sessionPolicy = parseSessionPolicy(claims.policy);
      if (sessionPolicies.size >= 10_000) sessionPolicies.clear();
      sessionPolicies.set(claims.policy, sessionPolicy);
    }
  }
  return {
    roleId: claims.id,
    roleName: claims.name,
    roleArn: claims.arn,
    sessionName: claims.session,
    sourceIdentity: claims.source,
    issuedBy: claims.by,
    sessionPolicy,
    sessionPolicyText: claims.policy,
    createdAt: claims.at,
  };
}

export class InvalidTokenError extends Error {}

/** A key's id: derived from the key itself, so a token or digest cannot claim another key's id. */
export function keyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64url').slice(0, 16);
}

/**
 * Signs and verifies session tokens: JWT, ES256 with a `kid`, algorithm pinned on verify,
 * `exp` ≤ 1 h (DESIGN §5). Also signs audit digests and artifact links.
 *
 * Trust comes only from files: this instance's own key (the data folder, or
 * SLUICE_SIGNING_KEY_FILE), the public keys in `<data dir>/trusted-keys/`, and those named by
 * SLUICE_TRUSTED_KEYS (the other instances of a multi-instance install). The public key is also
 * published in `signing_keys` for operators to copy, but that table is never read for trust:
 * whoever can write to the database could otherwise add a key of their own and forge tokens
 * and audit digests.
 */
export class TokenService {
  private trusted = new Map<string, KeyObject>();
  private scannedAt = 0;
  /**
   * Tokens verified lately, by their whole text: a signature verify costs ~1 ms of CPU, paid
   * once per token and minute instead of once per request. Entries end with the token, and
   * after VERIFIED_TTL_MS at most, so a key no longer trusted stops working within it; a
   * deleted principal is refused by the session resolver's existence check as before.
   */
  private readonly verified = new Map<string, { principal: Principal; until: number }>();

  private constructor(
    private readonly privateKeyPem: string,
    private readonly ownKey: KeyObject,
    private readonly kid: string,
    private readonly trustedPaths: string[],
    private readonly ttlSeconds: number,
  ) {}

  static async create(options: {
    dataSource: DataSource;
    keyFile: string | undefined;
    dataDir: string;
    /** Files of PEM public keys, or folders of `*.pem` files (SLUICE_TRUSTED_KEYS). */
    trustedKeys?: string[];
    ttlSeconds: number;
  }): Promise<TokenService> {
    const file = options.keyFile ?? path.join(options.dataDir, 'signing-key.pem');
    if (!fs.existsSync(file)) {
      if (options.keyFile) throw new Error(`SLUICE_SIGNING_KEY_FILE: ${file} does not exist`);
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    }
    const privateKeyPem = fs.readFileSync(file, 'utf8');
    const publicKey = createPublicKey(privateKeyPem);
    const kid = keyId(publicKey);
    const trustedPaths = [path.join(options.dataDir, 'trusted-keys'), ...(options.trustedKeys ?? [])];
    const service = new TokenService(privateKeyPem, publicKey, kid, trustedPaths, options.ttlSeconds);
    // Refuse to start on a configured path that is missing or holds no usable key: an
    // instance that silently trusts fewer keys than intended rejects its peers' tokens.
    service.trusted = readTrustedKeys(trustedPaths, { strict: true }, publicKey);
    service.scannedAt = Date.now();
    await options.dataSource.query(
      `INSERT INTO signing_keys (kid, algorithm, public_key_pem) VALUES ($1, $2, $3) ON CONFLICT (kid) DO NOTHING`,
      [kid, ALGORITHM, publicKey.export({ type: 'spki', format: 'pem' })],
    );
    return service;
  }

  /** This instance's key id. */
  get keyId(): string {
    return this.kid;
  }

  /**
   * A token for `principal`, valid for the configured session length, or for `ttlSeconds`
   * (assumed-role sessions last what assumeRole was asked for, up to the role's maximum).
   */
  issue(principal: Omit<Principal, 'sessionId'>, ttlSeconds = this.ttlSeconds): IssuedToken {
    const claims: Claims = {
      sub: principal.arn,
      acct: principal.accountId,
      ptype: principal.type,
      uid: principal.userId,
      uname: principal.userName,
      akid: principal.accessKeyId,
      role: roleClaims(principal.role),
      jti: randomUUID(),
    };
    const accessToken = jwt.sign(claims, this.privateKeyPem, {
      algorithm: ALGORITHM,
      keyid: this.kid,
      expiresIn: ttlSeconds,
      issuer: ISSUER,
      audience: ISSUER,
    });
    const { exp } = jwt.decode(accessToken) as { exp: number };
    return { accessToken, expiresAt: new Date(exp * 1000) };
  }

  /** Verifies signature, algorithm, issuer, audience and expiry; throws InvalidTokenError. */
  async verify(token: string): Promise<Principal> {
    const now = Date.now();
    const known = this.verified.get(token);
    if (known && known.until > now) return known.principal;
    const principal = await this.verifySignature(token);
    if (this.verified.size >= VERIFIED_MAX) this.verified.clear();
    const expiresAt = (jwt.decode(token) as { exp: number }).exp * 1000;
    this.verified.set(token, { principal, until: Math.min(expiresAt, now + VERIFIED_TTL_MS) });
    return principal;
  }

  private async verifySignature(token: string): Promise<Principal> {
    const decoded = jwt.decode(token, { complete: true });
    const kid = decoded?.header.kid;
    if (!kid) throw new InvalidTokenError('token has no key id');
    const key = this.trustedKey(kid);
    if (!key) throw new InvalidTokenError('token signed by a key this server does not trust');
    let claims: Claims & { exp: number };
    try {
      claims = jwt.verify(token, key, {
        algorithms: [ALGORITHM],
        issuer: ISSUER,
        audience: ISSUER,
      }) as Claims & {
        exp: number;
      };
    } catch (err) {
      throw new InvalidTokenError((err as Error).message);
    }
    return {
      type: claims.ptype,
      arn: claims.sub,
      accountId: claims.acct,
      userId: claims.uid,
      userName: claims.uname,
      accessKeyId: claims.akid,
      role: claims.ptype === 'ASSUMED_ROLE' ? sessionOf(claims.role) : undefined,
      sessionId: claims.jti,
    };
  }

  /** Signs arbitrary data with the server key (audit digests); verifiable by any instance that trusts it. */
  signDetached(data: string): { kid: string; signature: string } {
    return {
      kid: this.kid,
      signature: sign('sha256', Buffer.from(data), this.privateKeyPem).toString('base64'),
    };
  }

  /** Whether `kid` names a key this instance trusts (its own or a configured one). */
  trusts(kid: string): boolean {
    return this.trustedKey(kid) !== undefined;
  }

  async verifyDetached(kid: string, data: string, signature: string): Promise<boolean> {
    const key = this.trustedKey(kid);
    if (!key) return false;
    try {
      return verify('sha256', Buffer.from(data), key, Buffer.from(signature, 'base64'));
    } catch {
      return false;
    }
  }

  private trustedKey(kid: string): KeyObject | undefined {
    const known = this.trusted.get(kid);
    if (known || Date.now() - this.scannedAt < RESCAN_MS) return known;
    // An instance added later: its key may have been dropped into a trusted folder since the
    // last read. Read again, at most once per RESCAN_MS however many unknown ids arrive.
    this.scannedAt = Date.now();
    this.trusted = readTrustedKeys(this.trustedPaths, { strict: false }, this.ownKey);
    return this.trusted.get(kid);
  }
}

const PEM_BLOCK = /-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----/g;

/**
 * The public keys in `paths`: each a PEM file (one or more PUBLIC KEY blocks) or a folder whose
 * `*.pem` files are read. Only ES256 (P-256) public keys are accepted; a private key is refused,
 * so no one is led to copy private keys between machines. `strict` (start-up) throws on a
 * configured path that is missing or holds nothing usable; later re-reads skip what fails.
 * The first path (`<data dir>/trusted-keys`) may be absent.
 */
function readTrustedKeys(
  paths: string[],
  options: { strict: boolean },
  ownKey: KeyObject,
): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>([[keyId(ownKey), ownKey]]);
  const fail = (message: string): void => {
    if (options.strict) throw new Error(`SLUICE_TRUSTED_KEYS: ${message}`);
  };
  paths.forEach((entry, index) => {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(entry);
    } catch {
      if (index > 0) fail(`${entry} does not exist`);
      return;
    }
    const files = stat.isDirectory()
      ? fs
          .readdirSync(entry)
          .filter((name) => name.endsWith('.pem'))
          .sort()
          .map((name) => path.join(entry, name))
      : [entry];
    for (const file of files) {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (err) {
        fail(`${file} cannot be read: ${(err as Error).message}`);
        continue;
      }
      const blocks = [...text.matchAll(PEM_BLOCK)];
      if (!blocks.length) fail(`${file} holds no PEM block`);
      for (const [block, label] of blocks) {
        if (label !== 'PUBLIC KEY') {
          fail(`${file} holds a ${label}; give only PUBLIC KEY blocks (openssl pkey -pubout)`);
          continue;
        }
        let key: KeyObject;
        try {
          key = createPublicKey(block);
        } catch (err) {
          fail(`${file} holds a key that cannot be read: ${(err as Error).message}`);
          continue;
        }
        if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
          fail(`${file} holds a key that is not an ES256 (EC P-256) key`);
          continue;
        }
        keys.set(keyId(key), key);
      }
    }
  });
  return keys;
}
