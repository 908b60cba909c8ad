#!/usr/bin/env node
// Runs the plain JavaScript that `npm ci` built from src/ into dist/ (scripts/build-js.mjs)
// when it was built from exactly the src/ there is now (bin/stamp.js hashes it); otherwise
// the TypeScript itself through tsx, as before: a changed source never runs stale code, and
// nothing is built at run time. TLBRIDGE_TSX=1 forces the tsx path.
import { distIsCurrent } from './stamp.js';

let main;
if (process.env.TLBRIDGE_TSX !== '1' && distIsCurrent()) {
  ({ main } = await import('../dist/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  // Loaded before tsx's hooks: libxml2-wasm is plain JavaScript with its WebAssembly inlined
  // (~1 MB), which tsx would rewrite for nothing at a cost of ~150 MB of peak RSS.
  await import('libxml2-wasm');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
