// Entry of the validation worker (validate-pool.ts). Plain JavaScript because a worker thread
// does not inherit the TypeScript loader of the main thread: libxml2-wasm is loaded before tsx's
// hooks (preload.mjs says why), then tsx is registered when the worker module is TypeScript.
import { workerData } from 'node:worker_threads';
import './preload.mjs';

const target = workerData.module;
if (target.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(target);
