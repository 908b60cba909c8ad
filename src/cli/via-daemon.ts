// send-now and poll-acks by an operator who cannot read the partner's key (product.md 4, 6:
// the README's systemd install hands the key to the service alone, as a credential): the
// command asks the running daemon through a request row (src/ledger/requests.ts) and waits
// for its outcome. Every wait is bounded: no running daemon fails at once, a daemon that does
// not take the row in `pickupMs` fails, a daemon that ends while working fails, and after
// `waitMs` the command gives up waiting (the daemon still finishes the work).
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveSecretPath, type Config } from '../config/load.js';
import type { Db } from '../ledger/db.js';
import { loginUser, operatorText, osUser, sudoUser } from '../ledger/operator.js';
import { pidAlive } from '../ledger/partner-lock.js';
import { createRequest, expireUnstarted, finishRequest, getRequest, type RequestKind, type RunRequest } from '../ledger/requests.js';

const SECRET_KEYS = ['privateKeyFile', 'passwordFile', 'passphraseFile'] as const;

/** The partner's secret files this process cannot read, as "partners.P.sftp.KEY (path)". */
export function unreadableSecrets(config: Config, partner: string): string[] {
  const sftp = config.partners[partner]?.sftp;
  if (!sftp) return [];
  const out: string[] = [];
  for (const key of SECRET_KEYS) {
    const name = sftp[key];
    if (!name) continue;
    const file = resolveSecretPath(name, path.dirname(config.file));
    try {
      fs.accessSync(file, fs.constants.R_OK);
    } catch {
      out.push(`partners.${partner}.sftp.${key} (${file})`);
    }
  }
  return out;
}

export interface AskOptions {
  /** how long the daemon may take to pick the request up; default 15 s (it looks every second) */
  pickupMs?: number;
  /** how long to wait for the outcome in all; default 30 min */
  waitMs?: number;
  /** how often the row is looked at; default 250 ms */
  everyMs?: number;
  /** called at every look while the daemon works (progress) */
  onLook?(): void;
}

export type Answer = { ok: true; request: RunRequest } | { ok: false; error: string };

/** The daemon this ledger last saw start, when its process is still alive. */
export function runningDaemon(db: Db): { pid: number; startedAt: string } | null {
  const row = db.prepare('SELECT pid, started_at AS startedAt FROM daemon_starts ORDER BY id DESC LIMIT 1').get() as { pid: number; startedAt: string } | undefined;
  return row && pidAlive(row.pid) ? row : null;
}

/** Asks the running daemon to run `kind` for `partner` and waits for its answer. */
export async function askDaemon(db: Db, kind: RequestKind, partner: string, secrets: string[], opts: AskOptions = {}): Promise<Answer> {
  const cannot = `this process cannot read ${secrets.join(', ')}`;
  const daemon = runningDaemon(db);
  if (!daemon) {
    return { ok: false, error: `${cannot}, and no daemon is running to ask (run the command as the service's user where it can read the key, or start the service)` };
  }
  const id = createRequest(db, kind, partner, operatorText({ osUser: osUser(), loginUser: loginUser(), sudoUser: sudoUser() }));
  const t0 = Date.now();
  const pickupMs = opts.pickupMs ?? 15_000;
  const waitMs = opts.waitMs ?? 30 * 60_000;
  for (;;) {
    const r = getRequest(db, id);
    if (!r) return { ok: false, error: `request ${id} is gone from the ledger` };
    if (r.finishedAt !== null) return { ok: true, request: r };
    const waited = Date.now() - t0;
    if (r.startedAt === null) {
      if (waited > pickupMs && expireUnstarted(db, id, `not picked up within ${pickupMs / 1000} s`)) {
        return {
          ok: false,
          error: `${cannot}; the daemon (pid ${daemon.pid}, started ${daemon.startedAt}) did not take request ${id} within ${pickupMs / 1000} s (is it this version of tlbridge, and running?)`,
        };
      }
    } else {
      opts.onLook?.();
      if (r.handlerPid !== null && !pidAlive(r.handlerPid) && finishRequest(db, id, 'failed', { error: `the daemon (pid ${r.handlerPid}) ended before it finished` })) {
        return { ok: false, error: `the daemon (pid ${r.handlerPid}) ended before it finished request ${id}` };
      }
      if (waited > waitMs) {
        return { ok: false, error: `request ${id} still runs in the daemon (pid ${r.handlerPid}) after ${Math.round(waitMs / 1000)} s; no longer waiting (\`tlbridge status\` shows its outcome later)` };
      }
    }
    await sleep(opts.everyMs ?? 250);
  }
}

/** A finished request's detail: the daemon's result to print, or why it has none. */
export function requestDetail<R>(r: RunRequest): { result: R } | { error: string } {
  const d = r.detail as { result?: R; error?: unknown } | null;
  if (d && typeof d === 'object' && d.result !== undefined) return { result: d.result };
  return { error: d && typeof d.error === 'string' ? d.error : `request ${r.id} ended ${r.outcome ?? 'without an outcome'}` };
}
