// A cap on the main thread's young generation (V8's new space) for a conversion, which
// allocates fast and keeps little: V8 lets the new space grow to 32 MB of semi-spaces, all of it
// resident, and sizes its maximum only from the command line (--max-semi-space-size), which a
// user's `node bin/tlbridge.js` or NODE_OPTIONS cannot be relied on to give. What V8 reads at
// every scavenge is the semi-spaces' growth factor (--semi-space-growth-factor): set to 1 once
// the new space has reached the cap, it grows no further. The flag is process-wide, and every
// new isolate (a worker thread) sets it back to 2 while it starts (measured): validate-pool.ts
// holds it again once its worker is online.
import v8 from 'node:v8';

let capBytes = 0;
let held = false;

function newSpaceBytes(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

/** Lets the new space grow up to `mib` MiB (or stay as it is, if already larger); call checkYoungGeneration() now and then. */
export function capYoungGeneration(mib: number): void {
  capBytes = mib * 1024 * 1024;
  checkYoungGeneration();
}

/** Stops the new space's growth once it has reached the cap. Cheap enough every few hundred messages. */
export function checkYoungGeneration(): void {
  if (!capBytes || held) return;
  if (newSpaceBytes() < capBytes) return;
  held = true;
  holdYoungGeneration();
}

/** Applies the hold again (after a worker thread started), if there is one. */
export function holdYoungGeneration(): void {
  if (held) v8.setFlagsFromString('--semi-space-growth-factor=1');
}
