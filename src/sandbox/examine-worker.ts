// The examine worker: examineFile (examine.ts) for each job the pool posts, one at a time, so
// that parsing and validating a large upload never holds up the sandbox's event loop (other
// sessions keep being served). Started by examine-boot.mjs.
import { parentPort, workerData } from 'node:worker_threads';
import { examineFile, type ExamineJob } from './examine.js';

interface Request {
  id: number;
  job: ExamineJob;
}

// tests only: before each job the worker waits until gate[0] is not 0 (Atomics), so a test can
// hold a judgement in progress and watch other sessions meanwhile
const gate = (workerData as { gate?: Int32Array }).gate;

parentPort!.on('message', (req: Request) => {
  if (gate) Atomics.wait(gate, 0, 0);
  try {
    parentPort!.postMessage({ id: req.id, exam: examineFile(req.job) });
  } catch (e) {
    parentPort!.postMessage({ id: req.id, error: (e as Error).message });
  }
});
