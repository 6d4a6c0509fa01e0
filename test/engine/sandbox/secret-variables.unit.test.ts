import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { secretVariables } from '../../../src/config';

it('bin/sluice.js takes exactly the secret variables of src/config.ts out of the environment', () => {
  const bin = fs.readFileSync(path.resolve(__dirname, '../../../bin/sluice.js'), 'utf8');
  const list = /const secretVariables = \[([^\]]*)\]/.exec(bin)?.[1] ?? '';
  const names = [...list.matchAll(/'([A-Z_]+)'/g)].map((match) => match[1]);
  expect(names).toEqual([...secretVariables]);
});
