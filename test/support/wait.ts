// Waiting in tests without polling: a child's log lines (and its exit) wake the waiters, and a
// bounded wait clears its timer, so nothing keeps the test process alive after the suite.

/** Waiters on something that changes by events (new log lines, an exit): each notify() re-checks them. */
export class Waiters {
  private readonly wakers = new Set<() => void>();

  notify(): void {
    for (const w of [...this.wakers]) w();
  }

  /** Resolves with the first value of `check` that is not undefined, checked now and at every
   * notify(); rejects with what `check` throws, or with `onTimeout()` after `timeoutMs`. */
  until<T>(check: () => T | undefined, timeoutMs: number, onTimeout: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        settle();
      };
      const wake = (): void => {
        try {
          const v = check();
          if (v !== undefined) done(() => resolve(v));
        } catch (e) {
          done(() => reject(e));
        }
      };
      const timer = setTimeout(() => done(() => reject(onTimeout())), timeoutMs);
      this.wakers.add(wake);
      wake();
    });
  }
}

/** `p`'s value, or null when it has not settled within `ms` (the timer does not outlive it). */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
