import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import yauzl from 'yauzl';
import yazl from 'yazl';
import { ActionFailure } from '../engine/providers/provider';

/**
 * Artifacts as deterministic zips in a local folder, named by the SHA-256 of their bytes:
 * identical content is stored once and shared by every execution that produces it.
 *
 * Layout: `<root>/sha256/<ab>/<rest>.zip` (two-character fan-out keeps folders small) and
 * `<root>/tmp/` for zips being written; a rename within one file system makes a stored
 * artifact appear whole or not at all.
 *
 * Determinism: entries sorted by path, one fixed timestamp, modes reduced to 0644/0755
 * (the executable bit is all that is kept), no owners, directory entries only for empty
 * directories (others are implied by their files). Same files → same bytes → same hash.
 *
 * Symlinks: stored as symlink entries when their target stays inside the directory, written
 * as a relative path made of leading `..` segments followed by plain names (an absolute
 * target inside the directory is rewritten that way). Any other symlink is left out and
 * reported in `skippedSymlinks`: following it could copy files of the server (its data
 * folder, /etc) into an artifact anyone with read access can download, and refusing would
 * fail builds over a harmless dangling link. Sockets, FIFOs and devices are left out too.
 */

export interface PutDirectoryOptions {
  /** Largest zip accepted, in bytes (DESIGN §10 `artifactSize`). */
  maxBytes: number;
  /** Names the artifact in the failure message. */
  name?: string;
}

export interface StoredArtifact {
  sha256: string;
  sizeBytes: number;
  /** Paths (relative, `/`-separated) of symlinks and special files that were not stored. */
  skippedSymlinks: string[];
}

/** A stored zip whose bytes no longer match its name, or that is missing or unreadable. */
export class ArtifactIntegrityError extends ActionFailure {
  constructor(message: string) {
    super('JOB_FAILED', message);
    this.name = 'ArtifactIntegrityError';
  }
}

// DOS timestamps are local time: building the date from local components gives the same
// bytes in every time zone. The Info-ZIP UTC field (yazl ≥ 3.3) would not, so it is off.
const fixedMtime = new Date(1980, 0, 1, 0, 0, 0);
const fileMode = 0o100644;
const executableMode = 0o100755;
const symlinkMode = 0o120777;
const directoryMode = 0o040755;
const fileTypeMask = 0o170000;
const symlinkType = 0o120000;
const directoryType = 0o040000;
const maxLinkTargetBytes = 4096;

const sha256Pattern = /^[0-9a-f]{64}$/;
const openFd = promisify(fs.open);
const closeFd = promisify(fs.close);

type SourceEntry =
  | { kind: 'file'; relPath: string; absPath: string; executable: boolean }
  | { kind: 'symlink'; relPath: string; target: string }
  | { kind: 'emptyDir'; relPath: string };

class SizeLimitExceeded extends Error {}

export class ArtifactStore {
  constructor(readonly root: string) {}

  /** Zips `dir` deterministically and stores it; returns the existing copy if already stored. */
  async putDirectory(dir: string, options: PutDirectoryOptions): Promise<StoredArtifact> {
    const { entries, skipped, fileBytes } = await collectEntries(dir);
    const tmp = await this.tempPath();
    const zip = new yazl.ZipFile();
    for (const entry of entries) {
      const common = { mtime: fixedMtime, forceDosTimestamp: true };
      if (entry.kind === 'file') {
        zip.addFile(entry.absPath, entry.relPath, {
          ...common,
          mode: entry.executable ? executableMode : fileMode,
          compress: true,
        });
      } else if (entry.kind === 'symlink') {
        zip.addBuffer(Buffer.from(entry.target, 'utf8'), entry.relPath, {
          ...common,
          mode: symlinkMode,
          compress: false,
        });
      } else {
        zip.addEmptyDirectory(entry.relPath, { ...common, mode: directoryMode });
      }
    }
    zip.end();

    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        if (size > options.maxBytes) return callback(new SizeLimitExceeded());
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    // yazl reports failures to read an input file on the ZipFile, not on its stream.
    const zipFailed = new Promise<never>((_resolve, reject) => {
      zip.once('error', (error: Error) => {
        meter.destroy(error);
        reject(error);
      });
    });
    // Observed here too: it may fail after the race has settled (e.g. once the limit is hit).
    zipFailed.catch(() => undefined);
    try {
      await Promise.race([
        pipeline(zip.outputStream, meter, fs.createWriteStream(tmp, { flags: 'wx', mode: 0o644 })),
        zipFailed,
      ]);
      await syncFile(tmp);
    } catch (error) {
      await fsp.rm(tmp, { force: true });
      if (error instanceof SizeLimitExceeded) {
        const label = options.name ? `Artifact "${options.name}"` : 'Artifact';
        throw new ActionFailure(
          'JOB_FAILED',
          `${label} is over the limit of ${options.maxBytes} bytes (artifactSize): ` +
            `its zip passed ${options.maxBytes} bytes, from ${fileBytes} bytes of files`,
        );
      }
      throw error;
    }

    const sha256 = hash.digest('hex');
    const target = this.pathOf(sha256);
    await fsp.mkdir(path.dirname(target), { recursive: true });
    if (await exists(target)) {
      await fsp.rm(tmp, { force: true });
    } else {
      await fsp.rename(tmp, target);
    }
    return { sha256, sizeBytes: size, skippedSymlinks: skipped };
  }

  /**
   * Stores a zip file as it is (uploaded archives), named by the hash of its bytes. Nothing
   * is checked inside: `extractTo` applies every check on the way out.
   */
  async putZipFile(
    file: string,
    options: PutDirectoryOptions,
  ): Promise<Omit<StoredArtifact, 'skippedSymlinks'>> {
    const stat = await fsp.stat(file);
    if (stat.size > options.maxBytes) {
      const label = options.name ? `Artifact "${options.name}"` : 'Artifact';
      throw new ActionFailure(
        'JOB_FAILED',
        `${label} is ${stat.size} bytes, over the limit of ${options.maxBytes} bytes (artifactSize)`,
      );
    }
    const tmp = await this.tempPath();
    try {
      await fsp.copyFile(file, tmp, fs.constants.COPYFILE_EXCL);
      const sha256 = await hashFile(tmp);
      await syncFile(tmp);
      const target = this.pathOf(sha256);
      await fsp.mkdir(path.dirname(target), { recursive: true });
      if (await exists(target)) await fsp.rm(tmp, { force: true });
      else await fsp.rename(tmp, target);
      return { sha256, sizeBytes: stat.size };
    } finally {
      await fsp.rm(tmp, { force: true });
    }
  }

  /**
   * Unpacks a stored artifact into `dir` (created if missing; existing entries are never
   * overwritten). The bytes are hashed again first, through the same descriptor that is then
   * unzipped, so a corrupted or swapped file is refused rather than used.
   */
  async extractTo(sha256: string, dir: string): Promise<void> {
    const file = this.pathOf(sha256);
    let fd: number;
    try {
      fd = await openFd(file, 'r');
    } catch (error) {
      if (isErrno(error, 'ENOENT')) {
        throw new ArtifactIntegrityError(`Artifact sha256:${sha256} is not in the artifact store`);
      }
      throw error;
    }
    let zipfile: yauzl.ZipFile;
    try {
      const actual = await hashStream(fs.createReadStream('', { fd, autoClose: false, start: 0 }));
      if (actual !== sha256) {
        throw new ArtifactIntegrityError(
          `Artifact sha256:${sha256} is corrupted in the artifact store: its content hashes to ${actual}`,
        );
      }
      zipfile = await yauzl.fromFdPromise(fd, { strictFileNames: true });
    } catch (error) {
      await closeFd(fd);
      throw error;
    }
    // From here yauzl owns the descriptor and closes it once the zip and its streams are closed.
    try {
      await fsp.mkdir(dir, { recursive: true });
      const root = await fsp.realpath(dir);
      await extractEntries(zipfile, root);
    } catch (error) {
      if (error instanceof ActionFailure) throw error;
      throw new ArtifactIntegrityError(
        `Artifact sha256:${sha256} cannot be extracted: ${error instanceof Error ? error.message : String(error)}`,
      );
    } finally {
      zipfile.close();
    }
  }

  async has(sha256: string): Promise<boolean> {
    return exists(this.pathOf(sha256));
  }

  async sizeOf(sha256: string): Promise<number> {
    return (await fsp.stat(this.pathOf(sha256))).size;
  }

  /** The zip's bytes, for downloads. Throws (on the stream) if the artifact is missing. */
  openRead(sha256: string): fs.ReadStream {
    return fs.createReadStream(this.pathOf(sha256));
  }

  /** Deletes a stored artifact; the caller (garbage collection) knows no execution needs it. */
  async remove(sha256: string): Promise<void> {
    await fsp.rm(this.pathOf(sha256), { force: true });
  }

  /** Where an artifact lives; the hash is checked so no caller can name a path outside. */
  pathOf(sha256: string): string {
    if (!sha256Pattern.test(sha256)) throw new Error(`Not a SHA-256 hex digest: ${sha256}`);
    return path.join(this.root, 'sha256', sha256.slice(0, 2), `${sha256.slice(2)}.zip`);
  }

  private async tempPath(): Promise<string> {
    const tmpDir = path.join(this.root, 'tmp');
    await fsp.mkdir(tmpDir, { recursive: true });
    return path.join(tmpDir, `${randomUUID()}.zip.partial`);
  }
}

/**
 * A symlink target is kept only if it is relative, made of leading `..` segments then plain
 * names, and climbs no higher than the link's own folder depth. A `..` after a name could
 * climb out of a directory reached through another symlink (`a -> .`, `b -> a/..`), which a
 * lexical check would miss; with this shape the climb starts from real directories only.
 */
export function isContainedLinkTarget(linkRelPath: string, target: string): boolean {
  if (target === '' || target.includes('\0') || path.posix.isAbsolute(target)) return false;
  const depth = linkRelPath.split('/').length - 1;
  let climbs = 0;
  let descended = false;
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (descended) return false;
      climbs += 1;
    } else {
      descended = true;
    }
  }
  return climbs <= depth;
}

async function collectEntries(
  root: string,
): Promise<{ entries: SourceEntry[]; skipped: string[]; fileBytes: number }> {
  const entries: SourceEntry[] = [];
  const skipped: string[] = [];
  let fileBytes = 0;
  const rootReal = await fsp.realpath(root);

  async function walk(absDir: string, relDir: string): Promise<void> {
    const children = await fsp.readdir(absDir, { withFileTypes: true });
    if (children.length === 0 && relDir !== '') entries.push({ kind: 'emptyDir', relPath: relDir });
    for (const child of children) {
      const relPath = relDir === '' ? child.name : `${relDir}/${child.name}`;
      const absPath = path.join(absDir, child.name);
      if (child.isDirectory()) {
        await walk(absPath, relPath);
      } else if (child.isFile()) {
        const stat = await fsp.stat(absPath);
        fileBytes += stat.size;
        entries.push({ kind: 'file', relPath, absPath, executable: (stat.mode & 0o111) !== 0 });
      } else if (child.isSymbolicLink()) {
        const target = relativeLinkTarget(rootReal, relPath, await fsp.readlink(absPath));
        if (target === undefined) skipped.push(relPath);
        else entries.push({ kind: 'symlink', relPath, target });
      } else {
        skipped.push(relPath);
      }
    }
  }

  await walk(rootReal, '');
  entries.sort((a, b) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0));
  return { entries, skipped, fileBytes };
}

/** The target to store for a link, or undefined when it points outside the directory. */
function relativeLinkTarget(rootReal: string, linkRelPath: string, target: string): string | undefined {
  if (path.isAbsolute(target)) {
    const inside = path.relative(rootReal, path.normalize(target));
    if (inside.startsWith('..') || path.isAbsolute(inside)) return undefined;
    const linkDir = path.posix.dirname(linkRelPath);
    const relative = path.posix.relative(linkDir === '.' ? '' : linkDir, inside.split(path.sep).join('/'));
    target = relative === '' ? '.' : relative;
  }
  return isContainedLinkTarget(linkRelPath, target) ? target : undefined;
}

async function extractEntries(zipfile: yauzl.ZipFile, root: string): Promise<void> {
  // Directories known to be real (not symlinks) under root: nothing is ever written through
  // a symlink, whether it came from this zip or was already there.
  const realDirs = new Set<string>(['']);

  async function ensureRealDir(relDir: string): Promise<void> {
    if (realDirs.has(relDir)) return;
    const parent = path.posix.dirname(relDir);
    await ensureRealDir(parent === '.' ? '' : parent);
    const abs = path.join(root, relDir);
    try {
      const stat = await fsp.lstat(abs);
      if (stat.isSymbolicLink()) throw new Error(`entry path goes through the symlink ${relDir}`);
      if (!stat.isDirectory()) throw new Error(`${relDir} is not a directory`);
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) throw error;
      await fsp.mkdir(abs, { mode: 0o755 });
    }
    realDirs.add(relDir);
  }

  for await (const entry of zipfile.eachEntry()) {
    const name = entry.fileName;
    const isDir = name.endsWith('/');
    const relPath = isDir ? name.slice(0, -1) : name;
    // yauzl already refuses these; checked again so safety does not hang on a library default.
    const parts = relPath.split('/');
    if (
      relPath === '' ||
      path.posix.isAbsolute(relPath) ||
      /^[A-Za-z]:/.test(relPath) ||
      relPath.includes('\\') ||
      relPath.includes('\0') ||
      parts.some((part) => part === '..' || part === '.' || part === '')
    ) {
      throw new Error(`refusing entry "${name}": absolute path or path outside the target directory`);
    }
    const parent = path.posix.dirname(relPath);
    const abs = path.join(root, relPath);
    const mode = (entry.externalFileAttributes >>> 16) & 0xffff;
    const type = mode & fileTypeMask;

    if (isDir || type === directoryType) {
      await ensureRealDir(relPath);
      continue;
    }
    await ensureRealDir(parent === '.' ? '' : parent);
    const stream = await zipfile.openReadStreamPromise(entry);
    if (type === symlinkType) {
      const target = (await readAll(stream, maxLinkTargetBytes)).toString('utf8');
      if (!isContainedLinkTarget(relPath, target)) {
        throw new Error(
          `refusing symlink "${relPath}" -> "${target}": it points outside the target directory`,
        );
      }
      await fsp.symlink(target, abs);
    } else {
      const executable = (mode & 0o111) !== 0;
      // `wx` refuses to follow an existing symlink or overwrite a file of the same name.
      await pipeline(stream, fs.createWriteStream(abs, { flags: 'wx', mode: 0o600 }));
      await fsp.chmod(abs, executable ? 0o755 : 0o644);
    }
  }
}

async function readAll(stream: NodeJS.ReadableStream, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    size += buffer.length;
    if (size > maxBytes) throw new Error(`symlink target over ${maxBytes} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

async function hashStream(stream: NodeJS.ReadableStream): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function hashFile(file: string): Promise<string> {
  return hashStream(fs.createReadStream(file));
}

/** Flushed before the rename, so a crash cannot leave a named artifact with missing bytes. */
async function syncFile(file: string): Promise<void> {
  const handle = await fsp.open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fsp.access(file);
    return true;
  } catch {
    return false;
  }
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
