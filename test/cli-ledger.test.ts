// The ledger commands (product.md 4): status, messages, resend, audit verify; in-process
// through main() against a temp config, a real SQLite ledger filled by SQL and a real archive.
// Plus the JSON-lines logger (src/log.ts).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { nextCronRun } from '../src/schedule/cron-runner.js';
import { Archive } from '../src/archive/archive.js';
import { openLedger, type Db } from '../src/ledger/db.js';
import { createLogger, flushLogger, redact } from '../src/log.js';
import { memoryLogger, withFields } from './support/memory-logger.js';
import { runCli } from './support/cli.js';

const run = runCli;

const FILE_STATES = ['RECEIVED', 'CONVERTED', 'FAILED', 'DUPLICATE'];
const MESSAGE_STATES = ['STAGED', 'SENDING', 'SENT', 'ACCEPTED', 'REJECTED', 'HELD', 'CANCELLED'];
const sha = (d: Buffer | string) => crypto.createHash('sha256').update(d).digest('hex');
const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
const fcn = (n: number) => `T${String(n).padStart(12, '0')}`;

function writeConfig(dir: string): string {
  const file = path.join(dir, 'tlbridge.yaml');
  fs.writeFileSync(
    file,
    `sender: { id: "0614141000005", controlNumberPrefix: "T" }
timezone: Europe/Berlin
dataDir: ./var
inbound:
  - path: ./var/inbound
    layout: erp-delimited
partners:
  ACME-PHARMA:
    receiverId: "0312345000001"
    usage: TEST
    schedule: "*/15 * * * *"
    ackDeadlineMinutes: 60
    sftp: { host: embedded }
  BETA-BIO:
    receiverId: "0312345000002"
    usage: TEST
    schedule: "0 6 * * *"
    ackDeadlineMinutes: 240
    sftp: { host: embedded }
`,
  );
  return file;
}

interface Seeded {
  dataDir: string;
  xmlOf: Map<number, string>;
}

/** Files in every state, messages in several, one of a file still in conversion and one of a
 * failed file (both invisible), batches, acks, error files, and an archive with two manifests. */
function seed(dir: string): Seeded {
  const dataDir = path.join(dir, 'var');
  const db = openLedger(path.join(dataDir, 'ledger.sqlite'));
  const xmlOf = new Map<number, string>();
  try {
    const file = db.prepare(
      `INSERT INTO files (id, name, inbound, layout, sha256, bytes, state, message_type, partner, received_at, updated_at)
       VALUES (?, ?, '/in', 'erp-delimited', ?, 10, ?, ?, 'ACME-PHARMA', ?, ?)`,
    );
    file.run(1, 'produced.txt', sha('1'), 'CONVERTED', 'MATERIALS_PRODUCED', ago(300), ago(300));
    file.run(2, 'reversals.txt', sha('2'), 'CONVERTED', 'MATERIALS_PRODUCED_REVERSAL', ago(200), ago(200));
    file.run(3, 'in-conversion.txt', sha('3'), 'RECEIVED', null, ago(1), ago(1));
    file.run(4, 'bad.txt', sha('4'), 'FAILED', null, ago(100), ago(100));
    file.run(5, 'dup.txt', sha('5'), 'DUPLICATE', 'MATERIALS_PRODUCED', ago(90), ago(90));
    file.run(6, 'failed-late.txt', sha('6'), 'FAILED', 'MATERIALS_PRODUCED', ago(80), ago(80));

    const outbox = path.join(dataDir, 'outbox', 'ACME-PHARMA');
    fs.mkdirSync(outbox, { recursive: true });
    const msg = db.prepare(
      `INSERT INTO messages (id, file_id, partner, message_type, type_code, fcn, reference_doc, work_order, original_ref, body_hash,
         source_line, xml_path, xml_sha256, bytes, state, remote_path, batch_id, last_error, created_at, updated_at, sent_at)
       VALUES (@id, @file, 'ACME-PHARMA', @type, @type, @fcn, @ref, @wo, @orig, 'h', 2, @xml, @sha, @bytes, @state, @remote, @batch, @lastError, @created, @updated, @sent)`,
    );
    const add = (m: { id: number; file: number; type?: string; ref: string; wo?: string; orig?: string; state: string; sent?: string; updated?: string; batch?: number; lastError?: string }) => {
      const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<message n="${m.id}"/>\n`;
      const xmlPath = path.join(outbox, `${fcn(m.id)}.xml`);
      fs.writeFileSync(xmlPath, xml);
      xmlOf.set(m.id, xmlPath);
      const type = m.type ?? 'MATERIALS_PRODUCED';
      msg.run({
        id: m.id,
        file: m.file,
        type,
        fcn: fcn(m.id),
        ref: m.ref,
        wo: m.wo ?? 'WO-100',
        orig: m.orig ?? null,
        xml: xmlPath,
        sha: sha(xml),
        bytes: xml.length,
        state: m.state,
        remote: m.sent ? `/inbox/${type}/${fcn(m.id)}.xml` : null,
        batch: m.batch ?? null,
        lastError: m.lastError ?? null,
        created: ago(300),
        updated: m.updated ?? m.sent ?? ago(250),
        sent: m.sent ?? null,
      });
    };
    const batch = db.prepare(`INSERT INTO batches (id, partner, started_at, finished_at, outcome, messages, error) VALUES (?, 'ACME-PHARMA', ?, ?, ?, ?, ?)`);
    batch.run(1, ago(180), ago(179), 'sent', 4, null);
    batch.run(2, ago(10), ago(9), 'failed', 0, 'connect ECONNREFUSED 10.0.0.1:22');

    add({ id: 1, file: 1, ref: 'DOC-1', state: 'STAGED' });
    add({ id: 2, file: 1, ref: 'DOC-2', state: 'SENT', sent: ago(120), batch: 1 }); // overdue (deadline 60)
    add({ id: 3, file: 1, ref: 'DOC-3', state: 'SENT', sent: ago(5), batch: 1 });
    add({ id: 4, file: 1, ref: 'DOC-4', state: 'ACCEPTED', sent: ago(170), updated: ago(100), batch: 1 });
    add({ id: 5, file: 1, ref: 'DOC-5', state: 'REJECTED', sent: ago(170), updated: ago(60), batch: 1, lastError: 'E1042 LotNumber unknown to receiver' });
    add({ id: 6, file: 2, type: 'MATERIALS_PRODUCED_REVERSAL', ref: 'REV-1', orig: 'DOC-5', state: 'STAGED' }); // original REJECTED: blocked
    add({ id: 7, file: 2, type: 'MATERIALS_PRODUCED_REVERSAL', ref: 'REV-2', orig: 'DOC-4', state: 'STAGED' });
    add({ id: 8, file: 2, type: 'WORK_ORDER_MILESTONES', ref: 'WO-7', wo: 'WO-7', state: 'CANCELLED' });
    add({ id: 9, file: 3, ref: 'DOC-9', state: 'STAGED' }); // its file is still RECEIVED: invisible
    add({ id: 10, file: 6, ref: 'DOC-10', state: 'SENT', sent: ago(500) }); // its file FAILED: invisible

    const ack = db.prepare(
      `INSERT INTO acks (partner, remote_name, sha256, bytes, valid, problem, ack_fcn, input_fcn, status, errors_json, file_date, file_time, message_id, effect, received_at)
       VALUES ('ACME-PHARMA', ?, ?, 100, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    ack.run('a1.xml', sha('a1'), 1, null, 'ACK1', fcn(4), 'SUCCESS', '[]', '2026-01-01', '10:00:00Z', 4, 'accepted', ago(100));
    // a later duplicate report of the same message (a resent copy): kept, but not its outcome
    ack.run('a2.xml', sha('a2'), 1, null, 'ACK2', fcn(4), 'ERROR', JSON.stringify([{ code: 'DUPLICATE_FILE', class: 2, message: 'seen before' }]), '2026-01-02', '10:00:00Z', 4, 'duplicate', ago(50));
    ack.run(
      'a3.xml',
      sha('a3'),
      1,
      null,
      'ACK3',
      fcn(5),
      'ERROR',
      JSON.stringify([
        { code: 'E1042', class: 1, message: 'LotNumber unknown to receiver', path: '/MessageBody/MaterialsProducedLineItem[1]/LotNumber' },
        { code: 'E2001', class: '1', message: 'Quantity too large' },
      ]),
      '2026-01-01',
      '11:00:00Z',
      5,
      'rejected',
      ago(60),
    );
    ack.run('a4.xml', sha('a4'), 1, null, 'ACK4', 'T999999999999', 'SUCCESS', '[]', '2026-01-01', '12:00:00Z', null, 'unmatched', ago(40));
    ack.run('a5.xml', sha('a5'), 0, 'has a DOCTYPE', null, null, null, null, null, null, null, 'invalid', ago(30));
  } finally {
    db.close();
  }

  const errorDir = path.join(dataDir, 'error');
  fs.mkdirSync(errorDir, { recursive: true });
  for (const f of ['bad.txt', 'bad.txt.error.txt', 'bad.txt.error.json', 'dup.txt', 'dup.txt.error.txt', 'dup.txt.error.json', '.in-progress'])
    fs.writeFileSync(path.join(errorDir, f), 'x');

  const adb = openLedger(path.join(dataDir, 'ledger.sqlite'));
  try {
    const archive = new Archive(path.join(dataDir, 'archive'), adb);
    archive.add('intake', '1', [{ name: 'produced.txt', data: 'HDR|MATERIALS_PRODUCED|ACME-PHARMA\n' }]);
    archive.add('batch', '1', [2, 3, 4, 5].map((n) => ({ name: `${fcn(n)}.xml`, from: xmlOf.get(n)! })), { partner: 'ACME-PHARMA' });
  } finally {
    adb.close();
  }
  return { dataDir, xmlOf };
}

function ledger(dataDir: string): Db {
  return openLedger(path.join(dataDir, 'ledger.sqlite'));
}

describe('ledger commands', function () {
  let tmp: string;
  let config: string;
  let seeded: Seeded;

  beforeEach(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-cli-ledger-'));
    config = writeConfig(tmp);
    seeded = seed(tmp);
  });
  afterEach(function () {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe('status', function () {
    it('--json: the exact shape, every state present, invisible messages not counted', async function () {
      const before = Date.now();
      const r = await run(['status', '--json', '--config', config]);
      expect(r.err).to.deep.equal([]);
      expect(r.code).to.equal(0);
      expect(r.out).to.have.length(1);
      const s = JSON.parse(r.out[0]!);
      expect(Object.keys(s)).to.deep.equal(['files', 'messages', 'overdue', 'errorFiles', 'unmatchedAcks', 'invalidAcks', 'partners', 'reversalsBlocked', 'unsafeInputs', 'lastPrune']);
      expect(s.lastPrune, 'no prune ran').to.equal(null);
      expect(Object.keys(s.files)).to.deep.equal(FILE_STATES);
      expect(Object.keys(s.messages)).to.deep.equal(MESSAGE_STATES);
      expect(s.files).to.deep.equal({ RECEIVED: 1, CONVERTED: 2, FAILED: 2, DUPLICATE: 1 });
      // m9 (file RECEIVED) and m10 (file FAILED) count nowhere
      expect(s.messages).to.deep.equal({ STAGED: 3, SENDING: 0, SENT: 2, ACCEPTED: 1, REJECTED: 1, HELD: 0, CANCELLED: 1 });
      expect(s.overdue).to.equal(1);
      expect(s.errorFiles).to.equal(2);
      expect(s.unmatchedAcks).to.equal(1);
      expect(s.invalidAcks).to.equal(1);
      expect(s.reversalsBlocked).to.equal(1);

      expect(s.partners.map((p: { partner: string }) => p.partner)).to.deep.equal(['ACME-PHARMA', 'BETA-BIO']);
      const [acme, beta] = s.partners;
      expect(Object.keys(acme)).to.deep.equal(['partner', 'lastBatchAt', 'nextBatchAt', 'staged', 'sent', 'overdue', 'lastError', 'paused', 'pausedAt', 'pausedBy', 'pauseReason']);
      expect(acme).to.include({ staged: 3, sent: 2, overdue: 1, lastError: 'connect ECONNREFUSED 10.0.0.1:22' });
      const db = ledger(seeded.dataDir);
      try {
        expect(acme.lastBatchAt).to.equal((db.prepare('SELECT started_at FROM batches WHERE id = 2').get() as { started_at: string }).started_at);
      } finally {
        db.close();
      }
      // */15 in Europe/Berlin: the next quarter hour, in the future, ISO UTC
      const next = new Date(acme.nextBatchAt);
      expect(acme.nextBatchAt).to.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect(next.getTime()).to.be.greaterThan(before);
      expect(next.getTime() - before).to.be.at.most(15 * 60_000);
      expect(next.getUTCMinutes() % 15).to.equal(0);
      expect(next.getUTCSeconds()).to.equal(0);

      expect(beta).to.deep.equal({ partner: 'BETA-BIO', lastBatchAt: null, nextBatchAt: beta.nextBatchAt, staged: 0, sent: 0, overdue: 0, lastError: null, paused: false, pausedAt: null, pausedBy: null, pauseReason: null });
      // "0 6 * * *" is 06:00 in Berlin, whatever the offset of the day
      const b = new Date(beta.nextBatchAt);
      expect(b.getTime()).to.be.greaterThan(before).and.at.most(before + 24 * 3600_000 + 1000);
      expect(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(b)).to.equal('06:00');
    });

    it('lastError: the later of a failed batch and a waiting or rejected message; history of sent messages is not news', async function () {
      const db = ledger(seeded.dataDir);
      try {
        db.prepare(`UPDATE batches SET started_at = ?, finished_at = ? WHERE id = 2`).run(ago(70), ago(69)); // before m5's rejection (60 min ago)
        db.prepare(`UPDATE messages SET last_error = 'stale: conflict in an older cycle', updated_at = ? WHERE id = 3`).run(ago(1)); // SENT since
      } finally {
        db.close();
      }
      const s = JSON.parse((await run(['status', '--json', '--config', config])).out[0]!);
      expect(s.partners[0].lastError).to.equal('E1042 LotNumber unknown to receiver');
    });

    it('the last prune run: none, then a real one (what it removed), then one suspended by archive.legalHold', async function () {
      expect((await run(['status', '--config', config])).out).to.include('prune     never run (archive.pruneAt 30 3 * * *)');
      const p = await run(['prune', '--config', config]);
      expect(p.code, p.err.join('\n')).to.equal(0);
      const db = ledger(seeded.dataDir);
      const row = db.prepare('SELECT started_at, finished_at FROM prune_runs ORDER BY id DESC LIMIT 1').get() as { started_at: string; finished_at: string };
      db.close();
      const s = JSON.parse((await run(['status', '--json', '--config', config])).out[0]!);
      expect(s.lastPrune).to.deep.equal({
        at: row.started_at,
        finishedAt: row.finished_at,
        origin: 'cli',
        outcome: 'ok',
        deleted: { folders: 0, messages: 0, outboxFiles: 0, bytes: 0 },
        removalPending: false,
        error: null,
        legalHold: false,
      });
      expect((await run(['status', '--config', config])).out).to.include(`prune     last ${row.started_at} (cli) ok: removed 0 archive folder(s), 0 message(s), 0 outbox file(s), 0 bytes`);

      fs.appendFileSync(config, 'archive: { legalHold: true }\n');
      expect((await run(['prune', '--config', config])).code).to.equal(0);
      const held = JSON.parse((await run(['status', '--json', '--config', config])).out[0]!);
      expect(held.lastPrune).to.include({ outcome: 'suspended', legalHold: true });
      expect(held.lastPrune.error).to.match(/legalHold/);
      const text = (await run(['status', '--config', config])).out.find((l) => l.startsWith('prune '));
      expect(text).to.match(/^prune     last \S+ \(cli\) suspended: archive\.legalHold is true.*; legal hold: nothing is pruned$/);
    });

    it('human output: a table with each partner and the counts', async function () {
      const r = await run(['status', '--config', config]);
      expect(r.code).to.equal(0);
      const text = r.out.join('\n');
      expect(text).to.include('CONVERTED 2').and.include('SENT 2').and.include('SENDING 0');
      expect(text).to.include('overdue acks 1').and.include('error files 2').and.include('unmatched acks 1').and.include('invalid acks 1');
      expect(text).to.include('reversals blocked 1').and.include(`${fcn(6)} (id 6)`);
      expect(text).to.match(/PARTNER\s+LAST BATCH\s+NEXT BATCH\s+STAGED\s+SENT\s+OVERDUE\s+LAST ERROR/);
      expect(r.out.find((l) => l.startsWith('ACME-PHARMA'))).to.include('ECONNREFUSED');
      expect(r.out.find((l) => l.startsWith('BETA-BIO'))).to.match(/BETA-BIO\s+-\s+\d{4}-/);
    });

    it('without a ledger: all zeros, and the read-only command creates no ledger', async function () {
      const fresh = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-cli-fresh-'));
      try {
        const cfg = writeConfig(fresh);
        const r = await run(['status', '--json', '--config', cfg]);
        expect(r.code).to.equal(0);
        const s = JSON.parse(r.out[0]!);
        expect(s.files).to.deep.equal({ RECEIVED: 0, CONVERTED: 0, FAILED: 0, DUPLICATE: 0 });
        expect(s.messages).to.deep.equal({ STAGED: 0, SENDING: 0, SENT: 0, ACCEPTED: 0, REJECTED: 0, HELD: 0, CANCELLED: 0 });
        expect(s).to.include({ overdue: 0, errorFiles: 0, unmatchedAcks: 0, invalidAcks: 0, reversalsBlocked: 0 });
        expect(s.partners).to.have.length(2);
        expect(s.partners[0]).to.include({ lastBatchAt: null, staged: 0, sent: 0, overdue: 0, lastError: null });
        expect(s.partners[0].nextBatchAt).to.be.a('string');
        expect(fs.existsSync(path.join(fresh, 'var', 'ledger.sqlite'))).to.equal(false);
      } finally {
        fs.rmSync(fresh, { recursive: true, force: true });
      }
    });

    it('takes no arguments (exit 2), and an invalid config exits 2', async function () {
      expect((await run(['status', 'extra', '--config', config])).code).to.equal(2);
      expect((await run(['status', '--bogus', '--config', config])).code).to.equal(2);
      expect((await run(['status', '--config', path.join(tmp, 'missing.yaml')])).code).to.equal(2);
    });
  });

  describe('nextCronRun', function () {
    it('uses the cron expression in the given time zone, 5 or 6 fields', function () {
      const now = Date.now();
      const utc = nextCronRun('30 2 * * *', 'UTC')!;
      expect(utc.getUTCHours()).to.equal(2);
      expect(utc.getUTCMinutes()).to.equal(30);
      expect(utc.getTime()).to.be.greaterThan(now).and.at.most(now + 24 * 3600_000 + 1000);
      const ny = nextCronRun('30 2 * * *', 'America/New_York')!;
      expect(ny.getTime() - utc.getTime()).to.not.equal(0);
      const sec = nextCronRun('*/10 * * * * *', 'UTC')!;
      expect(sec.getTime() - now).to.be.at.most(10_000);
      expect(sec.getUTCSeconds() % 10).to.equal(0);
      expect(nextCronRun('not a cron', 'UTC')).to.equal(null);
    });
  });

  describe('messages', function () {
    it('--json: one visible message per row, in the documented shape', async function () {
      const r = await run(['messages', '--json', '--config', config]);
      expect(r.err).to.deep.equal([]);
      expect(r.code).to.equal(0);
      const rows = JSON.parse(r.out[0]!);
      expect(rows.map((m: { id: string }) => m.id)).to.deep.equal(['1', '2', '3', '4', '5', '6', '7', '8']);
      for (const m of rows)
        expect(Object.keys(m)).to.deep.equal([
          'id', 'messageType', 'partner', 'fileControlNumber', 'referenceDocumentNumber', 'workOrderNumber', 'state', 'overdue',
          'sourceFile', 'remotePath', 'batchId', 'updatedAt', 'ack',
        ]);
      const byId = (id: string) => rows.find((m: { id: string }) => m.id === id);
      const db = ledger(seeded.dataDir);
      const updatedAt = (db.prepare('SELECT updated_at FROM messages WHERE id = 2').get() as { updated_at: string }).updated_at;
      db.close();
      expect(byId('2')).to.deep.equal({
        id: '2',
        messageType: 'MATERIALS_PRODUCED',
        partner: 'ACME-PHARMA',
        fileControlNumber: fcn(2),
        referenceDocumentNumber: 'DOC-2',
        workOrderNumber: 'WO-100',
        state: 'SENT',
        overdue: true,
        sourceFile: 'produced.txt',
        remotePath: `/inbox/MATERIALS_PRODUCED/${fcn(2)}.xml`,
        batchId: '1',
        updatedAt,
        ack: null,
      });
      expect(byId('3')).to.include({ state: 'SENT', overdue: false });
      expect(byId('1')).to.include({ state: 'STAGED', overdue: false, remotePath: null, batchId: null, ack: null });
      // the real outcome, not the later duplicate report of a resent copy
      expect(byId('4').ack).to.deep.equal({ status: 'SUCCESS', errors: [] });
      expect(byId('5').ack).to.deep.equal({
        status: 'ERROR',
        errors: [
          { code: 'E1042', class: 1, message: 'LotNumber unknown to receiver', path: '/MessageBody/MaterialsProducedLineItem[1]/LotNumber' },
          { code: 'E2001', class: 1, message: 'Quantity too large', path: null },
        ],
      });
      expect(byId('6')).to.include({ messageType: 'MATERIALS_PRODUCED_REVERSAL', sourceFile: 'reversals.txt', referenceDocumentNumber: 'REV-1' });
      expect(byId('8')).to.include({ messageType: 'WORK_ORDER_MILESTONES', referenceDocumentNumber: 'WO-7', workOrderNumber: 'WO-7' });
    });

    it('shows a duplicate report when it is the only ack of a SENT message', async function () {
      const db = ledger(seeded.dataDir);
      db.prepare(
        `INSERT INTO acks (partner, remote_name, sha256, bytes, valid, status, errors_json, file_date, file_time, message_id, effect, received_at)
         VALUES ('ACME-PHARMA', 'd.xml', 'dd', 1, 1, 'ERROR', ?, '2026-01-03', '09:00:00Z', 3, 'duplicate', ?)`,
      ).run(JSON.stringify([{ code: 'DUPLICATE_FILE', class: 2, message: 'seen', path: '' }]), ago(1));
      db.close();
      const rows = JSON.parse((await run(['messages', '--json', '--state', 'SENT', '--config', config])).out[0]!);
      expect(rows.find((m: { id: string }) => m.id === '3').ack).to.deep.equal({ status: 'ERROR', errors: [{ code: 'DUPLICATE_FILE', class: 2, message: 'seen', path: null }] });
    });

    it('filters by --state (any case) and --partner', async function () {
      const ids = async (...args: string[]) => {
        const r = await run(['messages', '--json', '--config', config, ...args]);
        expect(r.code).to.equal(0);
        return JSON.parse(r.out[0]!).map((m: { id: string }) => m.id);
      };
      expect(await ids('--state', 'SENT')).to.deep.equal(['2', '3']);
      expect(await ids('--state', 'staged')).to.deep.equal(['1', '6', '7']);
      expect(await ids('--state', 'SENDING')).to.deep.equal([]);
      expect(await ids('--partner', 'ACME-PHARMA', '--state', 'REJECTED')).to.deep.equal(['5']);
      expect(await ids('--partner', 'BETA-BIO')).to.deep.equal([]);
    });

    it('an unknown --state exits 2 naming the states', async function () {
      const r = await run(['messages', '--state', 'DONE', '--config', config]);
      expect(r.code).to.equal(2);
      expect(r.err.join('\n')).to.include('unknown state "DONE"').and.include('STAGED');
    });

    it('human output: a row per message', async function () {
      const r = await run(['messages', '--config', config]);
      expect(r.code).to.equal(0);
      expect(r.out[0]).to.match(/^ID\s+FILE CONTROL NO\s+PARTNER/);
      expect(r.out.find((l) => l.includes(fcn(2)))).to.include('SENT (overdue)');
      expect(r.out.find((l) => l.includes(fcn(5)))).to.include('ERROR: E1042/1');
      expect(r.out.at(-1)).to.equal('8 message(s)');
    });
  });

  describe('resend', function () {
    it('SENT -> STAGED, same file, with the transition, the operator action and an archive manifest', async function () {
      const xmlBefore = fs.readFileSync(seeded.xmlOf.get(2)!);
      const r = await run(['resend', '2', '--reason', 'partner lost the file', '--config', config]);
      expect(r.err).to.deep.equal([]);
      expect(r.code).to.equal(0);
      expect(r.out.join('\n')).to.include(fcn(2)).and.include('SENT -> STAGED');

      const db = ledger(seeded.dataDir);
      try {
        const m = db.prepare('SELECT state, fcn, xml_path, overdue_logged_at FROM messages WHERE id = 2').get() as { state: string; fcn: string; xml_path: string };
        expect(m).to.include({ state: 'STAGED', fcn: fcn(2), overdue_logged_at: null });
        expect(fs.readFileSync(m.xml_path).equals(xmlBefore)).to.equal(true);
        const t = db.prepare(`SELECT * FROM transitions WHERE entity = 'message' AND entity_id = 2 ORDER BY id DESC LIMIT 1`).get() as Record<string, string>;
        expect(t).to.include({ from_state: 'SENT', to_state: 'STAGED' });
        expect(t.detail).to.include('partner lost the file');
        expect(t.at).to.match(/Z$/);
        const a = db.prepare('SELECT * FROM operator_actions').all() as Record<string, unknown>[];
        expect(a).to.have.length(1);
        expect(a[0]).to.include({ command: 'resend', target: fcn(2), reason: 'partner lost the file', os_user: os.userInfo().username });
        const man = db.prepare(`SELECT * FROM manifests WHERE kind = 'operator'`).all() as { ref: string; path: string }[];
        expect(man).to.have.length(1);
        expect(man[0]!.ref).to.equal(String(a[0]!.id));
        const manifest = JSON.parse(fs.readFileSync(path.join(seeded.dataDir, 'archive', man[0]!.path), 'utf8'));
        expect(manifest).to.include({ kind: 'operator', command: 'resend', target: fcn(2), reason: 'partner lost the file', osUser: os.userInfo().username, at: a[0]!.at });
        expect(manifest.files).to.deep.equal([]);
        expect(manifest.previousManifestSha256).to.be.a('string');
      } finally {
        db.close();
      }
      // the chain still verifies with the operator manifest in it
      const v = await run(['audit', 'verify', '--config', config]);
      expect(v.out).to.deep.equal(['archive intact: 3 manifests, 5 files']);
      expect(v.code).to.equal(0);
      // and it is STAGED now: a second resend is refused
      expect((await run(['resend', '2', '--reason', 'again', '--config', config])).code).to.equal(1);
    });

    it('accepts the FileControlNumber as the id', async function () {
      const r = await run(['resend', fcn(3), '--reason', 'lost', '--config', config]);
      expect(r.code).to.equal(0);
      const db = ledger(seeded.dataDir);
      expect((db.prepare('SELECT state FROM messages WHERE id = 3').get() as { state: string }).state).to.equal('STAGED');
      db.close();
    });

    it('refuses a message that is not SENT (exit 1) and changes nothing', async function () {
      const r = await run(['resend', '1', '--reason', 'why not', '--config', config]);
      expect(r.code).to.equal(1);
      expect(r.err.join('\n')).to.include('is STAGED').and.include('only a SENT message');
      const db = ledger(seeded.dataDir);
      try {
        expect((db.prepare('SELECT state FROM messages WHERE id = 1').get() as { state: string }).state).to.equal('STAGED');
        expect(db.prepare('SELECT COUNT(*) AS n FROM operator_actions').get()).to.deep.equal({ n: 0 });
        expect(db.prepare(`SELECT COUNT(*) AS n FROM manifests WHERE kind = 'operator'`).get()).to.deep.equal({ n: 0 });
      } finally {
        db.close();
      }
      expect(fs.readdirSync(path.join(seeded.dataDir, 'archive'), { recursive: true }).some((p) => String(p).includes('operator-'))).to.equal(false);
    });

    it('an unknown id, or a message of a file still in conversion, exits 1', async function () {
      const r = await run(['resend', '999', '--reason', 'x', '--config', config]);
      expect(r.code).to.equal(1);
      expect(r.err.join('\n')).to.include('no message 999');
      expect((await run(['resend', '9', '--reason', 'x', '--config', config])).code).to.equal(1);
      expect((await run(['resend', '10', '--reason', 'x', '--config', config])).code).to.equal(1);
    });

    it('refuses when the staged XML changed since staging (a resend must be byte-identical)', async function () {
      fs.appendFileSync(seeded.xmlOf.get(2)!, '<!-- edited -->\n');
      const r = await run(['resend', '2', '--reason', 'x', '--config', config]);
      expect(r.code).to.equal(1);
      expect(r.err.join('\n')).to.include('changed since staging');
    });

    it('a missing or empty --reason, or a missing id, exits 2', async function () {
      for (const args of [['resend', '2'], ['resend', '2', '--reason', '  '], ['resend', '--reason', 'x'], ['resend', '2', '3', '--reason', 'x']]) {
        const r = await run([...args, '--config', config]);
        expect(r.code, args.join(' ')).to.equal(2);
      }
      const db = ledger(seeded.dataDir);
      expect((db.prepare('SELECT state FROM messages WHERE id = 2').get() as { state: string }).state).to.equal('SENT');
      db.close();
    });
  });

  describe('audit verify', function () {
    let archiveRoot: string;
    let batchDir: string;
    beforeEach(function () {
      archiveRoot = path.join(seeded.dataDir, 'archive');
      const db = ledger(seeded.dataDir);
      batchDir = path.dirname((db.prepare(`SELECT path FROM manifests WHERE kind = 'batch'`).get() as { path: string }).path);
      db.close();
    });

    it('intact: exit 0 with the counts', async function () {
      const r = await run(['audit', 'verify', '--config', config]);
      expect(r.out).to.deep.equal(['archive intact: 2 manifests, 5 files']);
      expect(r.code).to.equal(0);
    });

    it('a changed file: exit 1 naming it', async function () {
      const rel = `${batchDir}/${fcn(3)}.xml`;
      fs.appendFileSync(path.join(archiveRoot, rel), 'tampered');
      const r = await run(['audit', 'verify', '--config', config]);
      expect(r.code).to.equal(1);
      expect(r.out).to.have.length(1);
      expect(r.out[0]).to.include('changed').and.include(rel);
    });

    it('a removed file: exit 1 naming it', async function () {
      const rel = `${batchDir}/${fcn(4)}.xml`;
      fs.rmSync(path.join(archiveRoot, rel));
      const r = await run(['audit', 'verify', '--config', config]);
      expect(r.code).to.equal(1);
      expect(r.out.join('\n')).to.include('missing').and.include(rel);
    });

    it('an added file: exit 1 naming it', async function () {
      const rel = `${batchDir}/extra.xml`;
      fs.writeFileSync(path.join(archiveRoot, rel), '<x/>');
      const r = await run(['audit', 'verify', '--config', config]);
      expect(r.code).to.equal(1);
      expect(r.out.join('\n')).to.include('appeared').and.include(rel);
    });

    it('a changed manifest breaks the chain: exit 1 naming it', async function () {
      const rel = `${batchDir}/manifest.json`;
      const p = path.join(archiveRoot, rel);
      fs.writeFileSync(p, fs.readFileSync(p, 'utf8').replace('"ACME-PHARMA"', '"OTHER"'));
      const r = await run(['audit', 'verify', '--config', config]);
      expect(r.code).to.equal(1);
      expect(r.out.join('\n')).to.include(rel);
    });

    it('usage: audit without verify, or with an unknown subcommand, exits 2', async function () {
      expect((await run(['audit', '--config', config])).code).to.equal(2);
      expect((await run(['audit', 'check', '--config', config])).code).to.equal(2);
      expect((await run(['audit', 'verify', 'x', '--config', config])).code).to.equal(2);
    });
  });
});

describe('log', function () {
  it('redact() replaces secret-named fields at any depth and keeps where secrets live', function () {
    const input = { user: 'cmo', password: 'hunter2', sftp: { privateKey: 'KEY', passphrase: 'pp', privateKeyFile: '/etc/k', list: [{ client_secret: 's' }] }, apiToken: 't' };
    expect(redact(input)).to.deep.equal({
      user: 'cmo',
      password: '[redacted]',
      sftp: { privateKey: '[redacted]', passphrase: '[redacted]', privateKeyFile: '/etc/k', list: [{ client_secret: '[redacted]' }] },
      apiToken: '[redacted]',
    });
    expect(input.password).to.equal('hunter2'); // a copy
    const e = Object.assign(new Error('boom'), { code: 'EX', password: 'p' });
    expect(redact({ error: e })).to.deep.equal({ error: { name: 'Error', message: 'boom', code: 'EX', password: '[redacted]' } });
  });

  it('createLogger writes JSON lines with an ISO timestamp on stdout only, at its level, redacted', async function () {
    const lines: string[] = [];
    const errLines: string[] = [];
    const origOut = process.stdout.write;
    const origErr = process.stderr.write;
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      lines.push(String(chunk));
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    }) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string | Uint8Array) => {
      errLines.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      const log = withFields(createLogger('info'), { partner: 'ACME-PHARMA' });
      log.debug('hidden');
      log.info('batch sent', { messages: 3, passphrase: 'secret!' });
      log.error('upload failed', { message: 'not the message', error: new Error('ECONNRESET') });
      await flushLogger();
    } finally {
      process.stdout.write = origOut;
      process.stderr.write = origErr;
    }
    expect(errLines).to.deep.equal([]);
    const parsed = lines.filter((l) => l.trim()).map((l) => JSON.parse(l));
    expect(parsed).to.have.length(2);
    expect(parsed[0]).to.include({ level: 'info', message: 'batch sent', partner: 'ACME-PHARMA', messages: 3, passphrase: '[redacted]' });
    expect(parsed[0].timestamp).to.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(parsed[1]).to.include({ level: 'error', message: 'upload failed' });
    expect(parsed[1].error).to.include({ message: 'ECONNRESET' });
    expect(lines.join('')).to.not.include('secret!');
  });

  it('memoryLogger keeps redacted entries', function () {
    const log = memoryLogger();
    log.warn('w', { password: 'x', n: 1 });
    expect(log.entries).to.deep.equal([{ level: 'warn', message: 'w', fields: { password: '[redacted]', n: 1 } }]);
  });
});
