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
import type { Principal, PrincipalType } from './principal';

const ALGORITHM = 'ES256';
const ISSUER = 'sluice';

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
  jti: string;
}

export class InvalidTokenError extends Error {}

/**
 * Signs and verifies session tokens: JWT, ES256 with a `kid`, algorithm pinned on verify,
 * `exp` ≤ 1 h (DESIGN §5). The private key stays in the data folder (or a configured file);
 * public keys are published in `signing_keys` so every instance verifies every instance's tokens.
 */
export class TokenService {
  private readonly publicKeys = new Map<string, KeyObject>();

  private constructor(
    private readonly dataSource: DataSource,
    private readonly privateKeyPem: string,
    private readonly kid: string,
    private readonly ttlSeconds: number,
  ) {}

  static async create(options: {
    dataSource: DataSource;
    keyFile: string | undefined;
    dataDir: string;
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
    const der = publicKey.export({ type: 'spki', format: 'der' });
    const kid = createHash('sha256').update(der).digest('base64url').slice(0, 16);
    await options.dataSource.query(
      `INSERT INTO signing_keys (kid, algorithm, public_key_pem) VALUES ($1, $2, $3) ON CONFLICT (kid) DO NOTHING`,
      [kid, ALGORITHM, publicKey.export({ type: 'spki', format: 'pem' })],
    );
    const service = new TokenService(options.dataSource, privateKeyPem, kid, options.ttlSeconds);
    service.publicKeys.set(kid, publicKey);
    return service;
  }

  issue(principal: Omit<Principal, 'sessionId'>): IssuedToken {
    const claims: Claims = {
      sub: principal.arn,
      acct: principal.accountId,
      ptype: principal.type,
      uid: principal.userId,
      uname: principal.userName,
      akid: principal.accessKeyId,
      jti: randomUUID(),
    };
    const accessToken = jwt.sign(claims, this.privateKeyPem, {
      algorithm: ALGORITHM,
      keyid: this.kid,
      expiresIn: this.ttlSeconds,
      issuer: ISSUER,
      audience: ISSUER,
    });
    const { exp } = jwt.decode(accessToken) as { exp: number };
    return { accessToken, expiresAt: new Date(exp * 1000) };
  }

  /** Verifies signature, algorithm, issuer, audience and expiry; throws InvalidTokenError. */
  async verify(token: string): Promise<Principal> {
    const decoded = jwt.decode(token, { complete: true });
    const kid = decoded?.header.kid;
    if (!kid) throw new InvalidTokenError('token has no key id');
    const key = await this.publicKey(kid);
    if (!key) throw new InvalidTokenError('token signed by an unknown key');
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
      sessionId: claims.jti,
    };
  }

  /** Signs arbitrary data with the server key (audit digests); verifiable by any instance. */
  signDetached(data: string): { kid: string; signature: string } {
    return {
      kid: this.kid,
      signature: sign('sha256', Buffer.from(data), this.privateKeyPem).toString('base64'),
    };
  }

  async verifyDetached(kid: string, data: string, signature: string): Promise<boolean> {
    const key = await this.publicKey(kid);
    if (!key) return false;
    try {
      return verify('sha256', Buffer.from(data), key, Buffer.from(signature, 'base64'));
    } catch {
      return false;
    }
  }

  private async publicKey(kid: string): Promise<KeyObject | undefined> {
    const known = this.publicKeys.get(kid);
    if (known) return known;
    const rows: { public_key_pem: string }[] = await this.dataSource.query(
      'SELECT public_key_pem FROM signing_keys WHERE kid = $1 AND algorithm = $2',
      [kid, ALGORITHM],
    );
    if (!rows.length) return undefined;
    const key = createPublicKey(rows[0].public_key_pem);
    this.publicKeys.set(kid, key);
    return key;
  }
}
