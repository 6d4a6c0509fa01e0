import { generateKeyPairSync, sign } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestHash, eventHash } from '../../src/audit/audit-hash';
import { keyId } from '../../src/iam/identity/token.service';
import { newAccount, platformAdmin, type TestAccount } from '../support/factories';
import { startTestServer, type TestServer } from '../support/test-server';

/**
 * What someone with superuser access to the database could try against the chain, with the
 * sealer running every second (so an event is due to be sealed after 2 s).
 */
let server: TestServer;
let db: Client;

interface Finding {
  reason: string;
  eventId: string | null;
  digestSeq: number | null;
  message: string;
}
interface Validation {
  valid: boolean;
  checkedEvents: number;
  firstBrokenEventId: string | null;
  findings: Finding[];
}

const VALIDATE = `query($a: String) { validateAuditTrail(accountId: $a) {
  valid checkedEvents firstBrokenEventId findings { reason eventId digestSeq message } } }`;

async function validate(accountId: string): Promise<Validation> {
  const admin = await platformAdmin(server);
  return (await admin.ok<{ validateAuditTrail: Validation }>(VALIDATE, { a: accountId })).validateAuditTrail;
}

/** Polls `read` until `done` holds for its value, or fails after `seconds`. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, seconds = 15): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`not within ${seconds} s: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the sealer has signed the account's whole chain. */
async function sealed(accountId: string): Promise<number> {
  const { head } = await until(
    async () => {
      const { rows } = await db.query(
        `SELECT h.last_seq AS head, (SELECT max(last_event_seq) FROM audit_digests d WHERE d.account_id = h.account_id) AS signed
           FROM audit_chain_heads h WHERE h.account_id = $1`,
        [accountId],
      );
      return rows[0] as { head: string; signed: string | null };
    },
    (r) => r.signed === r.head,
  );
  return Number(head);
}

async function eventAt(accountId: string, seq: number): Promise<{ event_id: string }> {
  const { rows } = await db.query(`SELECT event_id FROM audit_events WHERE account_id = $1 AND seq = $2`, [
    accountId,
    seq,
  ]);
  return rows[0];
}

async function createGroup(account: TestAccount, name: string): Promise<void> {
  await account.root.ok(`mutation($g: String!) { createGroup(groupName: $g) { groupName } }`, { g: name });
}

beforeAll(async () => {
  server = await startTestServer({ SLUICE_AUDIT_DIGEST_SECONDS: '1' });
  db = new Client({ connectionString: server.databaseUrl });
  await db.connect();
});
afterAll(async () => {
  await db.end();
  await server.stop();
});

describe('a chain no one can rewrite unseen', () => {
  it('two events rewritten and their digests deleted by a superuser: not valid, naming the first of them', async () => {
    const account = await newAccount(server, 'rewritten');
    // Sealed stretches: … | g-a (first victim) | g-b (second victim) | g-c.
    await sealed(account.accountId);
    await createGroup(account, 'g-a');
    const first = await sealed(account.accountId);
    await createGroup(account, 'g-b');
    const second = await sealed(account.accountId);
    await createGroup(account, 'g-c');
    await sealed(account.accountId);
    expect(await validate(account.accountId)).toMatchObject({ valid: true, findings: [] });

    // The attacker read the code: rewrite both events, recompute every later hash and the
    // head so the chain is consistent link by link, and delete every digest that signed the
    // old hashes — all behind the triggers, in one transaction.
    const { rows: chain } = await db.query(`SELECT * FROM audit_events WHERE account_id = $1 ORDER BY seq`, [
      account.accountId,
    ]);
    await db.query('BEGIN');
    await db.query('SET LOCAL session_replication_role = replica');
    let prev = chain[first - 1].prev_hash;
    let before = prev;
    for (const row of chain.slice(first - 1)) {
      const seq = Number(row.seq);
      const event =
        seq === first || seq === second ? { ...row.event, sourceIPAddress: '203.0.113.7' } : row.event;
      const hash = eventHash(account.accountId, seq, prev, JSON.stringify(event));
      await db.query(
        `UPDATE audit_events SET event = $3, prev_hash = $4, hash = $5 WHERE account_id = $1 AND seq = $2`,
        [account.accountId, seq, event, prev, hash],
      );
      before = prev;
      prev = hash;
    }
    await db.query(`UPDATE audit_chain_heads SET last_hash = $2, prev_hash = $3 WHERE account_id = $1`, [
      account.accountId,
      prev,
      before,
    ]);
    await db.query(`DELETE FROM audit_digests WHERE account_id = $1 AND last_event_seq >= $2`, [
      account.accountId,
      first,
    ]);
    await db.query('COMMIT');

    const victim = await eventAt(account.accountId, first);
    // Once the rewritten events are past due for a digest, their lack of one is a finding too.
    const result = await until(
      () => validate(account.accountId),
      (r) => r.findings.some((f) => f.reason === 'EVENT_UNSEALED'),
    );
    expect(result).toMatchObject({ valid: false, firstBrokenEventId: victim.event_id });
    expect(result.findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ reason: 'DIGESTS_REMOVED', eventId: victim.event_id }),
        expect.objectContaining({ reason: 'EVENT_UNSEALED', eventId: victim.event_id }),
      ]),
    );
    // The sealer, running all along, did not sign the rewritten chain.
    const { rows } = await db.query(
      `SELECT coalesce(max(last_event_seq), 0) AS signed FROM audit_digests WHERE account_id = $1`,
      [account.accountId],
    );
    expect(Number(rows[0].signed)).toBeLessThan(first);
  });

  it('a digest signed with a key that is only in signing_keys is a finding; the same key trusted, it verifies', async () => {
    const account = await newAccount(server, 'forged-digest');
    await createGroup(account, 'g-1');
    await sealed(account.accountId);
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const kid = keyId(attacker.publicKey);
    const publicPem = attacker.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    await db.query(`INSERT INTO signing_keys (kid, algorithm, public_key_pem) VALUES ($1, 'ES256', $2)`, [
      kid,
      publicPem,
    ]);
    // A digest exactly as the sealer would write it, signed with the attacker's key. The
    // application role may insert digests, so this needs no superuser.
    const { rows: heads } = await db.query(`SELECT * FROM audit_chain_heads WHERE account_id = $1`, [
      account.accountId,
    ]);
    const { rows: digests } = await db.query(
      `SELECT * FROM audit_digests WHERE account_id = $1 ORDER BY digest_seq DESC LIMIT 1`,
      [account.accountId],
    );
    const content = {
      accountId: account.accountId,
      digestSeq: Number(digests[0].digest_seq) + 1,
      lastEventSeq: Number(heads[0].last_seq),
      lastEventHash: heads[0].last_hash,
      previousDigestHash: digests[0].digest_hash,
      createdAt: new Date().toISOString(),
    };
    const hash = digestHash(content);
    await db.query(
      `INSERT INTO audit_digests (account_id, digest_seq, last_event_seq, last_event_hash, previous_digest_hash,
                                  digest_hash, created_at, kid, signature)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        account.accountId,
        content.digestSeq,
        content.lastEventSeq,
        content.lastEventHash,
        content.previousDigestHash,
        hash,
        content.createdAt,
        kid,
        sign('sha256', Buffer.from(hash), attacker.privateKey).toString('base64'),
      ],
    );
    const result = await validate(account.accountId);
    expect(result.valid).toBe(false);
    expect(result.findings).toEqual([
      expect.objectContaining({ reason: 'DIGEST_UNTRUSTED_KEY', digestSeq: content.digestSeq }),
    ]);

    // An operator who does trust that key (another instance's) puts it in the data folder.
    fs.mkdirSync(path.join(server.dataDir, 'trusted-keys'), { recursive: true });
    fs.writeFileSync(path.join(server.dataDir, 'trusted-keys', 'other-instance.pem'), publicPem);
    await until(
      () => validate(account.accountId),
      (r) => r.valid,
    );
  });

  it('events no digest covers are a finding once older than twice the digest interval, not a pass', async () => {
    const account = await newAccount(server, 'unsealed');
    await sealed(account.accountId);
    // As when sealing stops (a broken key file, a sealer that cannot write): no new digests.
    await server.app.services.auditSealer.stop();
    let firstUnsealed: string;
    try {
      await createGroup(account, 'g-late');
      const { rows } = await db.query(`SELECT last_seq FROM audit_chain_heads WHERE account_id = $1`, [
        account.accountId,
      ]);
      firstUnsealed = (await eventAt(account.accountId, Number(rows[0].last_seq))).event_id;
      await createGroup(account, 'g-later');
      const result = await until(
        () => validate(account.accountId),
        (r) => !r.valid,
      );
      expect(result).toMatchObject({
        firstBrokenEventId: firstUnsealed,
        findings: [expect.objectContaining({ reason: 'EVENT_UNSEALED', eventId: firstUnsealed })],
      });
    } finally {
      server.app.services.auditSealer.start();
    }
    // Sealing again, the same events are covered and the trail validates.
    await until(
      () => validate(account.accountId),
      (r) => r.valid,
    );
  });
});
