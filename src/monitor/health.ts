// The health check of `status --check` and `/healthz` (product.md 9): what needs an
// operator's attention now, one problem per instance. The facts are gathered from the ledger,
// error/ and the file system (gatherHealthFacts); which of them are problems is decided by a
// pure function (decideHealth), so every rule is unit-tested without a server.
import fs from 'node:fs';
import type { Config } from '../config/load.js';
import type { Db } from '../ledger/db.js';
import { ACK_NEEDS_ATTENTION, dismissedSubjects } from '../ledger/dismissals.js';
import { listPauses, type Pause } from '../ledger/pauses.js';
import { lastDaemonStart, lastFinishedRun, lastOkAt, type RunKind } from '../ledger/runs.js';
import { VISIBLE } from '../ledger/ledger.js';
import { collectStatus, errorFileNames, type BlockedReversal } from './status.js';
import { fireTimesAfter } from './fire-times.js';
import { unsafeInputs, type UnsafeEntry } from '../intake/drop-scan.js';

export interface Problem {
  kind: string;
  partner: string | null;
  subject: string | null;
  message: string;
}

export interface Health {
  healthy: boolean;
  problems: Problem[];
}

/** A partner's scheduled work has not completed for this many fire times: a problem. */
export const MISSED_FIRE_TIMES = 3;
/** Free space under dataDir below this share: a problem. */
export const MIN_FREE_SHARE = 0.05;

export interface AttentionAck {
  id: number;
  partner: string;
  name: string;
  effect: string | null;
  problem: string | null;
  messageState: string | null;
}

export interface RunFacts {
  kind: RunKind;
  partner: string;
  /** the latest finished run that was not skipped */
  last: { outcome: string; startedAt: string; error: string | null } | null;
  lastOkAt: string | null;
  /** the later of lastOkAt, the daemon's last start and the partner's last resume; null: never measured */
  since: string | null;
  /** the MISSED_FIRE_TIMES-th fire time of the schedule after `since` */
  deadline: string | null;
}

export interface HealthFacts {
  /** error/ files not dismissed, by name */
  errorFiles: string[];
  acks: AttentionAck[];
  rejected: Array<{ id: number; fcn: string; partner: string }>;
  overdue: Array<{ partner: string; count: number }>;
  reversals: BlockedReversal[];
  paused: Pause[];
  runs: RunFacts[];
  disk: { path: string; freeBytes: number; totalBytes: number } | null;
  /** drop-folder entries intake never opens (product.md 9) */
  unsafeInputs: UnsafeEntry[];
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const RUN_LABEL: Record<RunKind, string> = { batch: 'batch cycle', acks: 'ack poll' };

/** Which facts are problems at `now`. Pure. */
export function decideHealth(f: HealthFacts, now: Date): Health {
  const problems: Problem[] = [];
  const add = (kind: string, partner: string | null, subject: string | null, message: string) => problems.push({ kind, partner, subject, message });

  for (const name of f.errorFiles) add('error-file', null, name, `error file ${name} in error/ (see ${name}.error.txt)`);
  for (const a of f.acks) {
    const why =
      a.effect === 'alert'
        ? `an ack for a ${a.messageState ?? 'HELD/CANCELLED'} message`
        : a.effect === 'unmatched'
          ? 'an ack that matches no message'
          : `an invalid ack${a.problem ? `: ${a.problem}` : ''}`;
    add(a.effect === 'alert' ? 'ack-alert' : a.effect === 'unmatched' ? 'unmatched-ack' : 'invalid-ack', a.partner, String(a.id), `ack ${a.id} (${a.partner} ${a.name}): ${why}`);
  }
  for (const m of f.rejected) add('rejected', m.partner, String(m.id), `message ${m.id} (${m.fcn}) was REJECTED by ${m.partner}`);
  for (const o of f.overdue)
    if (o.count > 0) add('overdue', o.partner, null, `${o.partner}: ${plural(o.count, 'message')} SENT with no ack past the deadline`);
  for (const r of f.reversals)
    add('reversal-blocked', r.partner, String(r.id), `reversal ${r.fcn} (message ${r.id}, ${r.partner}) is never uploaded: its original ${r.originalRef} was ${r.originalState}`);
  const paused = new Set(f.paused.map((p) => p.partner));
  for (const p of f.paused) add('paused', p.partner, p.partner, `${p.partner} is paused since ${p.pausedAt} by ${p.pausedBy}: ${p.reason}`);
  for (const r of f.runs) {
    const label = RUN_LABEL[r.kind];
    if (r.last?.outcome === 'failed') add(`${r.kind}-failed`, r.partner, r.partner, `${r.partner}: the last ${label} (${r.last.startedAt}) failed: ${r.last.error ?? 'unknown error'}`);
    // a paused partner is reported as paused, not as missing its cycles
    if (!paused.has(r.partner) && r.since && r.deadline && now.getTime() >= Date.parse(r.deadline))
      add(
        `${r.kind}-missed`,
        r.partner,
        r.partner,
        `${r.partner}: no completed ${label} for ${MISSED_FIRE_TIMES} scheduled fire times since ${r.since} (last completed: ${r.lastOkAt ?? 'never'})`,
      );
  }
  for (const u of f.unsafeInputs) add('unsafe-input', null, u.shown, `${u.folder}: ${u.shown} is never opened (${u.reason}); rename or remove it`);
  if (f.disk && f.disk.totalBytes > 0 && f.disk.freeBytes / f.disk.totalBytes < MIN_FREE_SHARE) {
    const pct = ((100 * f.disk.freeBytes) / f.disk.totalBytes).toFixed(1);
    add('disk-space', null, f.disk.path, `free space under ${f.disk.path} is ${pct}% (${f.disk.freeBytes} bytes), below ${MIN_FREE_SHARE * 100}%`);
  }
  return { healthy: problems.length === 0, problems };
}

const latest = (...times: Array<string | null>): string | null =>
  times.reduce<string | null>((a, b) => (b !== null && (a === null || b > a) ? b : a), null);

/** Everything decideHealth looks at. */
export function gatherHealthFacts(config: Config, db: Db, now: Date): HealthFacts {
  const dismissedFiles = dismissedSubjects(db, 'error_file');
  const dismissedAcks = dismissedSubjects(db, 'ack');
  const dismissedMessages = dismissedSubjects(db, 'message');
  const { status, blocked } = collectStatus(config, db, now);

  const acks = (
    db
      .prepare(
        `SELECT a.id, a.partner, a.remote_name AS name, a.effect, a.problem, m.state AS messageState
         FROM acks a LEFT JOIN messages m ON m.id = a.message_id WHERE ${ACK_NEEDS_ATTENTION} ORDER BY a.id`,
      )
      .all() as AttentionAck[]
  ).filter((a) => !dismissedAcks.has(String(a.id)));
  const rejected = (
    db.prepare(`SELECT m.id, m.fcn, m.partner FROM messages m WHERE ${VISIBLE} AND m.state = 'REJECTED' ORDER BY m.id`).all() as HealthFacts['rejected']
  ).filter((m) => !dismissedMessages.has(String(m.id)));

  const daemonStart = lastDaemonStart(db);
  const lastResume = db.prepare(`SELECT MAX(at) FROM operator_actions WHERE command = 'resume' AND target = ?`).pluck();
  const runs: RunFacts[] = [];
  for (const [partner, p] of Object.entries(config.partners)) {
    const resumedAt = (lastResume.get(partner) as string | null) ?? null;
    for (const [kind, schedule] of [['batch', p.schedule], ['acks', p.ackPoll]] as const) {
      const last = lastFinishedRun(db, kind, partner);
      const okAt = lastOkAt(db, kind, partner);
      const since = latest(okAt, daemonStart, resumedAt);
      const fires = since ? fireTimesAfter(schedule, config.timezone, new Date(since), MISSED_FIRE_TIMES) : [];
      runs.push({
        kind,
        partner,
        last: last && { outcome: last.outcome ?? 'failed', startedAt: last.startedAt, error: last.error },
        lastOkAt: okAt,
        since,
        deadline: fires.length === MISSED_FIRE_TIMES ? fires[MISSED_FIRE_TIMES - 1]!.toISOString() : null,
      });
    }
  }

  return {
    errorFiles: errorFileNames(config).filter((n) => !dismissedFiles.has(n)),
    acks,
    rejected,
    overdue: status.partners.map((p) => ({ partner: p.partner, count: p.overdue })),
    reversals: blocked,
    paused: listPauses(db),
    runs,
    disk: diskOf(config.dataDir),
    unsafeInputs: unsafeInputs(config.inbound.map((i) => i.path)),
  };
}

function diskOf(dir: string): HealthFacts['disk'] {
  try {
    const s = fs.statfsSync(dir);
    return { path: dir, freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
  } catch {
    return null; // no dataDir yet: nothing written, nothing to fill
  }
}

export function checkHealth(config: Config, db: Db, now: Date = new Date()): Health {
  return decideHealth(gatherHealthFacts(config, db, now), now);
}
