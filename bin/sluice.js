#!/usr/bin/env node
// `npx sluice <command>` in the checkout: loads the TypeScript entry point through tsx's
// require hook, in this same process, so signals (SIGTERM, Ctrl-C) reach the server itself.
// The project's tsconfig (legacy decorators, decorator metadata) applies from any directory.
const path = require('node:path');
// Secrets leave the environment before anything starts a child process that would inherit
// them (tsx starts an esbuild service); src/main.ts takes them from here. The list is
// src/config.ts's `secretVariables` (a unit test keeps the two equal).
const secretVariables = [
  'DATABASE_URL',
  'SLUICE_ADMIN_PASSWORD',
  'SLUICE_WEBHOOK_SECRET',
  'SLUICE_SECRET_ACCESS_KEY',
  'TEST_DATABASE_URL',
];
const held = {};
for (const name of secretVariables) {
  if (process.env[name] !== undefined) held[name] = process.env[name];
  delete process.env[name];
}
globalThis[Symbol.for('sluice.heldSecrets')] = held;
process.env.TSX_TSCONFIG_PATH ??= path.join(__dirname, '..', 'tsconfig.json');
require('tsx/cjs');
require('../src/main.ts');
