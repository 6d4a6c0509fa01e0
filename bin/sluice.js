#!/usr/bin/env node
// `npx sluice <command>` in the checkout: runs the TypeScript entry point through tsx.
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const tsx = require.resolve('tsx/cli');
const entry = path.join(__dirname, '..', 'src', 'main.ts');
const result = spawnSync(process.execPath, [tsx, entry, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(result.status ?? 1);
