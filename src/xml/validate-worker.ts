// The validation worker: XSD-validates the documents of each job the pool posts, in order, with
// its own libxml2-wasm instance and compiled schemas (loadSchema caches them per thread).
// Started by validate-boot.mjs. Each job is its own task, so libxml2-wasm's WeakRefs to the
// documents parsed for the previous job are released between jobs (binding.ts).
import { parentPort } from 'node:worker_threads';
import { loadSchema, type XmlIssue } from './schema.js';

interface Request {
  id: number;
  schema: string;
  /** the documents' UTF-8, one after the other */
  bytes: ArrayBuffer;
  lengths: number[];
}

parentPort!.on('message', (req: Request) => {
  try {
    const schema = loadSchema(req.schema);
    const issues: XmlIssue[][] = [];
    let at = 0;
    for (const n of req.lengths) {
      issues.push(schema.validate(new Uint8Array(req.bytes, at, n)));
      at += n;
    }
    parentPort!.postMessage({ id: req.id, issues });
  } catch (e) {
    parentPort!.postMessage({ id: req.id, error: (e as Error).message });
  }
});
