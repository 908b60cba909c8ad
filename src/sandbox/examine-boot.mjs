// Entry of the sandbox's examine worker (examine-pool.ts). Plain JavaScript because a worker
// thread does not inherit the TypeScript loader of the main thread: like bin/tlbridge.js it loads
// libxml2-wasm before tsx's hooks (src/xml/preload.mjs says why), then registers tsx when the
// worker module is TypeScript, and imports it.
import { workerData } from 'node:worker_threads';
import '../xml/preload.mjs';

const target = workerData.module;
if (target.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(target);
