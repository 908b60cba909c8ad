// Deterministic kill -9 points for the crash tests (test/archive.test.ts,
// test/crash-archive.test.ts): with TLBRIDGE_CRASH_AT=<point> or <point>:<detail> the process
// SIGKILLs itself on reaching that point, so a test can stop it at an exact instant instead of
// racing a timer. Unset (always, outside those tests) it is one comparison.
const at = process.env.TLBRIDGE_CRASH_AT;

export function crashPoint(point: string, detail: string): void {
  if (at && (at === point || at === `${point}:${detail}`)) process.kill(process.pid, 'SIGKILL');
}
