// The message state machine (product.md 1): the table of allowed moves, and the only code
// that changes a message's state. Every move checks the table, updates the row only if the
// message is still in the state the caller saw, and writes its transition row in the same
// statement sequence (callers hold the transaction). Input files have their own small table
// here too, so every transition row of the ledger is written one way.
import { nowIso, type Db } from './db.js';
import type { FileState, MessageState } from './ledger.js';

export interface TransitionRule<S> {
  from: S | null;
  to: S;
  /** when the move happens (product.md 1) */
  why: string;
}

/** Every move a message may make; `from: null` is its creation. */
export const MESSAGE_TRANSITIONS: readonly TransitionRule<MessageState>[] = [
  { from: null, to: 'STAGED', why: 'its file converted and passed every rule' },
  { from: 'STAGED', to: 'SENDING', why: 'a batch cycle claims it' },
  { from: 'SENDING', to: 'SENT', why: 'the rename to the final name succeeded, the final file is found on the server after a crash, or an ack proves the upload' },
  { from: 'SENDING', to: 'STAGED', why: 'the upload failed; the next cycle retries it, same name and FileControlNumber' },
  { from: 'SENT', to: 'ACCEPTED', why: 'an ack says SUCCESS or WARNING, or an operator confirms it' },
  { from: 'SENT', to: 'REJECTED', why: 'an ack says ERROR, or an operator confirms it' },
  { from: 'ACCEPTED', to: 'REJECTED', why: 'a later ack (by FileDate + FileTime) says ERROR' },
  { from: 'REJECTED', to: 'ACCEPTED', why: 'a later ack (by FileDate + FileTime) says SUCCESS or WARNING' },
  { from: 'SENT', to: 'STAGED', why: 'resend (same FileControlNumber, byte-identical file)' },
  { from: 'STAGED', to: 'HELD', why: 'hold' },
  { from: 'HELD', to: 'STAGED', why: 'release' },
  { from: 'STAGED', to: 'CANCELLED', why: 'cancel' },
  { from: 'HELD', to: 'CANCELLED', why: 'cancel' },
];

export const FILE_TRANSITIONS: readonly TransitionRule<FileState>[] = [
  { from: null, to: 'RECEIVED', why: 'intake claimed it' },
  { from: 'RECEIVED', to: 'CONVERTED', why: 'every message of it passed' },
  { from: 'RECEIVED', to: 'FAILED', why: 'it could not be converted' },
  { from: 'RECEIVED', to: 'DUPLICATE', why: 'it failed only because of duplicates' },
];

export function isAllowedMove<S extends string>(table: readonly TransitionRule<S>[], from: S | null, to: S): boolean {
  return table.some((r) => r.from === from && r.to === to);
}

/** A move outside the table: a bug in the caller, never a condition to handle. */
export class IllegalTransitionError extends Error {
  constructor(entity: 'file' | 'message', id: number, from: string | null, to: string) {
    super(`programming error: ${entity} ${id}: ${from ?? '(new)'} -> ${to} is not a transition of product.md 1`);
    this.name = 'IllegalTransitionError';
  }
}

/** What else a move writes on the message row; absent fields stay as they are. */
export interface MoveSet {
  /** null clears it */
  lastError?: string | null;
  remotePath?: string;
  sentAt?: string;
  batchId?: number;
  /** counts one more upload attempt */
  addAttempt?: boolean;
  /** the overdue alarm was logged for the last upload; a resend starts a new wait */
  clearOverdue?: boolean;
}

export interface MoveOptions {
  at?: string;
  detail?: string | null;
  set?: MoveSet;
}

/** moved: done, with its transition row. Not moved: the message had already left `from` (a race). */
export type MoveResult = { moved: true; at: string } | { moved: false; now: MessageState | null };

function prepare(db: Db) {
  return {
    move: db.prepare(
      `UPDATE messages SET state = @to, updated_at = @at,
         last_error = CASE WHEN @setLastError THEN @lastError ELSE last_error END,
         remote_path = COALESCE(@remotePath, remote_path),
         sent_at = COALESCE(@sentAt, sent_at),
         batch_id = COALESCE(@batchId, batch_id),
         attempts = attempts + @addAttempts,
         overdue_logged_at = CASE WHEN @clearOverdue THEN NULL ELSE overdue_logged_at END
       WHERE id = @id AND state = @from`,
    ),
    stateOf: db.prepare('SELECT state FROM messages WHERE id = ?').pluck(),
    transition: db.prepare('INSERT INTO transitions (entity, entity_id, from_state, to_state, at, detail) VALUES (?, ?, ?, ?, ?, ?)'),
    stageFile: db.prepare(
      `INSERT INTO transitions (entity, entity_id, from_state, to_state, at, detail)
       SELECT 'message', id, NULL, 'STAGED', ?, NULL FROM messages WHERE file_id = ? AND state = 'STAGED'`,
    ),
  };
}

// prepared once per ledger connection, not per message
const statements = new WeakMap<Db, ReturnType<typeof prepare>>();

function stmts(db: Db): ReturnType<typeof prepare> {
  let s = statements.get(db);
  if (!s) statements.set(db, (s = prepare(db)));
  return s;
}

/**
 * Moves message `id` from `from` to `to`, with its transition row. Throws
 * IllegalTransitionError for a move outside the table. When the message is no longer in
 * `from`, changes nothing and says where it is now. Run it inside the caller's transaction
 * when the move must commit together with other writes.
 */
export function moveMessage(db: Db, id: number, from: MessageState, to: MessageState, opts: MoveOptions = {}): MoveResult {
  if (!isAllowedMove(MESSAGE_TRANSITIONS, from, to)) throw new IllegalTransitionError('message', id, from, to);
  const s = stmts(db);
  const at = opts.at ?? nowIso();
  const set = opts.set ?? {};
  return db.transaction((): MoveResult => {
    const changed = s.move.run({
      id,
      from,
      to,
      at,
      setLastError: set.lastError !== undefined ? 1 : 0,
      lastError: set.lastError ?? null,
      remotePath: set.remotePath ?? null,
      sentAt: set.sentAt ?? null,
      batchId: set.batchId ?? null,
      addAttempts: set.addAttempt ? 1 : 0,
      clearOverdue: set.clearOverdue ? 1 : 0,
    }).changes;
    if (changed !== 1) return { moved: false, now: (s.stateOf.get(id) as MessageState | undefined) ?? null };
    s.transition.run('message', id, from, to, at, opts.detail ?? null);
    return { moved: true, at };
  })();
}

/** (new) -> STAGED for every message of a file whose conversion commits now (they were inserted STAGED). */
export function recordStagedMessagesOfFile(db: Db, fileId: number, at: string): void {
  stmts(db).stageFile.run(at, fileId);
}

/** The transition row of an input file's state change (its row is updated by the caller). */
export function recordFileTransition(db: Db, id: number, from: FileState | null, to: FileState, at: string, detail?: string | null): void {
  if (!isAllowedMove(FILE_TRANSITIONS, from, to)) throw new IllegalTransitionError('file', id, from, to);
  stmts(db).transition.run('file', id, from, to, at, detail ?? null);
}
