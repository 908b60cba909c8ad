// `tlbridge reprocess ERROR_FILE --reason TEXT [--force]`: a file from error/ back through
// intake, e.g. after its partner or reversal original was set up. --force passes the
// duplicate checks (a document the operator knows must go again). The operator action is
// recorded before the file is claimed; the new attempt is a new file row pointing at the old.
import fs from 'node:fs';
import path from 'node:path';
import { Archive } from '../archive/archive.js';
import type { Config } from '../config/load.js';
import { formatInputError } from '../flatfile/errors.js';
import { dataPaths } from '../config/paths.js';
import { processClaimed } from '../intake/intake.js';
import { Ledger, type FileRow } from '../ledger/ledger.js';
import { withOperatorAction } from '../ledger/operator.js';
import { nullLogger } from '../log.js';
import { EXIT, UsageError, type Io } from './io.js';
import { openForCommand } from '../ledger/open.js';

export async function reprocess(config: Config, opts: { file?: string; reason?: string; force: boolean }, io: Io): Promise<number> {
  if (!opts.file) throw new UsageError('reprocess needs an ERROR_FILE (a file in error/)');
  const reason = opts.reason?.trim();
  if (!reason) throw new UsageError('reprocess needs --reason TEXT (it is recorded with your user name in the ledger and the archive)');
  const d = dataPaths(config);
  const errorPath = path.resolve(fs.existsSync(opts.file) ? opts.file : path.join(d.error, path.basename(opts.file)));
  if (path.dirname(errorPath) !== path.resolve(d.error) || !fs.existsSync(errorPath)) {
    io.err(`tlbridge reprocess: ${opts.file} is not a file in ${d.error}`);
    return EXIT.FAILED;
  }
  const { db } = openForCommand(config, { create: true });
  try {
    const ledger = new Ledger(db);
    const archive = new Archive(d.archive, db);
    const old = db.prepare(`SELECT * FROM files WHERE error_path = ? ORDER BY id DESC LIMIT 1`).get(errorPath) as FileRow | undefined;
    if (!old) {
      io.err(`tlbridge reprocess: the ledger knows no rejected file at ${errorPath}`);
      return EXIT.FAILED;
    }
    const inbound = config.inbound.find((i) => i.path === old.inbound) ?? config.inbound[0]!;
    fs.mkdirSync(d.work, { recursive: true, mode: 0o750 });
    const stamp = new Date().toISOString().replace(/[-:.]/g, '');
    const workPath = path.join(d.work, `${stamp}-${process.pid}-r${old.id}--${old.name}`);
    const { action } = withOperatorAction(
      ledger,
      archive,
      { command: 'reprocess', target: path.basename(errorPath), reason, extra: { fileId: old.id, force: opts.force } },
      () => {
        // claimed inside the transaction: if the rename fails, no action is recorded
        fs.renameSync(errorPath, workPath);
        db.prepare('UPDATE files SET error_path = NULL WHERE id = ?').run(old.id);
      },
    );
    for (const ext of ['.error.txt', '.error.json']) fs.rmSync(errorPath + ext, { force: true });
    const outcome = await processClaimed(
      { config, ledger, archive, logger: nullLogger },
      { workPath, name: old.name, inbound, force: opts.force, reprocessOf: old.id },
    );
    io.out(`${old.name}: reprocessed (operator action ${action.id} by ${action.osUser}) -> ${outcome.state}, ${outcome.messages} message(s)`);
    for (const e of outcome.errors) io.err(`${old.name}: ${formatInputError(e)}`);
    return outcome.state === 'CONVERTED' ? EXIT.OK : EXIT.FAILED;
  } finally {
    db.close();
  }
}
