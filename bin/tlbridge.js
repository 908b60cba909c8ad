#!/usr/bin/env node
// The sources are TypeScript run through tsx, so there is no build step that could go stale
// between `npm ci` and `npx tlbridge`.
import { register } from 'tsx/esm/api';
// Loaded before tsx's hooks: libxml2-wasm is plain JavaScript with its WebAssembly inlined
// (~1 MB), which tsx would rewrite for nothing at a cost of ~150 MB of peak RSS.
import 'libxml2-wasm';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
