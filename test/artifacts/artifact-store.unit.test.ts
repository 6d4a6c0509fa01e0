import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import yazl from 'yazl';
import {
  ArtifactIntegrityError,
  ArtifactStore,
  isContainedLinkTarget,
} from '../../src/artifacts/artifact-store';
import { ActionFailure } from '../../src/engine/providers/provider';

const limit = { maxBytes: 10 * 1024 * 1024 };
let root: string;
let store: ArtifactStore;

beforeEach(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'sluice-store-'));
  store = new ArtifactStore(path.join(root, 'artifacts'));
});

afterEach(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

async function tree(name: string, files: Record<string, string>): Promise<string> {
  const dir = path.join(root, name);
  for (const [relPath, content] of Object.entries(files)) {
    await fsp.mkdir(path.dirname(path.join(dir, relPath)), { recursive: true });
    await fsp.writeFile(path.join(dir, relPath), content);
  }
  await fsp.mkdir(dir, { recursive: true });
  return dir;
}

async function storedZips(): Promise<string[]> {
  const base = path.join(root, 'artifacts', 'sha256');
  if (!fs.existsSync(base)) return [];
  const found: string[] = [];
  for (const fan of await fsp.readdir(base)) {
    for (const file of await fsp.readdir(path.join(base, fan))) found.push(`${fan}${file}`);
  }
  return found;
}

/** A zip made with yazl, with some names then patched byte for byte (yazl refuses bad names). */
async function craftZip(
  build: (zip: yazl.ZipFile) => void,
  patches: Array<[string, string]> = [],
): Promise<string> {
  const zip = new yazl.ZipFile();
  build(zip);
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  let bytes = Buffer.concat(chunks);
  for (const [from, to] of patches) {
    expect(Buffer.byteLength(from)).toBe(Buffer.byteLength(to));
    let at = bytes.indexOf(from);
    expect(at).toBeGreaterThanOrEqual(0);
    while (at >= 0) {
      bytes.write(to, at);
      at = bytes.indexOf(from, at + 1);
    }
  }
  const file = path.join(root, `crafted-${Math.random().toString(36).slice(2)}.zip`);
  await fsp.writeFile(file, bytes);
  bytes = Buffer.alloc(0);
  return file;
}

describe('ArtifactStore.putDirectory', () => {
  it('gives the same hash for the same content in different folders, at different times', async () => {
    const files = { 'a.txt': 'alpha', 'sub/b.txt': 'beta', 'sub/deeper/c.txt': 'gamma' };
    const first = await tree('one', files);
    const second = await tree('two', files);
    await fsp.utimes(path.join(second, 'a.txt'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    await fsp.chmod(path.join(second, 'sub/b.txt'), 0o600); // not executable either way: same entry

    const a = await store.putDirectory(first, limit);
    const b = await store.putDirectory(second, limit);

    expect(a.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(b.sha256).toBe(a.sha256);
    expect(b.sizeBytes).toBe(a.sizeBytes);
    expect(await storedZips()).toHaveLength(1);
    expect(await store.sizeOf(a.sha256)).toBe(a.sizeBytes);
  });

  it('gives a different hash when a byte, a name or the executable bit changes', async () => {
    const base = await store.putDirectory(await tree('base', { 'x.sh': 'echo hi' }), limit);
    const content = await store.putDirectory(await tree('content', { 'x.sh': 'echo ho' }), limit);
    const name = await store.putDirectory(await tree('name', { 'y.sh': 'echo hi' }), limit);
    const execDir = await tree('exec', { 'x.sh': 'echo hi' });
    await fsp.chmod(path.join(execDir, 'x.sh'), 0o755);
    const exec = await store.putDirectory(execDir, limit);

    const hashes = new Set([base.sha256, content.sha256, name.sha256, exec.sha256]);
    expect(hashes.size).toBe(4);
  });

  it('round-trips files, executable bits, empty folders and inside symlinks; skips escaping symlinks', async () => {
    const dir = await tree('src', { 'bin/run': '#!/bin/sh\necho run\n', 'lib/data.txt': 'data' });
    await fsp.chmod(path.join(dir, 'bin/run'), 0o755);
    await fsp.mkdir(path.join(dir, 'empty'));
    await fsp.symlink('../lib/data.txt', path.join(dir, 'bin/data-link'));
    await fsp.symlink(path.join(dir, 'lib'), path.join(dir, 'abs-inside'));
    await fsp.symlink('/etc/passwd', path.join(dir, 'passwd'));
    await fsp.symlink('../../outside', path.join(dir, 'lib/escape'));

    const stored = await store.putDirectory(dir, limit);
    expect(stored.skippedSymlinks.sort()).toEqual(['lib/escape', 'passwd']);

    const out = path.join(root, 'extracted');
    await store.extractTo(stored.sha256, out);
    expect(await fsp.readFile(path.join(out, 'bin/run'), 'utf8')).toBe('#!/bin/sh\necho run\n');
    expect((await fsp.stat(path.join(out, 'bin/run'))).mode & 0o777).toBe(0o755);
    expect((await fsp.stat(path.join(out, 'lib/data.txt'))).mode & 0o777).toBe(0o644);
    expect((await fsp.stat(path.join(out, 'empty'))).isDirectory()).toBe(true);
    expect(await fsp.readlink(path.join(out, 'bin/data-link'))).toBe('../lib/data.txt');
    expect(await fsp.readFile(path.join(out, 'bin/data-link'), 'utf8')).toBe('data');
    expect(await fsp.readlink(path.join(out, 'abs-inside'))).toBe('lib');
    expect(fs.existsSync(path.join(out, 'passwd'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'lib/escape'))).toBe(false);
  });

  it('refuses an artifact over the size limit and leaves nothing behind', async () => {
    const random = Buffer.alloc(64 * 1024);
    for (let i = 0; i < random.length; i += 1) random[i] = Math.floor(Math.random() * 256);
    const dir = await tree('big', {});
    await fsp.writeFile(path.join(dir, 'noise.bin'), random);

    const failure = await store.putDirectory(dir, { maxBytes: 10_000, name: 'BuildOutput' }).catch((e) => e);
    expect(failure).toBeInstanceOf(ActionFailure);
    expect(failure.type).toBe('JOB_FAILED');
    expect(failure.message).toMatch(
      /^Artifact "BuildOutput" is over the limit of 10000 bytes \(artifactSize\)/,
    );
    expect(failure.message).toContain('65536 bytes of files');
    expect(await storedZips()).toEqual([]);
    expect(await fsp.readdir(path.join(root, 'artifacts', 'tmp'))).toEqual([]);
  });
});

describe('ArtifactStore.extractTo', () => {
  it('re-hashes the zip first and refuses a corrupted one', async () => {
    const stored = await store.putDirectory(await tree('src', { 'a.txt': 'some content here' }), limit);
    const file = store.pathOf(stored.sha256);
    const bytes = await fsp.readFile(file);
    bytes[40] ^= 0xff;
    await fsp.writeFile(file, bytes);

    const error = await store.extractTo(stored.sha256, path.join(root, 'out')).catch((e) => e);
    expect(error).toBeInstanceOf(ArtifactIntegrityError);
    expect(error.message).toMatch(/is corrupted in the artifact store: its content hashes to [0-9a-f]{64}/);
    expect(fs.existsSync(path.join(root, 'out'))).toBe(false);
  });

  it('says so when the artifact is missing', async () => {
    const error = await store.extractTo('0'.repeat(64), path.join(root, 'out')).catch((e) => e);
    expect(error).toBeInstanceOf(ArtifactIntegrityError);
    expect(error.message).toMatch(/is not in the artifact store/);
  });

  it.each([
    ['a relative path climbing out (zip-slip)', 'aa/evil.txt', '../evil.txt'],
    ['an absolute path', 'xtmp/evil.txt', '/tmp/evil.txt'],
  ])('refuses an entry with %s', async (_label, placeholder, evil) => {
    const zipFile = await craftZip(
      (zip) => {
        zip.addBuffer(Buffer.from('fine'), 'ok.txt');
        zip.addBuffer(Buffer.from('pwned'), placeholder);
      },
      [[placeholder, evil]],
    );
    const stored = await store.putZipFile(zipFile, limit);
    const out = path.join(root, 'deep', 'out');

    const error = await store.extractTo(stored.sha256, out).catch((e) => e);
    expect(error).toBeInstanceOf(ArtifactIntegrityError);
    expect(error.message).toMatch(/cannot be extracted: .*(invalid|absolute|outside)/);
    expect(fs.existsSync(path.join(root, 'deep', 'evil.txt'))).toBe(false);
  });

  it('refuses a symlink pointing out of the folder', async () => {
    const zipFile = await craftZip((zip) => {
      zip.addBuffer(Buffer.from('../../../etc'), 'etc', { mode: 0o120777 });
    });
    const stored = await store.putZipFile(zipFile, limit);
    const error = await store.extractTo(stored.sha256, path.join(root, 'out')).catch((e) => e);
    expect(error.message).toMatch(/refusing symlink "etc" -> "..\/..\/..\/etc"/);
  });

  it('never writes through a symlink, even one pointing inside', async () => {
    // `a -> .` is harmless alone, but `a/x` followed by a link `a/b -> ../y` would escape.
    const zipFile = await craftZip((zip) => {
      zip.addBuffer(Buffer.from('.'), 'a', { mode: 0o120777 });
      zip.addBuffer(Buffer.from('through'), 'a/x.txt');
    });
    const stored = await store.putZipFile(zipFile, limit);
    const out = path.join(root, 'out');
    const error = await store.extractTo(stored.sha256, out).catch((e) => e);
    expect(error.message).toMatch(/goes through the symlink a/);
    expect(fs.existsSync(path.join(out, 'x.txt'))).toBe(false);
  });
});

describe('ArtifactStore housekeeping', () => {
  it('has, openRead and remove', async () => {
    const stored = await store.putDirectory(await tree('src', { 'a.txt': 'a' }), limit);
    expect(await store.has(stored.sha256)).toBe(true);
    const chunks: Buffer[] = [];
    for await (const chunk of store.openRead(stored.sha256)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).length).toBe(stored.sizeBytes);
    expect(Buffer.concat(chunks).subarray(0, 2).toString()).toBe('PK');
    await store.remove(stored.sha256);
    expect(await store.has(stored.sha256)).toBe(false);
    await store.remove(stored.sha256); // already gone: fine
  });

  it('refuses names that are not SHA-256 digests', () => {
    expect(() => store.pathOf('../../etc/passwd')).toThrow(/Not a SHA-256/);
  });

  it.each([
    ['bin/link', '../lib/x', true],
    ['link', '../x', false],
    ['a/b/link', '../../x', true],
    ['a/link', 'b/../../x', false],
    ['link', '.', true],
    ['link', 'a/..', false],
    ['link', '/etc', false],
  ])('link %s -> %s contained: %s', (link, target, expected) => {
    expect(isContainedLinkTarget(link, target)).toBe(expected);
  });
});
