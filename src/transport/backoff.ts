// Exponential backoff with "full jitter": delay = random() * min(maxMs, baseMs * 2^attempt).
// Spreads reconnect attempts of many cycles/partners so a recovering server is not hammered.

export interface BackoffOptions {
  baseMs?: number; // delay scale of the first retry (attempt 0); default 1000
  maxMs?: number; // cap of the exponential ceiling; default 300000 (5 min)
  random?: () => number; // [0, 1); default Math.random
}

const DEFAULT_BACKOFF_BASE_MS = 1000;
const DEFAULT_BACKOFF_MAX_MS = 300_000;

/**
 * Delay in whole milliseconds before retry number `attempt` (0 = first retry).
 * Always within [0, min(maxMs, baseMs * 2^attempt)); a negative or NaN attempt counts as 0.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const base = positive(opts.baseMs, DEFAULT_BACKOFF_BASE_MS);
  const max = Math.max(positive(opts.maxMs, DEFAULT_BACKOFF_MAX_MS), 0);
  // NaN or negative counts as 0; anything huge (Infinity too) just sits at the cap.
  const n = Number.isNaN(attempt) || attempt <= 0 ? 0 : Math.min(Math.floor(attempt), 1000);
  const ceiling = Math.min(max, base * Math.pow(2, n));
  let r = (opts.random ?? Math.random)();
  if (!Number.isFinite(r) || r < 0) r = 0;
  if (r >= 1) r = 1 - Number.EPSILON;
  return Math.floor(r * ceiling);
}

function positive(v: number | undefined, dflt: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : dflt;
}

/** Sleeps `ms`; rejects early with the signal's reason when `signal` aborts (e.g. on SIGTERM). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('aborted');
}
