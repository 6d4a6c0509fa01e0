import fs from 'node:fs';
import path from 'node:path';

/**
 * The data folder holds the server's secrets (signing-key.pem, admin-password,
 * webhook-secret, pg.password), the artifact store and caches: 0700, the server's own, and
 * every file directly in it 0600, whatever an older version or an operator left. Job
 * folders live outside it (SLUICE_WORK_DIR), and so does the embedded cluster when the
 * server runs as root (see embedded-postgres.ts), so nothing but the server needs a way in.
 */
export function secureDataFolder(dataDir: string): void {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const stat = fs.lstatSync(dataDir);
  if (!stat.isDirectory()) throw new Error(`SLUICE_DATA_DIR ${dataDir} is not a folder`);
  if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) {
    throw new Error(
      `SLUICE_DATA_DIR ${dataDir} belongs to uid ${stat.uid}, not to this server (uid ${process.getuid()})`,
    );
  }
  fs.chmodSync(dataDir, 0o700);
  for (const entry of fs.readdirSync(dataDir, { withFileTypes: true })) {
    if (entry.isFile()) fs.chmodSync(path.join(dataDir, entry.name), 0o600);
  }
}
