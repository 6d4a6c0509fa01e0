#!/usr/bin/env node
// `npx sluice <command>` in the checkout: loads the TypeScript entry point through tsx's
// require hook, in this same process, so signals (SIGTERM, Ctrl-C) reach the server itself.
require('tsx/cjs');
require('../src/main.ts');
