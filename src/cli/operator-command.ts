// What the operator commands of product.md 9 share (hold, release, cancel, confirm, dismiss,
// pause, resume): a required --reason, the ledger opened for writing, the check and the change
// in one IMMEDIATE transaction (the write lock is taken before anything is read, so a batch
// cycle or an ack of the daemon cannot change the target between the check and the change),
// the operator action in the ledger and the archive chain, and exit 1 with one line when the
// command is refused (wrong state, unknown id).
import { Archive } from '../archive/archive.js';
import type { Config } from '../config/load.js';
import { dataPaths } from '../config/paths.js';
import type { Db } from '../ledger/db.js';
import { Ledger, VISIBLE } from '../ledger/ledger.js';
import type { MessageState } from '../ledger/ledger.js';
import { openForCommand } from '../ledger/open.js';
import { operatorText, withOperatorAction, type OperatorAction } from '../ledger/operator.js';
import { EXIT, UsageError, type Io } from './io.js';

/** Thrown inside the transaction to roll it back with a line for the operator (exit 1). */
export class Refused extends Error {}

export interface OperatorContext {
  db: Db;
  config: Config;
  reason: string;
  /** records the action (ledger + archive manifest) and runs `change` in the same transaction */
  act<T>(target: string, extra: Record<string, unknown>, change: (a: Omit<OperatorAction, 'dir'>) => T): { action: OperatorAction; result: T };
}

export function requireReason(command: string, reason: string | undefined): string {
  const r = reason?.trim();
  if (!r) throw new UsageError(`${command} needs --reason TEXT (it is recorded with your user name in the ledger and the archive)`);
  return r;
}

/** Runs `body` as operator command `command`; what it returns is printed (exit 0). */
export function operatorCommand(config: Config, command: string, reasonOpt: string | undefined, io: Io, body: (c: OperatorContext) => string): number {
  const reason = requireReason(command, reasonOpt);
  const { db, exists } = openForCommand(config, { create: false });
  try {
    if (!exists) {
      io.err(`tlbridge ${command}: there is no ledger yet (${dataPaths(config).ledger}); nothing to ${command}`);
      return EXIT.FAILED;
    }
    const ledger = new Ledger(db);
    const archive = new Archive(dataPaths(config).archive, db);
    const ctx: OperatorContext = {
      db,
      config,
      reason,
      act: (target, extra, change) => withOperatorAction(ledger, archive, { command, target, reason, extra }, change),
    };
    let line: string;
    try {
      line = db.transaction(() => body(ctx)).immediate();
    } catch (e) {
      if (e instanceof Refused) {
        io.err(`tlbridge ${command}: ${e.message}`);
        return EXIT.FAILED;
      }
      throw e;
    } finally {
      // committed or rolled back: its archive folders settled while the ledger is still open
      archive.settle();
    }
    io.out(line);
    return EXIT.OK;
  } finally {
    db.close();
  }
}

/** The tail of every success line: who, which action, where it is archived. */
export function actionText(a: OperatorAction): string {
  return `operator action ${a.id} by ${operatorText(a)} at ${a.at}, archived in ${a.dir}`;
}

/** The detail of a transition an operator caused. */
export function actionDetail(command: string, a: Omit<OperatorAction, 'dir'>, reason: string): string {
  return `${command} by ${operatorText(a)} (operator action ${a.id}): ${reason}`;
}

export interface MessageTarget {
  id: number;
  fcn: string;
  partner: string;
  messageType: string;
  referenceDoc: string;
  state: MessageState;
}

/** A message by its id or its FileControlNumber (as `messages` shows them). */
export function findMessage(db: Db, idOrFcn: string): MessageTarget | null {
  return (
    (db
      .prepare(
        `SELECT m.id, m.fcn, m.partner, m.message_type AS messageType, m.reference_doc AS referenceDoc, m.state FROM messages m
         WHERE ${VISIBLE} AND (CAST(m.id AS TEXT) = ? OR m.fcn = ?) ORDER BY m.id LIMIT 1`,
      )
      .get(idOrFcn, idOrFcn) as MessageTarget | undefined) ?? null
  );
}
