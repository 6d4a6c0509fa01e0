import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

/**
 * The server reads and writes inside folders a job's processes can change. A job may leave a
 * symlink where the server expects a file (`state.env -> /data/signing-key.pem`), or a FIFO
 * that blocks a reader: these helpers never follow a link the job could have planted.
 */

/** A regular file's text, never through a symlink and never blocking; undefined if it is not one. */
export async function readJobFile(file: string, maxBytes = 16 * 1024 * 1024): Promise<string | undefined> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile() || stat.size > maxBytes) return undefined;
    const buffer = Buffer.alloc(stat.size);
    const { bytesRead } = await handle.read(buffer, 0, stat.size, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** `lchown -R`: every entry under `dir` (and `dir`) to `uid:gid`, symlinks themselves, not their targets. */
export async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await fsp.lchown(dir, uid, gid);
  const stat = await fsp.lstat(dir);
  if (!stat.isDirectory()) return;
  for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
    const child = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(child, uid, gid);
    else await fsp.lchown(child, uid, gid);
  }
}

/** True when `inner`, after resolving every symlink, is `outer` or lies inside it. */
export async function staysInside(outer: string, inner: string): Promise<boolean> {
  try {
    const [realOuter, realInner] = await Promise.all([fsp.realpath(outer), fsp.realpath(inner)]);
    const relative = path.relative(realOuter, realInner);
    return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
  } catch {
    return false;
  }
}
