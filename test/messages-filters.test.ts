// `tlbridge messages` filters (product.md 4) against a real ledger: three fixture files go
// through the real intake (translate, XSD, staging, archive), then each filter must narrow
// the listing to exactly the messages it names. Receipt times are set to known instants so
// --since/--until can be checked at the edges, in the configuration's timezone.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { Archive } from '../src/archive/archive.js';
import { loadConfig } from '../src/config/load.js';
import { processClaimed } from '../src/intake/intake.js';
import { openLedger } from '../src/ledger/db.js';
import { Ledger } from '../src/ledger/ledger.js';
import { nullLogger } from '../src/log.js';
import { parseTimeBound } from '../src/cli/time-bound.js';
import type { MessageRow } from '../src/cli/messages.js';
import { runCli } from './support/cli.js';
import { VALID_DIR } from './support/fixtures.js';

// received at (UTC): issued the evening of Dec 1, produced just before midnight UTC (already
// Dec 2 in Berlin), milestones at 14:02 Berlin time on Dec 2
const FILES = [
  { fixture: 'materials-issued.erp-delimited.txt', name: 'ERP_0001_issued.txt', receivedAt: '2026-12-01T18:00:00.000Z' },
  { fixture: 'materials-produced.erp-delimited.txt', name: 'ERP_0002_produced.txt', receivedAt: '2026-12-01T23:30:00.000Z' },
  { fixture: 'work-order-milestones.erp-delimited.txt', name: 'ERP_0003_milestones.txt', receivedAt: '2026-12-02T13:02:30.000Z' },
];

describe('messages filters on a real ledger', function () {
  let tmp: string;
  let configPath: string;
  let all: MessageRow[];

  const list = async (...args: string[]): Promise<MessageRow[]> => {
    const r = await runCli(['messages', '--json', '--config', configPath, ...args]);
    expect(r.code, r.err.join('\n')).to.equal(0);
    return JSON.parse(r.out.join('\n')) as MessageRow[];
  };
  const ids = (rows: MessageRow[]) => rows.map((r) => r.id);
  const idsWhere = (pred: (r: MessageRow) => boolean) => ids(all.filter(pred));

  before(async function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-mfilter-'));
    configPath = path.join(tmp, 'tlbridge.yaml');
    fs.writeFileSync(
      configPath,
      `sender: { id: "0614141000005", controlNumberPrefix: "T" }
timezone: Europe/Berlin
dataDir: ./var
inbound:
  - { path: ./var/inbound, layout: erp-delimited }
partners:
  ACME-PHARMA:
    receiverId: "0312345000001"
    usage: TEST
    sftp: { host: embedded }
`,
    );
    const config = loadConfig(configPath);
    const db = openLedger(path.join(config.dataDir, 'ledger.sqlite'));
    try {
      const deps = { config, ledger: new Ledger(db), archive: new Archive(path.join(config.dataDir, 'archive'), db), logger: nullLogger };
      const work = path.join(config.dataDir, 'work');
      fs.mkdirSync(work, { recursive: true });
      for (const f of FILES) {
        const workPath = path.join(work, f.name);
        fs.copyFileSync(path.join(VALID_DIR, f.fixture), workPath);
        const out = await processClaimed(deps, { workPath, name: f.name, inbound: config.inbound[0]! });
        expect(out.state, f.name).to.equal('CONVERTED');
        db.prepare('UPDATE files SET received_at = ? WHERE id = ?').run(f.receivedAt, out.fileId);
      }
    } finally {
      db.close();
    }
    all = await list();
    expect(all).to.have.length(9);
  });

  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('--type narrows to one message type (its name in any case)', async function () {
    const issued = await list('--type', 'materials_issued');
    expect(ids(issued)).to.deep.equal(idsWhere((r) => r.messageType === 'MATERIALS_ISSUED')).and.have.length(3);
    expect(ids(await list('--type', 'WORK_ORDER_MILESTONES'))).to.deep.equal(idsWhere((r) => r.messageType === 'WORK_ORDER_MILESTONES'));
  });

  it('--file narrows to one source file; * and ? are wildcards; a name matching nothing lists nothing', async function () {
    expect(ids(await list('--file', 'ERP_0002_produced.txt'))).to.deep.equal(idsWhere((r) => r.sourceFile === 'ERP_0002_produced.txt')).and.have.length(3);
    expect(ids(await list('--file', 'ERP_000?_*ed.txt'))).to.deep.equal(idsWhere((r) => r.sourceFile !== 'ERP_0003_milestones.txt')).and.have.length(6);
    expect(await list('--file', 'ERP_0002')).to.deep.equal([]);
    // a quote in the value is data, not SQL
    expect(await list('--file', "x' OR '1'='1")).to.deep.equal([]);
  });

  it('--reference matches the reference document or the work order number', async function () {
    const doc = await list('--reference', '4900011001');
    expect(doc.map((r) => [r.messageType, r.referenceDocumentNumber])).to.deep.equal([['MATERIALS_ISSUED', '4900011001']]);
    const wo = await list('--reference', 'WO-100234');
    expect(ids(wo)).to.deep.equal(idsWhere((r) => r.workOrderNumber === 'WO-100234'));
    expect(new Set(wo.map((r) => r.messageType))).to.deep.equal(new Set(['MATERIALS_ISSUED', 'MATERIALS_PRODUCED', 'WORK_ORDER_MILESTONES']));
  });

  it('--since/--until on the receipt time: a date is the whole day in the configured timezone, a date-time covers its last unit', async function () {
    const ofFile = (name: string) => idsWhere((r) => r.sourceFile === name);
    // Dec 2 in Berlin runs from 2026-12-01T23:00Z: the produced file (23:30Z) belongs to it
    expect(ids(await list('--since', '2026-12-02', '--until', '2026-12-02'))).to.deep.equal([...ofFile('ERP_0002_produced.txt'), ...ofFile('ERP_0003_milestones.txt')]);
    expect(ids(await list('--until', '2026-12-01'))).to.deep.equal(ofFile('ERP_0001_issued.txt'));
    // "the file the ERP sent at 14:02" (Berlin): the minute 14:02 holds it, 14:03 does not
    expect(ids(await list('--since', '2026-12-02T14:02', '--until', '2026-12-02T14:02'))).to.deep.equal(ofFile('ERP_0003_milestones.txt'));
    expect(await list('--since', '2026-12-02T14:03')).to.deep.equal([]);
    // with an offset: that instant, inclusive at both ends
    expect(ids(await list('--since', '2026-12-01T23:30:00Z', '--until', '2026-12-01T23:30:00Z'))).to.deep.equal(ofFile('ERP_0002_produced.txt'));
    expect(ids(await list('--until', '2026-12-01T23:29:59.999Z'))).to.deep.equal(ofFile('ERP_0001_issued.txt'));
  });

  it('--limit N lists the newest N, oldest first, and combines with the other filters', async function () {
    expect(ids(await list('--limit', '2'))).to.deep.equal(ids(all).slice(-2));
    expect(ids(await list('--limit', '100'))).to.deep.equal(ids(all));
    const issued = idsWhere((r) => r.messageType === 'MATERIALS_ISSUED');
    expect(ids(await list('--type', 'MATERIALS_ISSUED', '--limit', '2'))).to.deep.equal(issued.slice(-2));
    expect(ids(await list('--type', 'MATERIALS_ISSUED', '--partner', 'ACME-PHARMA', '--state', 'staged', '--until', '2026-12-01'))).to.deep.equal(issued);
  });

  it('the table shows the same rows as --json', async function () {
    const r = await runCli(['messages', '--config', configPath, '--file', 'ERP_0003_milestones.txt']);
    expect(r.code).to.equal(0);
    expect(r.out.at(-1)).to.equal('3 message(s)');
    expect(r.out.filter((l) => l.includes('ERP_0003_milestones.txt'))).to.have.length(3);
  });

  it('a wrong filter value exits 2 naming what is wrong', async function () {
    for (const [args, says] of [
      [['--since', '2026-13-01'], '--since'],
      [['--until', '02.12.2026'], '--until'],
      [['--since', '2026-02-30'], '--since'],
      [['--limit', '0'], '--limit'],
      [['--limit', '2x'], '--limit'],
      [['--type', 'NOPE'], 'unknown message type "NOPE"'],
      [['--file', ' '], '--file'],
      [['--since', '2026-12-03', '--until', '2026-12-02'], 'is after'],
    ] as const) {
      const r = await runCli(['messages', '--config', configPath, ...args]);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.err.join('\n'), args.join(' ')).to.include(says);
    }
  });

  it('parseTimeBound: a DST day in the zone is 23 or 25 hours long', function () {
    // Europe/Berlin leaves summer time on 2026-10-25: that day is 25 hours
    expect(parseTimeBound('--since', '2026-10-25', 'Europe/Berlin', 'since')).to.equal('2026-10-24T22:00:00.000Z');
    expect(parseTimeBound('--until', '2026-10-25', 'Europe/Berlin', 'until')).to.equal('2026-10-25T22:59:59.999Z');
    expect(parseTimeBound('--until', '2026-12-02T14:02:05', 'UTC', 'until')).to.equal('2026-12-02T14:02:05.999Z');
    expect(parseTimeBound('--since', '2026-12-02 14:02+05:30', 'UTC', 'since')).to.equal('2026-12-02T08:32:00.000Z');
  });
});
