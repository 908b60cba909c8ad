// A process that archives two folders and dies by SIGKILL inside the second, at the crash point
// named by TLBRIDGE_CRASH_AT (test/archive.test.ts). Arguments: <dataDir> <nested: 0|1>.
// The first add (kind intake) completes; the second (kind batch) records a probe row in its
// transaction, so the test can see whether the caller's change committed with the manifest.
import path from 'node:path';
import { Archive } from '../../src/archive/archive.js';
import { openLedger } from '../../src/ledger/db.js';

const [dataDir, nested] = process.argv.slice(2) as [string, string];
const db = openLedger(path.join(dataDir, 'ledger.sqlite'));
db.exec('CREATE TABLE IF NOT EXISTS crash_probe (id INTEGER PRIMARY KEY, what TEXT NOT NULL)');
const archive = new Archive(path.join(dataDir, 'archive'), db);
archive.add('intake', '1', [{ name: 'in.txt', data: 'first\n' }]);
const second = (): void => {
  archive.add('batch', '2', [{ name: 'E000000000001.xml', data: '<x/>\n' }], {}, () => {
    db.prepare('INSERT INTO crash_probe (what) VALUES (?)').run('batch 2');
  });
};
if (nested === '1') db.transaction(second).immediate();
else second();
// only when the crash point was not reached
process.stdout.write('survived\n');
