// `tlbridge pause PARTNER --reason T` / `resume PARTNER --reason T` (product.md 9): no batch
// cycle and no ack poll for the partner while paused, across restarts (a ledger row the
// daemon's runner asks about at every slot); a cycle already running finishes.
import type { Config } from '../config/load.js';
import type { Db } from '../ledger/db.js';
import { finishRun, startRun, type RunKind } from '../ledger/runs.js';
import { operatorText } from '../ledger/operator.js';
import { addPause, pauseOf, removePause } from '../ledger/pauses.js';
import { UsageError, type Io } from './io.js';
import { actionText, operatorCommand, Refused } from './operator-command.js';

export function pauseCommand(config: Config, command: 'pause' | 'resume', opts: { partner?: string; reason?: string }, io: Io): number {
  const partner = opts.partner;
  if (!partner) throw new UsageError(`${command} needs a PARTNER (a partner code of the configuration)`);
  return operatorCommand(config, command, opts.reason, io, (c) => {
    if (!Object.prototype.hasOwnProperty.call(config.partners, partner))
      throw new Refused(`no partner "${partner}" in the configuration (configured: ${Object.keys(config.partners).join(', ') || 'none'})`);
    const current = pauseOf(c.db, partner);
    if (command === 'pause') {
      if (current) throw new Refused(`${partner} is paused already (since ${current.pausedAt} by ${current.pausedBy}: ${current.reason})`);
      const { action } = c.act(partner, { partner }, (a) => addPause(c.db, { partner, pausedAt: a.at, pausedBy: operatorText(a), reason: c.reason }));
      return `${partner}: paused; no batch cycle and no ack poll until resumed (a cycle already running finishes) (${actionText(action)})`;
    }
    if (!current) throw new Refused(`${partner} is not paused`);
    const { action } = c.act(partner, { partner, pausedAt: current.pausedAt, pausedBy: current.pausedBy }, () => removePause(c.db, partner));
    return `${partner}: resumed (paused since ${current.pausedAt} by ${current.pausedBy}); its next scheduled cycle and poll run (${actionText(action)})`;
  });
}

/** For send-now and poll-acks: whether to run `partner` now. A paused partner is skipped with
 * a line (and a 'skipped' runs row); false means skip. */
export function runsUnlessPaused(db: Db, kind: RunKind, partner: string, io: Io): boolean {
  const p = pauseOf(db, partner);
  if (!p) return true;
  finishRun(db, startRun(db, kind, partner, 'cli'), 'skipped', 'paused');
  io.out(`${partner}: skipped, the partner is paused since ${p.pausedAt} by ${p.pausedBy}: ${p.reason} (\`tlbridge resume ${partner} --reason ...\`)`);
  return false;
}
