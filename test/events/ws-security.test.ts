import fs from 'node:fs';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config';
import { originAllowed } from '../../src/graphql/websocket-origin';
import { platformAdmin } from '../support/factories';
import type { GraphQLClient } from '../support/graphql-client';
import { startTestServer, type TestServer } from '../support/test-server';
import { TestSocket } from '../support/ws-subscription';

const CONSOLE = 'https://console.example.com';
const WHO = '{ callerIdentity { arn } }';

let server: TestServer;
let defaults: TestServer;
let admin: GraphQLClient;
beforeAll(async () => {
  [server, defaults] = await Promise.all([
    startTestServer({ SLUICE_WS_PING_SECONDS: '1', SLUICE_ALLOWED_ORIGINS: CONSOLE }),
    startTestServer(),
  ]);
  admin = await platformAdmin(server);
});
afterAll(() => Promise.all([server?.stop(), defaults?.stop()]));

/** `token` re-signed with the server's own key so that it expires `seconds` from now. */
function expiringIn(token: string, seconds: number): string {
  const decoded = jwt.decode(token, { complete: true });
  if (!decoded || typeof decoded.payload !== 'object') throw new Error('not a JWT');
  const key = fs.readFileSync(path.join(server.dataDir, 'signing-key.pem'), 'utf8');
  const now = Math.floor(Date.now() / 1000);
  return jwt.sign({ ...decoded.payload, iat: now, exp: now + seconds }, key, {
    algorithm: 'ES256',
    keyid: decoded.header.kid,
  });
}

/** Runs one query on an acknowledged socket and returns its `next` payload. */
async function query(socket: TestSocket): Promise<unknown> {
  const sub = socket.subscribe(WHO);
  expect(await sub.ended).toEqual({ type: 'complete' });
  return sub.nexts[0];
}

describe('connection_init', () => {
  it('without a token: closed with 4401 and nothing delivered, even to a subscribe sent before the ack', async () => {
    const socket = await TestSocket.open(server.url);
    if (!(socket instanceof TestSocket)) throw new Error('upgrade refused');
    void socket.init({});
    const sub = socket.subscribe(WHO);
    expect(await socket.closed).toMatchObject({ code: 4401, reason: expect.stringMatching(/^Unauthorized/) });
    expect(await sub.ended).toMatchObject({ type: 'closed', code: 4401 });
    expect(socket.messages).toEqual([]);
  });

  it('with a token that does not verify: closed with 4401', async () => {
    const forged = expiringIn(admin.token!, 600).replace(/\.[^.]+$/, '.AAAA');
    for (const params of [
      { authorization: 'Bearer not-a-jwt' },
      { authorization: `Bearer ${forged}` },
      { authorization: admin.token! }, // not "Bearer <token>"
      { token: 'not-a-jwt' },
    ]) {
      const socket = await TestSocket.open(server.url);
      if (!(socket instanceof TestSocket)) throw new Error('upgrade refused');
      expect(await socket.init(params), JSON.stringify(params)).toMatchObject({ code: 4401 });
      expect(socket.messages).toEqual([]);
    }
  });

  it('with a token already expired: closed with 4401', async () => {
    const { ack, socket } = await TestSocket.connect(server.url, expiringIn(admin.token!, -5));
    expect(ack).toMatchObject({ code: 4401, reason: 'Unauthorized' });
    expect(socket.messages).toEqual([]);
  });

  it('accepts the token as authorization: "Bearer <jwt>" or as token: "<jwt>", and serves operations as its principal', async () => {
    for (const params of [{ authorization: `Bearer ${admin.token}` }, { token: admin.token }]) {
      const socket = await TestSocket.open(server.url);
      if (!(socket instanceof TestSocket)) throw new Error('upgrade refused');
      try {
        expect(await socket.init(params)).toBe('ack');
        expect(await query(socket)).toEqual({
          data: { callerIdentity: { arn: 'arn:sluice:iam::000000000000:user/admin' } },
        });
      } finally {
        socket.close();
      }
    }
  });
});

describe('token expiry', () => {
  it('closes the socket with 4403 when the connection’s token expires', async () => {
    const { ack, socket } = await TestSocket.connect(server.url, expiringIn(admin.token!, 2));
    expect(ack).toBe('ack');
    expect(await query(socket)).toMatchObject({ data: { callerIdentity: expect.any(Object) } });
    expect(await socket.closed).toEqual({ code: 4403, reason: 'Forbidden: token expired' });
  });
});

describe('Origin', () => {
  const upgradeFrom = async (target: TestServer, origin?: string) => {
    const headers: Record<string, string> = origin ? { origin } : {};
    const opened = await TestSocket.open(target.url, { headers });
    if (!(opened instanceof TestSocket)) return opened.status;
    opened.close();
    return 'upgraded';
  };
  const sameOrigin = (target: TestServer) => new URL(target.url).origin;

  it('SLUICE_ALLOWED_ORIGINS: a listed origin, the same origin and no Origin are upgraded; any other gets 403', async () => {
    expect(await upgradeFrom(server, CONSOLE)).toBe('upgraded');
    expect(await upgradeFrom(server, sameOrigin(server))).toBe('upgraded');
    expect(await upgradeFrom(server)).toBe('upgraded');
    expect(await upgradeFrom(server, 'https://evil.example.com')).toBe(403);
    expect(await upgradeFrom(server, 'https://console.example.com.evil.example')).toBe(403);
    expect(await upgradeFrom(server, 'null')).toBe(403);
    // Upgraded from the listed origin, the socket works as any other.
    const { ack, socket } = await TestSocket.connect(server.url, admin.token, {
      headers: { origin: CONSOLE },
    });
    try {
      expect(ack).toBe('ack');
      expect(await query(socket)).toMatchObject({ data: { callerIdentity: expect.any(Object) } });
    } finally {
      socket.close();
    }
  });

  it('by default only the same origin and clients without an Origin are upgraded', async () => {
    expect(await upgradeFrom(defaults)).toBe('upgraded');
    expect(await upgradeFrom(defaults, sameOrigin(defaults))).toBe('upgraded');
    expect(await upgradeFrom(defaults, CONSOLE)).toBe(403);
    expect(await upgradeFrom(defaults, `http://127.0.0.1:${Number(new URL(defaults.url).port) + 1}`)).toBe(
      403,
    );
  });

  it('originAllowed: no Origin, same host (ports as the URL parser spells them), *, or listed', () => {
    expect(originAllowed(undefined, 'sluice.example.com', [])).toBe(true);
    expect(originAllowed('https://sluice.example.com', 'sluice.example.com', [])).toBe(true);
    expect(originAllowed('https://sluice.example.com', 'Sluice.Example.com:443', [])).toBe(true);
    expect(originAllowed('https://sluice.example.com:8443', 'sluice.example.com', [])).toBe(false);
    expect(originAllowed('https://other.example.com', 'sluice.example.com', [])).toBe(false);
    expect(originAllowed('https://other.example.com', 'sluice.example.com', '*')).toBe(true);
    expect(
      originAllowed('https://other.example.com', 'sluice.example.com', ['https://other.example.com']),
    ).toBe(true);
    expect(
      originAllowed('http://other.example.com', 'sluice.example.com', ['https://other.example.com']),
    ).toBe(false);
    expect(originAllowed('not a url', 'sluice.example.com', [])).toBe(false);
  });

  it('SLUICE_ALLOWED_ORIGINS parses origins, normalized; refuses paths and other schemes, naming the variable', () => {
    expect(loadConfig({}).allowedOrigins).toEqual([]);
    expect(loadConfig({ SLUICE_ALLOWED_ORIGINS: '*' }).allowedOrigins).toBe('*');
    expect(
      loadConfig({ SLUICE_ALLOWED_ORIGINS: 'https://Console.Example.com:443, http://localhost:5173/' })
        .allowedOrigins,
    ).toEqual(['https://console.example.com', 'http://localhost:5173']);
    for (const value of [
      'https://a.example.com/app',
      'ftp://a.example.com',
      'a.example.com',
      'https://*.example.com',
    ]) {
      expect(() => loadConfig({ SLUICE_ALLOWED_ORIGINS: value }), value).toThrow(ConfigError);
      expect(() => loadConfig({ SLUICE_ALLOWED_ORIGINS: value }), value).toThrow(/SLUICE_ALLOWED_ORIGINS/);
    }
    expect(loadConfig({}).wsPingSeconds).toBe(30);
    expect(() => loadConfig({ SLUICE_WS_PING_SECONDS: '0' })).toThrow(/SLUICE_WS_PING_SECONDS/);
  });
});

describe('keep-alive', () => {
  it('terminates a socket that stops answering pings (SLUICE_WS_PING_SECONDS=1); one that answers stays', async () => {
    const live = await TestSocket.connect(server.url, admin.token);
    const dead = await TestSocket.connect(server.url, admin.token, { autoPong: false });
    try {
      expect([live.ack, dead.ack]).toEqual(['ack', 'ack']);
      let pinged = false;
      dead.socket.socket.on('ping', () => (pinged = true));
      // Terminated, not closed: no close frame arrives, so the client sees 1006.
      expect((await dead.socket.closed).code).toBe(1006);
      expect(pinged).toBe(true);
      // The live socket, older than the dead one, went through the same rounds and still serves.
      expect(await query(live.socket)).toMatchObject({ data: { callerIdentity: expect.any(Object) } });
    } finally {
      live.socket.close();
      dead.socket.close();
    }
  });
});
