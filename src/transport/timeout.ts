// A deadline by inactivity for one operation on a connection that may hang for ever (a frozen
// server answers nothing, and ssh2-sftp-client has no timeout of its own for an operation).

/**
 * Runs `start` under a timer of `ms`. `touch` restarts the timer (transfers call it on every
 * chunk, so they are bounded by inactivity, not by size). On timeout the promise rejects with
 * what `onTimeout` returns (it is where the caller tears the connection down); a result or
 * error that comes later is swallowed. Errors of `start` are passed through `mapError`.
 */
export function withInactivityTimeout<T>(
  ms: number,
  start: (touch: () => void) => Promise<T>,
  onTimeout: () => Error,
  mapError: (e: unknown) => unknown,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const fire = (): void => {
      if (done) return;
      done = true;
      reject(onTimeout());
    };
    const arm = (): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(fire, ms);
    };
    const finish = (): boolean => {
      if (done) return false;
      done = true;
      if (timer) clearTimeout(timer);
      return true;
    };
    arm();
    let p: Promise<T>;
    try {
      p = start(() => {
        if (!done) arm();
      });
    } catch (e) {
      if (finish()) reject(mapError(e));
      return;
    }
    p.then(
      (v) => {
        if (finish()) resolve(v);
      },
      (e: unknown) => {
        if (finish()) reject(mapError(e));
      },
    );
  });
}
