// What a SIGHUP reload may change (product.md 9): everything but the keys the running daemon is
// built on. `dataDir` (the ledger, the archive), `sender.*` (the numbers already handed out)
// and `metrics.listen` (the bound socket) refuse the whole reload; the rest is compared here so
// the daemon logs one line saying what changed.
import type { Config } from './load.js';

/** The keys whose change refuses the reload, by key path; empty when it may go ahead. */
export function refusedKeys(old: Config, next: Config): string[] {
  const keys: string[] = [];
  if (old.dataDir !== next.dataDir) keys.push('dataDir');
  for (const k of new Set([...Object.keys(old.sender), ...Object.keys(next.sender)]))
    if (!same((old.sender as Record<string, unknown>)[k], (next.sender as Record<string, unknown>)[k])) keys.push(`sender.${k}`);
  if (old.metrics?.listen !== next.metrics?.listen) keys.push('metrics.listen');
  return keys;
}

export interface ConfigChanges {
  partnersAdded: string[];
  partnersRemoved: string[];
  /** partners whose settings changed (schedule, ackPoll, sftp, ...), by the keys that did */
  partnersChanged: Record<string, string[]>;
  /** top-level keys that changed (inbound, log, rescanSeconds, ...), partners left out */
  keys: string[];
}

export function configChanges(old: Config, next: Config): ConfigChanges {
  const oldPartners = Object.keys(old.partners);
  const nextPartners = Object.keys(next.partners);
  const partnersChanged: Record<string, string[]> = {};
  for (const p of nextPartners) {
    const a = old.partners[p] as Record<string, unknown> | undefined;
    const b = next.partners[p] as Record<string, unknown>;
    if (!a) continue;
    const changed = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !same(a[k], b[k]));
    if (changed.length) partnersChanged[p] = changed.sort();
  }
  const o = old as unknown as Record<string, unknown>;
  const n = next as unknown as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(o), ...Object.keys(n)])].filter((k) => k !== 'partners' && k !== 'file' && !same(o[k], n[k])).sort();
  return {
    partnersAdded: nextPartners.filter((p) => !oldPartners.includes(p)),
    partnersRemoved: oldPartners.filter((p) => !nextPartners.includes(p)),
    partnersChanged,
    keys,
  };
}

export function nothingChanged(c: ConfigChanges): boolean {
  return !c.partnersAdded.length && !c.partnersRemoved.length && !Object.keys(c.partnersChanged).length && !c.keys.length;
}

/** Structural equality of config values (plain data, Maps of layouts). */
function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a, mapsAsObjects) === JSON.stringify(b, mapsAsObjects);
}

function mapsAsObjects(_key: string, v: unknown): unknown {
  return v instanceof Map ? Object.fromEntries(v) : v;
}
