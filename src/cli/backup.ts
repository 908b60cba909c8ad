// `tlbridge backup --out FILE` (product.md 9): SQLite's online backup of the ledger, consistent
// while the daemon writes (WAL), then `pragma integrity_check` of the copy. The copy is written
// under a temporary name beside FILE, checked, then linked to FILE, so FILE is never a partial
// copy and an existing FILE is never overwritten (link refuses an existing name). The copy is a
// single file (journal_mode DELETE), mode 0640.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Config } from '../config/load.js';
import { dataPaths } from '../config/paths.js';
import { errText } from '../util/err-text.js';
import { EXIT, UsageError, type Io } from './io.js';
import { startProgress } from './progress.js';

const FILE_MODE = 0o640;
/** Everything in one step after the first (which only counts the pages): SQLite restarts a
 * backup whenever another connection writes between two steps, so small steps beside a busy
 * daemon might never finish. One step reads one snapshot; in WAL mode the daemon's writers go
 * on meanwhile (a reader never blocks them). */
const PAGES_PER_STEP = 0x7fffffff;

export interface BackupResult {
  file: string;
  pages: number;
  bytes: number;
}

/** Copies the ledger of `config` to `out`; throws with a reason (an existing `out` included). */
export async function backupLedger(config: Pick<Config, 'dataDir'>, out: string, onProgress?: (done: number, total: number) => void): Promise<BackupResult> {
  const source = dataPaths(config).ledger;
  const file = path.resolve(out);
  if (!fs.existsSync(source)) throw new Error(`there is no ledger at ${source}`);
  if (exists(file)) throw new Error(`${file} exists already; a backup never overwrites a file`);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.partial`);
  const db = new Database(source, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 15000');
    const r = await db.backup(tmp, {
      progress: ({ totalPages, remainingPages }) => {
        onProgress?.(totalPages - remainingPages, totalPages);
        return PAGES_PER_STEP;
      },
    });
    fs.chmodSync(tmp, FILE_MODE);
    const problems = checkCopy(tmp);
    if (problems.length) throw new Error(`the copy failed its integrity check: ${problems.slice(0, 5).join('; ')}`);
    fs.linkSync(tmp, file);
    return { file, pages: r.totalPages, bytes: fs.statSync(file).size };
  } finally {
    db.close();
    fs.rmSync(tmp, { force: true });
  }
}

/** `pragma integrity_check` of the copy, made a single file first; [] when it is 'ok'. */
function checkCopy(file: string): string[] {
  const copy = new Database(file, { fileMustExist: true });
  try {
    copy.pragma('journal_mode = DELETE');
    const rows = copy.pragma('integrity_check') as { integrity_check: string }[];
    const texts = rows.map((r) => r.integrity_check);
    return texts.length === 1 && texts[0] === 'ok' ? [] : texts;
  } finally {
    copy.close();
  }
}

function exists(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

export async function backup(config: Config, opts: { out: string | undefined }, io: Io): Promise<number> {
  if (!opts.out) throw new UsageError('backup needs --out FILE (a file that does not exist yet)');
  const bar = startProgress({ total: 1, unit: 'pages', label: 'backup', ...(io.stderr ? { stream: io.stderr } : {}) });
  try {
    const r = await backupLedger(config, opts.out, (done, total) => {
      bar.setTotal(total);
      bar.update(done);
    });
    bar.stop();
    io.out(`backup written: ${r.file} (${r.pages} pages, ${r.bytes} bytes, integrity_check ok)`);
    return EXIT.OK;
  } catch (e) {
    bar.stop();
    io.err(`backup failed: ${errText(e)}`);
    return EXIT.FAILED;
  }
}
