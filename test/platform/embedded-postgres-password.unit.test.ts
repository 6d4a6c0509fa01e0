import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { writeInitdbPasswordFile } from '../../src/platform/embedded-postgres';

it("writes initdb's password file 0600 in a 0700 folder, both the postgres user's", () => {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
  const ids = { uid: id('-u'), gid: id('-g') };
  const { dir, file } = writeInitdbPasswordFile('s3cret-pw', ids);
  try {
    const folder = fs.statSync(dir);
    const stat = fs.statSync(file);
    expect(folder.mode & 0o777).toBe(0o700);
    expect(stat.mode & 0o777).toBe(0o600);
    expect({ uid: folder.uid, gid: folder.gid }).toEqual(ids);
    expect({ uid: stat.uid, gid: stat.gid }).toEqual(ids);
    expect(fs.readFileSync(file, 'utf8')).toBe('s3cret-pw\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
