#!/usr/bin/env node
// `npx sluice <command>` in the checkout: loads the TypeScript entry point through tsx's
// require hook, in this same process, so signals (SIGTERM, Ctrl-C) reach the server itself.
// The project's tsconfig (legacy decorators, decorator metadata) applies from any directory.
const path = require('node:path');
process.env.TSX_TSCONFIG_PATH ??= path.join(__dirname, '..', 'tsconfig.json');
require('tsx/cjs');
require('../src/main.ts');
