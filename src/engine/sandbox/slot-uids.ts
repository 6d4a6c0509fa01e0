import { createHash } from 'node:crypto';
import fs from 'node:fs';

/**
 * Each job slot of a worker runs as its own uid (and gid of the same number), with no entry
 * in /etc/passwd: `base + slot`. Two servers on one machine get different bases because the
 * default is derived from their data folders; SLUICE_SANDBOX_UID_BASE sets it outright.
 * A slot uid must never be one that owns files, so ids that /etc/passwd or /etc/group name
 * (root, postgres, any login) are refused at start-up.
 */

export const uidBaseMin = 1000;
/** Below 2^31 (some tools treat uids as signed) with room for 1000 slots. */
export const uidBaseMax = 2_147_482_647;
const derivedStart = 1_000_000_000;

/** 1 000 000 000 + a multiple of 1000 picked by the data folder's path. */
export function derivedUidBase(dataDir: string): number {
  const hash = createHash('sha256').update(dataDir).digest().readUInt32BE(0);
  return derivedStart + (hash % 1_000_000) * 1000;
}

/** The ids named in /etc/passwd (uids) and /etc/group (gids). */
function namedIds(file: string, field: number): Map<number, string> {
  const ids = new Map<number, string>();
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return ids;
  }
  for (const line of text.split('\n')) {
    const parts = line.split(':');
    const id = Number(parts[field]);
    if (parts.length > field && Number.isInteger(id)) ids.set(id, parts[0]);
  }
  return ids;
}

/** Why these slot ids may not be used, or undefined when they are all free. */
export function slotUidConflict(base: number, slots: number): string | undefined {
  const users = namedIds('/etc/passwd', 2);
  const groups = namedIds('/etc/group', 2);
  for (let id = base; id < base + slots; id++) {
    if (id === 0) return 'uid 0 is root';
    const user = users.get(id);
    if (user !== undefined) return `uid ${id} belongs to the user "${user}" in /etc/passwd`;
    const group = groups.get(id);
    if (group !== undefined) return `gid ${id} belongs to the group "${group}" in /etc/group`;
  }
  return undefined;
}
