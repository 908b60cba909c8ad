// One private OpenSSH sshd for a whole describe block, the way the sshd tests share it: skipped
// (with the reason) where no sshd can run, started before the first test, disposed after the
// last. `ready` runs once the server is up (a flow to run against it); `closing` runs before the
// server goes (the flow's ledger and connections closed while the server is still there).
import { startSshd, sshdUnavailableReason, type TestSshd } from './sshd.js';

export function useSharedSshd(
  dirs: string[],
  hooks: { ready?: (sshd: TestSshd) => unknown; closing?: () => unknown } = {},
): () => TestSshd {
  let sshd: TestSshd | undefined;
  before(async function () {
    const why = sshdUnavailableReason();
    if (why) {
      console.log(`      SKIPPED: no private OpenSSH sshd on this machine: ${why}`);
      this.skip();
    }
    sshd = await startSshd({ dirs });
    await hooks.ready?.(sshd);
  });
  after(async () => {
    try {
      await hooks.closing?.();
    } finally {
      await sshd?.dispose();
      sshd = undefined;
    }
  });
  return () => {
    if (!sshd) throw new Error('the shared sshd is not running (outside its describe block?)');
    return sshd;
  };
}
