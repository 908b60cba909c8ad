// What every step of a batch cycle (cycle.ts, recovery.ts, send.ts, archive-batch.ts) shares:
// the partner's settings, the ledger queries, the result being counted, the log, and where a
// message's files are (locally in the outbox, remotely in the partner's inbox).
import path from 'node:path';
import type { BatchCycleDeps, BatchCycleResult, CycleLogger } from './cycle.js';
import type { BatchMessageRow, BatchQueries } from './queries.js';

export interface CycleContext {
  readonly deps: BatchCycleDeps;
  readonly log: CycleLogger;
  readonly q: BatchQueries;
  readonly partner: string;
  readonly inboxDir: string;
  /** sftp.connections: how many uploads (or recovery checks) run at a time */
  readonly connections: number;
  readonly result: BatchCycleResult;
  /** the cycle was stopped (SIGTERM): start nothing new */
  readonly aborted: boolean;
  /** the log fields of a message; durationMs since the cycle started */
  fields(m: BatchMessageRow): MessageFields;
}

export interface MessageFields {
  messageId: number;
  fcn: string;
  partner: string;
  batchId: number | null;
  durationMs: number;
}

/** Where a message goes on the server: <inboxDir>/<type_code>/<fcn>.xml */
export function remoteDirOf(inboxDir: string, m: Pick<BatchMessageRow, 'type_code'>): string {
  return path.posix.join(inboxDir, m.type_code);
}

export function remotePathOf(inboxDir: string, m: Pick<BatchMessageRow, 'type_code' | 'fcn'>): string {
  return path.posix.join(inboxDir, m.type_code, `${m.fcn}.xml`);
}

/** The outbox file of a message: xml_path as stored, relative to dataDir unless absolute. */
export function outboxPathOf(dataDir: string, m: Pick<BatchMessageRow, 'xml_path'>): string {
  return path.isAbsolute(m.xml_path) ? m.xml_path : path.join(dataDir, m.xml_path);
}

/** Whole milliseconds since `since` (a performance.now() value). */
export function msSince(since: number): number {
  return Math.round(performance.now() - since);
}
