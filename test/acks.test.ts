// Ack reconciliation (messages.md 2, product.md 1/3/5/6): parse + classify (pure), then the poll
// against a real OpenSSH sshd, a real SQLite ledger and a real archive; overdue flagging; the
// scheduler service; `tlbridge poll-acks`.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { applyAck } from '../src/acks/poll.js';
import { isAckName, afterReadOf } from '../src/acks/poll.js';
import { ackInstant, classify, parseAck, type AckParseOptions } from '../src/acks/parse.js';
import { flagOverdue, isOverdue } from '../src/acks/overdue.js';
import { ackPollService, startAckPollers } from '../src/acks/scheduler.js';
import { tryAcquirePartnerLock } from '../src/ledger/partner-lock.js';
import { MESSAGE_TRANSITIONS } from '../src/ledger/message-states.js';
import { BatchQueries } from '../src/batch/queries.js';
import { main } from '../src/cli/main.js';
import { memoryLogger } from './support/memory-logger.js';
import type { Io } from '../src/cli/io.js';
import { startSshd, sshdUnavailableReason, type TestSshd } from './support/sshd.js';
import {
  ACK_DIR,
  PARTNER,
  RECEIVER_ID,
  SENDER_ID,
  clearServer,
  filesUnder,
  makeAckEnv,
  renderAck,
  seedMessage,
  sha256Hex,
  type AckEnv,
} from './support/acks.js';

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const NS = { ack: 'urn:tracelink:mapper:sl:processing_response', commontypes: 'urn:tracelink:mapper:sl:commontypes' };
const PARSE: AckParseOptions = { namespaces: NS, maxBytes: 8192 };
const DUP = { duplicateErrorCodes: ['DUPLICATE_FILE'] };

const XXE_ACK = (fcn: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n` +
  renderAck({ inputFcn: fcn, status: 'ERROR', errors: [{ code: 'E1', class: 1, message: 'PLACEHOLDER' }] })
    .replace(/^<\?xml[^>]*>\n/, '')
    .replace('PLACEHOLDER', '&e;');

function captureIo(): Io & { outLines: string[]; errLines: string[] } {
  const outLines: string[] = [];
  const errLines: string[] = [];
  return { outLines, errLines, out: (l) => void outLines.push(l), err: (l) => void errLines.push(l) };
}

// ------------------------------------------------------------------------- pure: parse, classify

describe('acks: parse and classify', function () {
  it('reads every field of the messages.md example shape, errors with class as a number and path null when absent', function () {
    const xml = renderAck({
      inputFcn: 'C00000000042',
      ackFcn: 'ACK000000123',
      status: 'ERROR',
      errors: [
        { code: 'E1042', class: 1, message: 'LotNumber unknown to receiver' },
        { code: 'E2001', class: 2, message: 'out of sequence', path: '/MessageBody/Lot[2]' },
      ],
    });
    const r = parseAck(Buffer.from(xml), PARSE);
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    expect(r.ack).to.deep.equal({
      ackFcn: 'ACK000000123',
      sender: RECEIVER_ID,
      receiver: SENDER_ID,
      fileDate: '2026-11-25',
      fileTime: '12:00:00Z',
      inputTransactionType: 'MATPRODUCED',
      inputSender: SENDER_ID,
      inputReceiver: RECEIVER_ID,
      inputFcn: 'C00000000042',
      status: 'ERROR',
      errors: [
        { code: 'E1042', class: 1, message: 'LotNumber unknown to receiver', path: null },
        { code: 'E2001', class: 2, message: 'out of sequence', path: '/MessageBody/Lot[2]' },
      ],
    });
  });

  it('uses the configured namespace URIs, not the prefixes of the document', function () {
    const ns = { ack: 'urn:example:ack', commontypes: 'urn:example:cmn' };
    const xml = renderAck({ inputFcn: 'C1', ieNamespace: ns.ack, cmnNamespace: ns.commontypes });
    // the shipped XSD has the default target namespace: another URI is refused by it ...
    const r = parseAck(xml, { namespaces: ns, maxBytes: 8192 });
    expect(r.ok).to.equal(false);
    // ... and the default URIs with other prefixes are fine
    const other = renderAck({ inputFcn: 'C1' }).replace(/ie:/g, 'p:').replace(/xmlns:ie=/g, 'xmlns:p=').replace(/cmn:/g, 'q:').replace(/xmlns:cmn=/g, 'xmlns:q=');
    const r2 = parseAck(other, PARSE);
    expect(r2.ok, JSON.stringify(r2)).to.equal(true);
    if (r2.ok) expect(r2.ack.inputFcn).to.equal('C1');
  });

  it('refuses a DOCTYPE, a document that is not well-formed, an XSD-invalid one, a too large one and a wrong root, each with its reason', function () {
    const xxe = parseAck(XXE_ACK('C1'), PARSE);
    expect(xxe).to.deep.include({ ok: false });
    expect((xxe as { problem: string }).problem).to.match(/DOCTYPE/);
    const broken = parseAck('<ie:IEProcessingAckMessage xmlns:ie="x"><unclosed>', PARSE);
    expect((broken as { problem: string }).problem).to.match(/^not well-formed XML: /);
    const invalid = parseAck(renderAck({ inputFcn: 'C1', status: 'MAYBE' }), PARSE);
    expect((invalid as { problem: string }).problem).to.match(/not valid against the ack XSD IE_PROCESSING_RESPONSE\.xsd: .*ProcessingStatus/);
    const badClass = parseAck(renderAck({ inputFcn: 'C1', status: 'ERROR', errors: [{ code: 'X', class: 3, message: 'm' }] }), PARSE);
    expect((badClass as { problem: string }).problem).to.match(/ErrorClass/);
    const big = parseAck(renderAck({ inputFcn: 'C1', errors: [{ code: 'W', class: 1, message: 'x'.repeat(9000) }] }), PARSE);
    expect((big as { problem: string }).problem).to.match(/refused: \d+ bytes, more than the limit of 8192/);
    const root = parseAck(`<cmn:FileSenderNumber xmlns:cmn="${NS.commontypes}">1</cmn:FileSenderNumber>`, PARSE);
    expect((root as { problem: string }).problem).to.match(/not an acknowledgment/);
  });

  it('classifies SUCCESS and WARNING as accepted, ERROR as rejected, all-class-2 duplicate codes as duplicate', function () {
    const e = (code: string, cls: number) => ({ code, class: cls, message: 'm', path: null });
    expect(classify({ status: 'SUCCESS', errors: [] }, DUP)).to.equal('accepted');
    expect(classify({ status: 'WARNING', errors: [e('W1', 1)] }, DUP)).to.equal('accepted');
    expect(classify({ status: 'ERROR', errors: [e('E1042', 1)] }, DUP)).to.equal('rejected');
    expect(classify({ status: 'ERROR', errors: [] }, DUP)).to.equal('rejected');
    expect(classify({ status: 'ERROR', errors: [e('DUPLICATE_FILE', 2)] }, DUP)).to.equal('duplicate');
    expect(classify({ status: 'ERROR', errors: [e('DUPLICATE_FILE', 2), e('DUPLICATE_FILE', 2)] }, DUP)).to.equal('duplicate');
    expect(classify({ status: 'ERROR', errors: [e('DUPLICATE_FILE', 2), e('E1042', 1)] }, DUP)).to.equal('rejected');
    expect(classify({ status: 'ERROR', errors: [e('DUPLICATE_FILE', 1)] }, DUP)).to.equal('rejected');
    expect(classify({ status: 'ERROR', errors: [e('SEQ', 2)] }, DUP)).to.equal('rejected');
    expect(classify({ status: 'ERROR', errors: [e('SEQ', 2)] }, { duplicateErrorCodes: ['SEQ'] })).to.equal('duplicate');
  });

  it('orders acks by FileDate + FileTime', function () {
    expect(ackInstant('2026-11-25', '00:00:01Z')! > ackInstant('2026-11-24', '23:59:59Z')!).to.equal(true);
    expect(ackInstant('2026-11-25', '12:00:00Z')).to.equal(Date.parse('2026-11-25T12:00:00Z'));
    expect(ackInstant('2026-11-25', '12:00:00')).to.equal(Date.parse('2026-11-25T12:00:00Z'));
    expect(ackInstant('garbage', '12:00:00Z')).to.equal(null);
  });

  it('knows which names are acks and where ackAfterRead moves them', function () {
    expect(isAckName('ACK1.xml', '.part')).to.equal(true);
    expect(isAckName('ACK1.XML', '.part')).to.equal(true);
    expect(isAckName('ACK1.xml.part', '.part')).to.equal(false);
    expect(isAckName('.ACK1.xml', '.part')).to.equal(false);
    expect(isAckName('notes.txt', '.part')).to.equal(false);
    expect(afterReadOf({ ackAfterRead: 'move:/processed', ackDir: ACK_DIR })).to.deep.equal({ kind: 'move', dir: '/processed' });
    expect(afterReadOf({ ackAfterRead: 'move:done/', ackDir: ACK_DIR })).to.deep.equal({ kind: 'move', dir: `${ACK_DIR}/done` });
    expect(afterReadOf({ ackAfterRead: 'keep', ackDir: ACK_DIR })).to.deep.equal({ kind: 'keep' });
    expect(afterReadOf({ ackAfterRead: 'delete', ackDir: ACK_DIR })).to.deep.equal({ kind: 'delete' });
  });
});

describe('acks: overdue (pure rule)', function () {
  it('isOverdue: strictly older than the deadline', function () {
    const now = new Date('2026-11-25T12:00:00.000Z');
    expect(isOverdue('2026-11-25T08:00:00.000Z', 240, now)).to.equal(false); // exactly 240 minutes
    expect(isOverdue('2026-11-25T07:59:59.999Z', 240, now)).to.equal(true);
    expect(isOverdue(new Date('2026-11-25T11:59:00.000Z'), 1, now)).to.equal(false);
    expect(isOverdue('2026-11-25T11:58:59.000Z', 1, now)).to.equal(true);
    expect(isOverdue('not a date', 1, now)).to.equal(false);
  });
});

// ------------------------------------------------------------------------- against a real sshd

describe('acks: poll against a real OpenSSH sshd', function () {
  let sshd: TestSshd;
  let env: AckEnv;
  let fcnSeq = 0;
  const nextFcn = (): string => `T${String(++fcnSeq).padStart(12, '0')}`;

  before(async function () {
    const why = sshdUnavailableReason();
    if (why) {
      console.log(`      SKIPPED: no private OpenSSH sshd on this machine: ${why}`);
      this.skip();
    }
    sshd = await startSshd({ dirs: ['/inbox', ACK_DIR] });
  });

  after(async function () {
    await sshd?.dispose();
  });

  beforeEach(function () {
    clearServer(sshd);
  });

  afterEach(async function () {
    if (env) {
      const problems = env.archive.verify();
      await env.close();
      env = undefined as unknown as AckEnv;
      if (problems.length) throw new Error(`archive chain not intact after the test: ${problems.join('; ')}`);
    }
  });

  const manifestOf = (dir: string): Record<string, unknown> =>
    JSON.parse(fs.readFileSync(path.join(env.config.dataDir, 'archive', dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;

  it('SUCCESS -> ACCEPTED: archived with a manifest naming its batch and message, transition recorded, deleted on the server', async function () {
    env = makeAckEnv(sshd);
    const m = seedMessage(env.db, { fcn: nextFcn() });
    const other = seedMessage(env.db, { fcn: nextFcn() });
    const xml = renderAck({ inputFcn: m.fcn, status: 'SUCCESS', ackFcn: 'ACK000000001' });
    env.put('ACK000000001.xml', xml);

    const r = await env.poll();
    expect(r).to.deep.equal({ read: 1, applied: 1, duplicates: 0, superseded: 0, unmatched: 0, invalid: 0, skipped: 0, errors: 0 });
    expect(env.message(m.id)).to.include({ state: 'ACCEPTED', last_error: null });
    expect(env.message(other.id).state).to.equal('SENT');
    const t = env.transitions(m.id).at(-1)!;
    expect(t).to.include({ from_state: 'SENT', to_state: 'ACCEPTED' });
    expect(t.at).to.match(ISO_UTC);
    expect(t.detail).to.contain('ACK000000001');

    const [row] = env.acks();
    expect(row).to.include({ partner: PARTNER, remote_name: 'ACK000000001.xml', valid: 1, effect: 'accepted', status: 'SUCCESS', message_id: m.id, input_fcn: m.fcn, ack_fcn: 'ACK000000001' });
    expect(row!.sha256).to.equal(sha256Hex(xml));
    expect(row!.bytes).to.equal(Buffer.byteLength(xml));
    expect(row!.file_date).to.equal('2026-11-25');
    expect(row!.file_time).to.equal('12:00:00Z');
    expect(JSON.parse(row!.errors_json!)).to.deep.equal([]);

    const manifest = manifestOf(row!.archive_dir!);
    expect(manifest.kind).to.equal('acks');
    expect(manifest.partner).to.equal(PARTNER);
    expect(manifest.remoteName).to.equal('ACK000000001.xml');
    expect(manifest.answers).to.deep.equal([{ batchId: m.batchId, messageId: m.id, fcn: m.fcn, effect: 'accepted', from: 'SENT', to: 'ACCEPTED' }]);
    // archived as ack.xml: a remote name never builds a local path (the manifest keeps it)
    expect(manifest.files).to.deep.equal([{ path: 'ack.xml', sha256: sha256Hex(xml), bytes: Buffer.byteLength(xml) }]);
    expect(fs.readFileSync(path.join(env.config.dataDir, 'archive', row!.archive_dir!, 'ack.xml'), 'utf8')).to.equal(xml);
    // the whole sha256 in the folder name: two acks never share a folder
    expect(row!.archive_dir).to.match(/^\d{4}\/\d{2}\/\d{2}\/acks-ACME-PHARMA-[0-9a-f]{64}$/);
    expect(row!.archive_dir!.endsWith(sha256Hex(xml))).to.equal(true);

    expect(env.serverFiles()).to.deep.equal([]);
    expect(env.logger.entries.some((e) => e.level === 'info' && e.message === 'message ACCEPTED' && e.fields.messageId === m.id)).to.equal(true);
    expect(env.archive.verify()).to.deep.equal([]);
    // nothing left in the download folder
    expect(filesUnder(path.join(env.config.dataDir, 'ack-work'))).to.deep.equal([]);
  });

  it('WARNING -> ACCEPTED with its warnings kept', async function () {
    env = makeAckEnv(sshd);
    const m = seedMessage(env.db, { fcn: nextFcn() });
    const warnings = [
      { code: 'W0100', class: 1, message: 'ShipToNumber empty, defaulted', path: '/ie:MessageBody/ShipTo' },
      { code: 'W0200', class: 1, message: 'Quantity rounded' },
    ];
    env.put('W.xml', renderAck({ inputFcn: m.fcn, status: 'WARNING', errors: warnings }));
    const r = await env.poll();
    expect(r.applied).to.equal(1);
    expect(env.message(m.id)).to.include({ state: 'ACCEPTED', last_error: null });
    const [row] = env.acks();
    expect(row).to.include({ effect: 'accepted', status: 'WARNING' });
    expect(JSON.parse(row!.errors_json!)).to.deep.equal([
      { code: 'W0100', class: 1, message: 'ShipToNumber empty, defaulted', path: '/ie:MessageBody/ShipTo' },
      { code: 'W0200', class: 1, message: 'Quantity rounded', path: null },
    ]);
  });

  it('ERROR -> REJECTED with every error code and message stored', async function () {
    env = makeAckEnv(sshd);
    const m = seedMessage(env.db, { fcn: nextFcn() });
    const errors = [
      { code: 'E1042', class: 1, message: 'LotNumber unknown to receiver' },
      { code: 'E1043', class: 1, message: 'ExpirationDate before ManufacturingDate', path: '/Lot[1]/ExpirationDate' },
      { code: 'E2001', class: 2, message: 'out of sequence' },
    ];
    env.put('E.xml', renderAck({ inputFcn: m.fcn, status: 'ERROR', errors }));
    const r = await env.poll();
    expect(r).to.include({ applied: 1, errors: 0 });
    const msg = env.message(m.id);
    expect(msg.state).to.equal('REJECTED');
    for (const e of errors) {
      expect(msg.last_error).to.contain(e.code);
      expect(msg.last_error).to.contain(e.message);
    }
    expect(env.transitions(m.id).at(-1)).to.include({ from_state: 'SENT', to_state: 'REJECTED' });
    const [row] = env.acks();
    expect(row).to.include({ effect: 'rejected', status: 'ERROR', valid: 1 });
    expect(JSON.parse(row!.errors_json!)).to.deep.equal(errors.map((e) => ({ ...e, path: e.path ?? null })));
    expect(env.logger.entries.some((e) => e.level === 'warn' && e.message === 'message REJECTED')).to.equal(true);
  });

  it('a class-2 DUPLICATE_FILE report confirms delivery and changes no state (ACCEPTED stays ACCEPTED, SENT stays SENT), kept in the history', async function () {
    env = makeAckEnv(sshd);
    const m = seedMessage(env.db, { fcn: nextFcn() });
    const resent = seedMessage(env.db, { fcn: nextFcn() });
    env.put('A1.xml', renderAck({ inputFcn: m.fcn, status: 'SUCCESS', fileTime: '12:00:00Z' }));
    await env.poll();
    expect(env.message(m.id).state).to.equal('ACCEPTED');
    const before = env.transitions(m.id).length;
    const resentBefore = env.transitions(resent.id).length;

    const dup = [{ code: 'DUPLICATE_FILE', class: 2, message: 'file already received' }];
    env.put('A2.xml', renderAck({ inputFcn: m.fcn, status: 'ERROR', errors: dup, fileTime: '13:00:00Z' }));
    env.put('A3.xml', renderAck({ inputFcn: resent.fcn, status: 'ERROR', errors: dup, fileTime: '13:00:00Z' }));
    const r = await env.poll();
    expect(r).to.include({ read: 2, duplicates: 2, applied: 0, errors: 0 });
    expect(env.message(m.id)).to.include({ state: 'ACCEPTED', last_error: null });
    expect(env.message(resent.id)).to.include({ state: 'SENT', last_error: null });
    expect(env.transitions(m.id)).to.have.length(before); // no transitions row: not a state change
    expect(env.transitions(resent.id)).to.have.length(resentBefore);
    const rows = env.acks().filter((a) => a.effect === 'duplicate');
    expect(rows.map((a) => a.message_id).sort()).to.deep.equal([m.id, resent.id].sort());
    const mine = rows.find((a) => a.message_id === m.id)!;
    expect(mine.problem).to.match(/duplicate report \(DUPLICATE_FILE\): confirms delivery of T\d+; its state stays ACCEPTED/);
    expect(JSON.parse(mine.errors_json!)).to.deep.equal([{ code: 'DUPLICATE_FILE', class: 2, message: 'file already received', path: null }]);
    expect(manifestOf(mine.archive_dir!).answers).to.deep.equal([{ batchId: m.batchId, messageId: m.id, fcn: m.fcn, effect: 'duplicate' }]);
    // a later duplicate report does not hide the decisive ack: the ACCEPTED one is still there
    expect(env.acks().filter((a) => a.message_id === m.id).map((a) => a.effect)).to.deep.equal(['accepted', 'duplicate']);
  });

  it('the ack with the later FileDate + FileTime decides: ACCEPTED -> REJECTED; an older one arriving later changes nothing (superseded)', async function () {
    env = makeAckEnv(sshd);
    const m = seedMessage(env.db, { fcn: nextFcn() });
    env.put('1.xml', renderAck({ inputFcn: m.fcn, status: 'SUCCESS', fileDate: '2026-11-24', fileTime: '23:59:59Z' }));
    await env.poll();
    expect(env.message(m.id).state).to.equal('ACCEPTED');

    env.put('2.xml', renderAck({ inputFcn: m.fcn, status: 'ERROR', fileDate: '2026-11-25', fileTime: '00:00:01Z', errors: [{ code: 'E9', class: 1, message: 'late rejection' }] }));
    let r = await env.poll();
    expect(r.applied).to.equal(1);
    expect(env.message(m.id).state).to.equal('REJECTED');
    expect(env.message(m.id).last_error).to.contain('E9');
    expect(env.transitions(m.id).at(-1)).to.include({ from_state: 'ACCEPTED', to_state: 'REJECTED' });
    const count = env.transitions(m.id).length;

    // older than the ERROR one (but later than the first): arrives last, changes nothing
    env.put('3.xml', renderAck({ inputFcn: m.fcn, status: 'SUCCESS', fileDate: '2026-11-24', fileTime: '23:59:59Z', ackFcn: 'ACKOLD' }));
    r = await env.poll();
    expect(r).to.include({ superseded: 1, applied: 0 });
    expect(env.message(m.id).state).to.equal('REJECTED');
    expect(env.message(m.id).last_error).to.contain('E9');
    expect(env.transitions(m.id)).to.have.length(count);
    const sup = env.acks().find((a) => a.ack_fcn === 'ACKOLD')!;
    expect(sup).to.include({ effect: 'superseded', message_id: m.id, valid: 1 });
    expect(sup.problem).to.match(/not later than ack \d+/);

    // and a later SUCCESS flips it back
    env.put('4.xml', renderAck({ inputFcn: m.fcn, status: 'SUCCESS', fileDate: '2026-11-26', fileTime: '08:00:00Z' }));
    r = await env.poll();
    expect(r.applied).to.equal(1);
    expect(env.message(m.id)).to.include({ state: 'ACCEPTED', last_error: null });
    expect(env.transitions(m.id).at(-1)).to.include({ from_state: 'REJECTED', to_state: 'ACCEPTED' });
  });

  it('keep: the same ack read twice is recognised without downloading it again and changes nothing', async function () {
    env = makeAckEnv(sshd, { ackAfterRead: 'keep' });
    const m = seedMessage(env.db, { fcn: nextFcn() });
    env.put('K.xml', renderAck({ inputFcn: m.fcn, status: 'SUCCESS' }));
    let r = await env.poll();
    expect(r).to.include({ read: 1, applied: 1 });
    expect(env.serverFiles()).to.deep.equal(['K.xml']); // kept
    const transitions = env.transitions(m.id).length;
    const manifests = env.manifests();

    r = await env.poll();
    expect(r).to.deep.equal({ read: 0, applied: 0, duplicates: 0, superseded: 0, unmatched: 0, invalid: 0, skipped: 1, errors: 0 });
    expect(env.acks()).to.have.length(1);
    expect(env.transitions(m.id)).to.have.length(transitions);
    expect(env.manifests()).to.equal(manifests);
    expect(env.serverFiles()).to.deep.equal(['K.xml']);

    // the same name with other content (rewritten on the server later): read, by its sha256
    const m2 = seedMessage(env.db, { fcn: nextFcn() });
    const rewritten = env.put('K.xml', renderAck({ inputFcn: m2.fcn, status: 'SUCCESS' }));
    const later = new Date(Date.now() + 5_000); // SFTP mtimes have whole seconds
    fs.utimesSync(rewritten, later, later);
    r = await env.poll();
    expect(r).to.include({ read: 1, applied: 1 });
    expect(env.message(m2.id).state).to.equal('ACCEPTED');
  });

  it('delete: the same file uploaded again after it was deleted is read again but applies nothing, and is deleted again', async function () {
    env = makeAckEnv(sshd);
    const m = seedMessage(env.db, { fcn: nextFcn() });
    const xml = renderAck({ inputFcn: m.fcn, status: 'SUCCESS' });
    env.put('D.xml', xml);
    expect(await env.poll()).to.include({ read: 1, applied: 1 });
    expect(env.serverFiles()).to.deep.equal([]);
    const transitions = env.transitions(m.id).length;
    const manifests = env.manifests();

    env.put('D.xml', xml);
    env.put('D-copy.xml', xml);
    const r = await env.poll();
    expect(r).to.deep.equal({ read: 2, applied: 0, duplicates: 0, superseded: 0, unmatched: 0, invalid: 0, skipped: 2, errors: 0 });
    expect(env.acks()).to.have.length(1);
    expect(env.transitions(m.id)).to.have.length(transitions);
    expect(env.manifests()).to.equal(manifests);
    expect(env.serverFiles()).to.deep.equal([]);
  });

  it('crash between download and delete: the apply step ran, the file was not deleted; the next poll applies nothing twice and deletes it', async function () {
    env = makeAckEnv(sshd);
    const m = seedMessage(env.db, { fcn: nextFcn() });
    const xml = renderAck({ inputFcn: m.fcn, status: 'ERROR', errors: [{ code: 'E1', class: 1, message: 'bad lot' }] });
    const remote = env.put('CRASH.xml', xml);
    // what the poll did before "crashing": downloaded, applied and committed ...
    const out = applyAck({ db: env.db, config: env.config, archive: env.archive, partner: PARTNER }, { kind: 'file', remoteName: 'CRASH.xml', data: fs.readFileSync(remote) });
    expect(out).to.include({ already: false, effect: 'rejected' });
    // ... but the delete never happened
    expect(env.serverFiles()).to.deep.equal(['CRASH.xml']);
    expect(env.message(m.id).state).to.equal('REJECTED');
    const transitions = env.transitions(m.id);
    const manifests = env.manifests();

    const r = await env.poll();
    expect(r).to.include({ read: 1, skipped: 1, applied: 0, errors: 0 });
    expect(env.serverFiles()).to.deep.equal([]); // deleted now
    expect(env.acks()).to.have.length(1); // nothing lost, nothing twice
    expect(env.transitions(m.id)).to.deep.equal(transitions);
    expect(env.transitions(m.id).filter((t) => t.to_state === 'REJECTED')).to.have.length(1);
    expect(env.manifests()).to.equal(manifests);
    expect(env.message(m.id).state).to.equal('REJECTED');
    expect(fs.readFileSync(path.join(env.config.dataDir, 'archive', env.acks()[0]!.archive_dir!, 'ack.xml'), 'utf8')).to.equal(xml);
  });

  it('malformed, oversized, XSD-invalid and XXE acks: archived, reported as invalid, no state change; root:x:0:0 appears nowhere; the good ack beside them is applied', async function () {
    expect(fs.readFileSync('/etc/passwd', 'utf8')).to.contain('root:x:0:0'); // or the XXE check proves nothing
    env = makeAckEnv(sshd, { maxAckBytes: 8192 });
    const [a, b, c, d, good] = [1, 2, 3, 4, 5].map(() => seedMessage(env.db, { fcn: nextFcn() }));
    const malformed = `<?xml version="1.0"?>\n<ie:IEProcessingAckMessage xmlns:ie="${NS.ack}"><ie:ControlFileHeader>${a!.fcn}</ie:IEProcessingAckMessage>`;
    const oversized = renderAck({ inputFcn: b!.fcn, status: 'ERROR', errors: [{ code: 'E1', class: 1, message: 'x'.repeat(20000) }] });
    const xsdInvalid = renderAck({ inputFcn: c!.fcn, status: 'PROBABLY' });
    const xxe = XXE_ACK(d!.fcn);
    env.put('bad-1-malformed.xml', malformed);
    env.put('bad-2-oversized.xml', oversized);
    env.put('bad-3-xsd.xml', xsdInvalid);
    env.put('bad-4-xxe.xml', xxe);
    env.put('good.xml', renderAck({ inputFcn: good!.fcn, status: 'SUCCESS' }));

    const r = await env.poll();
    expect(r).to.deep.equal({ read: 5, applied: 1, duplicates: 0, superseded: 0, unmatched: 0, invalid: 4, skipped: 0, errors: 0 });
    for (const m of [a, b, c, d]) expect(env.message(m!.id).state, m!.fcn).to.equal('SENT');
    expect(env.message(good!.id).state).to.equal('ACCEPTED');
    // handled per ackAfterRead (delete), except the one too large to archive: it stays for an operator
    expect(env.serverFiles()).to.deep.equal(['bad-2-oversized.xml']);
    const quiet = await env.poll();
    expect(quiet).to.include({ invalid: 0, skipped: 1, errors: 0 });
    expect(env.serverFiles()).to.deep.equal(['bad-2-oversized.xml']);

    const byName = new Map(env.acks().map((row) => [row.remote_name, row]));
    const problems: Record<string, RegExp> = {
      'bad-1-malformed.xml': /^not well-formed XML: /,
      'bad-2-oversized.xml': /^too large: \d+ bytes, more than maxAckBytes \(8192\)/,
      'bad-3-xsd.xml': /^not valid against the ack XSD/,
      'bad-4-xxe.xml': /DOCTYPE/,
    };
    const originals: Record<string, string> = { 'bad-1-malformed.xml': malformed, 'bad-3-xsd.xml': xsdInvalid, 'bad-4-xxe.xml': xxe };
    for (const [name, re] of Object.entries(problems)) {
      const row = byName.get(name)!;
      expect(row, name).to.include({ valid: 0, effect: 'invalid', message_id: null, status: null });
      expect(row.problem, name).to.match(re);
      const manifest = manifestOf(row.archive_dir!);
      expect(manifest.remoteName).to.equal(name);
      expect(manifest.valid).to.equal(false);
      expect(manifest.answers).to.deep.equal([]);
      if (originals[name] !== undefined) {
        expect(fs.readFileSync(path.join(env.config.dataDir, 'archive', row.archive_dir!, 'ack.xml'), 'utf8'), name).to.equal(originals[name]);
        expect(row.sha256).to.equal(sha256Hex(originals[name]!));
      } else {
        // too large: never downloaded; the manifest names it, the content is not there
        expect(manifest.files).to.deep.equal([]);
        expect(row.bytes).to.equal(Buffer.byteLength(oversized));
        expect(row.sha256).to.match(/^too-large:[0-9a-f]{64}$/);
        expect(row.archive_dir!.endsWith(`/acks-${PARTNER}-toolarge-${row.sha256.slice('too-large:'.length)}`)).to.equal(true);
      }
      expect(env.logger.entries.some((e) => e.level === 'error' && e.message.startsWith('invalid ack') && e.fields.remoteName === name), name).to.equal(true);
    }

    // XXE: the entity was never expanded, anywhere
    const needle = 'root:x:0:0';
    const ledgerFiles = ['ledger.sqlite', 'ledger.sqlite-wal', 'ledger.sqlite-shm'].map((f) => path.join(env.config.dataDir, f)).filter((f) => fs.existsSync(f));
    expect(ledgerFiles.length).to.be.greaterThan(0);
    for (const f of [...ledgerFiles, ...filesUnder(path.join(env.config.dataDir, 'archive')), ...filesUnder(env.dir)]) {
      expect(fs.readFileSync(f).includes(needle), f).to.equal(false);
    }
    expect(JSON.stringify(env.logger.entries)).not.to.contain(needle);
    expect(JSON.stringify(env.acks())).not.to.contain(needle);
    // what was archived is the document as received (the reference, not its expansion)
    expect(fs.readFileSync(path.join(env.config.dataDir, 'archive', byName.get('bad-4-xxe.xml')!.archive_dir!, 'ack.xml'), 'utf8')).to.contain('file:///etc/passwd');

    // read again (same content uploaded again): nothing new
    env.put('bad-3-xsd-again.xml', xsdInvalid);
    const again = await env.poll();
    expect(again).to.include({ read: 2, skipped: 2, invalid: 0 });
  });

  it('an ack for an unknown FileControlNumber, or from other sender/receiver numbers, is kept as unmatched', async function () {
    env = makeAckEnv(sshd);
    const m = seedMessage(env.db, { fcn: nextFcn() });
    env.put('U1.xml', renderAck({ inputFcn: 'Z999999999999', status: 'SUCCESS' }));
    env.put('U2.xml', renderAck({ inputFcn: m.fcn, status: 'SUCCESS', inputSender: '9999999999999' }));
    env.put('U3.xml', renderAck({ inputFcn: m.fcn, status: 'ERROR', inputReceiver: '8888888888888', errors: [{ code: 'E', class: 1, message: 'm' }] }));
    const r = await env.poll();
    expect(r).to.include({ read: 3, unmatched: 3, applied: 0, errors: 0 });
    expect(env.message(m.id).state).to.equal('SENT');
    const rows = env.acks();
    expect(rows.map((x) => [x.remote_name, x.effect, x.valid, x.message_id])).to.deep.equal([
      ['U1.xml', 'unmatched', 1, null],
      ['U2.xml', 'unmatched', 1, null],
      ['U3.xml', 'unmatched', 1, null],
    ]);
    expect(rows[0]!.problem).to.contain('Z999999999999');
    expect(rows[1]!.problem).to.match(/InputFileSenderNumber 9999999999999 is not our sender.id/);
    expect(rows[2]!.problem).to.match(/InputFileReceiverNumber 8888888888888/);
    expect(rows[0]!.input_fcn).to.equal('Z999999999999');
    // kept: archived, with the answered number in the manifest
    const manifest = manifestOf(rows[0]!.archive_dir!);
    expect(manifest).to.include({ effect: 'unmatched', inputFileControlNumber: 'Z999999999999' });
    expect(fs.existsSync(path.join(env.config.dataDir, 'archive', rows[0]!.archive_dir!, 'ack.xml'))).to.equal(true);
    expect(env.logger.entries.filter((e) => e.level === 'warn' && e.message.startsWith('unmatched ack'))).to.have.length(3);
    // status counts them
    expect((env.db.prepare(`SELECT COUNT(*) AS n FROM acks WHERE effect = 'unmatched'`).get() as { n: number }).n).to.equal(3);
  });

  it('move:/processed moves each ack there after the commit, adding a suffix when the name exists', async function () {
    env = makeAckEnv(sshd, { ackAfterRead: 'move:/processed' });
    const m1 = seedMessage(env.db, { fcn: nextFcn() });
    const m2 = seedMessage(env.db, { fcn: nextFcn() });
    const first = renderAck({ inputFcn: m1.fcn, status: 'SUCCESS' });
    env.put('SAME.xml', first);
    expect(await env.poll()).to.include({ applied: 1, errors: 0 });
    const processed = path.join(sshd.root, 'processed');
    expect(env.serverFiles()).to.deep.equal([]);
    expect(env.serverFiles(processed)).to.deep.equal(['SAME.xml']);
    expect(fs.readFileSync(path.join(processed, 'SAME.xml'), 'utf8')).to.equal(first);

    const second = renderAck({ inputFcn: m2.fcn, status: 'SUCCESS' });
    env.put('SAME.xml', second);
    expect(await env.poll()).to.include({ applied: 1, errors: 0 });
    expect(env.serverFiles()).to.deep.equal([]);
    expect(env.serverFiles(processed)).to.deep.equal(['SAME.xml', 'SAME.xml.1']);
    expect(fs.readFileSync(path.join(processed, 'SAME.xml'), 'utf8')).to.equal(first); // never overwritten
    expect(fs.readFileSync(path.join(processed, 'SAME.xml.1'), 'utf8')).to.equal(second);
    expect(env.message(m2.id).state).to.equal('ACCEPTED');
  });

  it('ignores dotfiles, temp names and non-xml files; an ack of a SENDING message proves the upload (SENDING -> SENT, then its outcome); one of a STAGED message waits', async function () {
    env = makeAckEnv(sshd);
    const staged = seedMessage(env.db, { fcn: nextFcn(), state: 'STAGED' });
    const sending = seedMessage(env.db, { fcn: nextFcn(), state: 'SENDING' });
    const ignored = seedMessage(env.db, { fcn: nextFcn() });
    const ack = (fcn: string) => renderAck({ inputFcn: fcn, status: 'SUCCESS' });
    env.put('.hidden.xml', ack(ignored.fcn));
    env.put('partial.xml.part', ack(ignored.fcn));
    env.put('readme.txt', ack(ignored.fcn));
    env.put('S1.xml', ack(staged.fcn));
    env.put('S2.xml', renderAck({ inputFcn: sending.fcn, status: 'ERROR', errors: [{ code: 'E7', class: 1, message: 'no' }] }));
    const stagedBefore = env.transitions(staged.id);
    const r = await env.poll();
    expect(r).to.include({ read: 2, applied: 1, pending: 1, errors: 0 });
    expect(env.serverFiles()).to.deep.equal(['.hidden.xml', 'partial.xml.part', 'readme.txt']);
    expect(env.message(ignored.id).state).to.equal('SENT');
    // STAGED: recorded, archived, no state change; applied when it is SENT again (next test)
    expect(env.message(staged.id).state).to.equal('STAGED');
    expect(env.transitions(staged.id)).to.deep.equal(stagedBefore);
    const s1 = env.acks().find((a) => a.remote_name === 'S1.xml')!;
    expect(s1).to.include({ effect: 'pending', message_id: staged.id, valid: 1 });
    expect(s1.problem).to.match(/STAGED \(resent\).*applied when it is SENT again/);
    expect(manifestOf(s1.archive_dir!).answers).to.deep.equal([{ batchId: staged.batchId, messageId: staged.id, fcn: staged.fcn, effect: 'pending' }]);
    // SENDING: two transitions, the proof of upload and the outcome
    expect(env.message(sending.id).state).to.equal('REJECTED');
    const t = env.transitions(sending.id).slice(-2);
    expect(t.map((x) => [x.from_state, x.to_state])).to.deep.equal([
      ['SENDING', 'SENT'],
      ['SENT', 'REJECTED'],
    ]);
    expect(t[0]!.detail).to.match(/S2\.xml.*: proves the upload$/);
    expect((env.db.prepare('SELECT sent_at FROM messages WHERE id = ?').get(sending.id) as { sent_at: string }).sent_at).to.equal(t[0]!.at);
    const s2 = env.acks().find((a) => a.remote_name === 'S2.xml')!;
    expect(manifestOf(s2.archive_dir!).answers).to.deep.equal([{ batchId: sending.batchId, messageId: sending.id, fcn: sending.fcn, effect: 'rejected', from: 'SENDING', to: 'REJECTED' }]);
  });

  it('an ack recorded while STAGED is applied when the message is SENT again; the latest one decides', async function () {
    env = makeAckEnv(sshd);
    const m = seedMessage(env.db, { fcn: nextFcn(), state: 'STAGED' });
    env.put('P1.xml', renderAck({ inputFcn: m.fcn, status: 'SUCCESS', fileTime: '12:00:00Z' }));
    env.put('P2.xml', renderAck({ inputFcn: m.fcn, status: 'ERROR', fileTime: '12:30:00Z', errors: [{ code: 'E5', class: 1, message: 'bad qty' }] }));
    expect(await env.poll()).to.include({ read: 2, pending: 2, applied: 0 });
    expect(env.message(m.id).state).to.equal('STAGED');
    // the next batch cycle claims it and uploads it (its own SENT commit)
    const q = new BatchQueries(env.db);
    expect(q.claim(PARTNER, 10)!.messages.map((x) => x.id)).to.deep.equal([m.id]);
    await q.loadAckApply([m.id]);
    expect(q.markSent(m.id, `/inbox/MATERIALS_PRODUCED/${m.fcn}.xml`, 'batch x: uploaded')).to.equal(true);
    expect(env.message(m.id)).to.include({ state: 'REJECTED', last_error: 'E5 (class 1): bad qty' });
    const t = env.transitions(m.id).slice(-3);
    expect(t.map((x) => [x.from_state, x.to_state])).to.deep.equal([
      ['STAGED', 'SENDING'],
      ['SENDING', 'SENT'],
      ['SENT', 'REJECTED'],
    ]);
    expect(t[2]!.at).to.equal(t[1]!.at); // the same transaction as the SENT
    expect(t[2]!.detail).to.match(/P2\.xml.*recorded while STAGED, applied now it is SENT/);
    const rows = env.acks();
    expect(rows.map((a) => [a.remote_name, a.effect])).to.deep.equal([
      ['P1.xml', 'superseded'],
      ['P2.xml', 'rejected'],
    ]);
    expect(rows[0]!.problem).to.match(/recorded while the message was STAGED; not later than ack/);
    // the messages view shows the applied outcome
    expect((env.db.prepare(`SELECT COUNT(*) AS n FROM acks WHERE effect = 'pending'`).get() as { n: number }).n).to.equal(0);
  });

  it('the race: an ack lands before the cycle\'s own SENT commit; markSent then finds it done (no error, no second SENT)', async function () {
    env = makeAckEnv(sshd);
    const m = seedMessage(env.db, { fcn: nextFcn(), state: 'SENDING' });
    env.db.prepare('UPDATE messages SET remote_path = NULL WHERE id = ?').run(m.id);
    env.put('R1.xml', renderAck({ inputFcn: m.fcn, status: 'SUCCESS' }));
    expect(await env.poll()).to.include({ read: 1, applied: 1 });
    expect(env.message(m.id).state).to.equal('ACCEPTED');
    const before = env.transitions(m.id);
    const q = new BatchQueries(env.db);
    expect(q.markSent(m.id, `/inbox/MATERIALS_PRODUCED/${m.fcn}.xml`, 'batch 1: uploaded')).to.equal(true);
    expect(env.message(m.id).state).to.equal('ACCEPTED');
    expect(env.transitions(m.id)).to.deep.equal(before);
    expect(q.message(m.id)!.remote_path).to.equal(`/inbox/MATERIALS_PRODUCED/${m.fcn}.xml`);
    expect(q.deliveredInBatch(m.batchId).map((x) => x.id)).to.deep.equal([m.id]);
    // it left SENDING otherwise (e.g. back to STAGED): markSent says so
    const other = seedMessage(env.db, { fcn: nextFcn(), state: 'STAGED' });
    expect(q.markSent(other.id, '/x', 'batch 1')).to.equal(false);
    expect(q.markStaged(other.id, 'x', true)).to.equal(false);
  });

  it('acks of HELD or CANCELLED messages are recorded only, as alerts that need an operator', async function () {
    env = makeAckEnv(sshd);
    const held = seedMessage(env.db, { fcn: nextFcn(), state: 'HELD' });
    const cancelled = seedMessage(env.db, { fcn: nextFcn(), state: 'CANCELLED' });
    const before = [env.transitions(held.id), env.transitions(cancelled.id)];
    env.put('H1.xml', renderAck({ inputFcn: held.fcn, status: 'SUCCESS' }));
    env.put('C1.xml', renderAck({ inputFcn: cancelled.fcn, status: 'ERROR', errors: [{ code: 'E1', class: 1, message: 'bad' }] }));
    env.put('C2.xml', renderAck({ inputFcn: cancelled.fcn, status: 'ERROR', fileTime: '13:00:00Z', errors: [{ code: 'DUPLICATE_FILE', class: 2, message: 'dup' }] }));
    const r = await env.poll();
    expect(r).to.include({ read: 3, applied: 0, duplicates: 0, alerts: 3, errors: 0 });
    expect(env.message(held.id)).to.include({ state: 'HELD', last_error: null });
    expect(env.message(cancelled.id)).to.include({ state: 'CANCELLED', last_error: null });
    expect([env.transitions(held.id), env.transitions(cancelled.id)]).to.deep.equal(before);
    const rows = env.db.prepare('SELECT remote_name, effect, needs_attention, message_id, problem, archive_dir FROM acks ORDER BY id').all() as {
      remote_name: string;
      effect: string;
      needs_attention: number;
      message_id: number;
      problem: string;
      archive_dir: string;
    }[];
    expect(rows.map((x) => [x.remote_name, x.effect, x.needs_attention, x.message_id])).to.have.deep.members([
      ['H1.xml', 'alert', 1, held.id],
      ['C1.xml', 'alert', 1, cancelled.id],
      ['C2.xml', 'alert', 1, cancelled.id],
    ]);
    expect(rows.find((x) => x.remote_name === 'H1.xml')!.problem).to.match(/the message is HELD: this SUCCESS ack is recorded only/);
    expect(manifestOf(rows[0]!.archive_dir).effect).to.equal('alert');
    expect(env.logger.entries.filter((e) => e.level === 'warn' && e.message.startsWith('ack of a HELD or CANCELLED message'))).to.have.length(3);
  });

  it('every state change an ack makes is a transition of product.md 1, through the state machine; HELD and CANCELLED never move', async function () {
    env = makeAckEnv(sshd);
    const states = ['SENDING', 'SENT', 'STAGED', 'HELD', 'CANCELLED', 'ACCEPTED', 'REJECTED'] as const;
    const seeded = states.map((state) => ({ state, m: seedMessage(env.db, { fcn: nextFcn(), state }) }));
    const dup = [{ code: 'DUPLICATE_FILE', class: 2, message: 'already received' }];
    for (const { state, m } of seeded) {
      // a later ERROR for every message, and a duplicate report
      env.put(`X-${state}.xml`, renderAck({ inputFcn: m.fcn, status: 'ERROR', fileDate: '2026-12-01', errors: [{ code: 'E1', class: 1, message: 'no' }] }));
      env.put(`Y-${state}.xml`, renderAck({ inputFcn: m.fcn, status: 'ERROR', fileDate: '2026-12-02', errors: dup }));
    }
    const before = new Map(seeded.map(({ m }) => [m.id, env.transitions(m.id).length]));
    const r = await env.poll();
    expect(r).to.include({ read: 14, errors: 0 });
    const allowed = new Set(MESSAGE_TRANSITIONS.map((t) => `${t.from}->${t.to}`));
    const end: Record<string, string> = {};
    for (const { state, m } of seeded) {
      const all = env.transitions(m.id);
      // a chain: each move starts where the one before ended, and the row's state is the last one's
      for (let i = 1; i < all.length; i++) expect(all[i]!.from_state, `${state} #${i}`).to.equal(all[i - 1]!.to_state);
      for (const t of all.slice(before.get(m.id))) expect(allowed.has(`${t.from_state}->${t.to_state}`), `${state}: ${t.from_state}->${t.to_state}`).to.equal(true);
      end[state] = env.message(m.id).state;
      expect(all.at(-1)!.to_state).to.equal(end[state]);
    }
    expect(end).to.deep.equal({ SENDING: 'REJECTED', SENT: 'REJECTED', STAGED: 'STAGED', HELD: 'HELD', CANCELLED: 'CANCELLED', ACCEPTED: 'REJECTED', REJECTED: 'REJECTED' });
    const effects = (state: string) => env.acks().filter((a) => a.remote_name.endsWith(`-${state}.xml`)).map((a) => a.effect);
    expect(effects('STAGED')).to.deep.equal(['pending', 'duplicate']);
    expect(effects('HELD')).to.deep.equal(['alert', 'alert']);
    expect(effects('CANCELLED')).to.deep.equal(['alert', 'alert']);
    expect(effects('SENDING')).to.deep.equal(['rejected', 'duplicate']);
    // and the ack code has no way around the state machine
    for (const f of fs.readdirSync(path.join('src', 'acks'))) {
      expect(fs.readFileSync(path.join('src', 'acks', f), 'utf8'), f).to.not.match(/UPDATE\s+messages\s+SET\s+state/i);
    }
  });

  it('limits per poll: maxAcksPerPoll files and maxAckBytesPerPoll bytes, oldest first; the rest waits for the next poll, logged once per poll', async function () {
    env = makeAckEnv(sshd, { limits: { maxAcksPerPoll: 2 } });
    const ms = [1, 2, 3, 4, 5].map(() => seedMessage(env.db, { fcn: nextFcn() }));
    ms.forEach((m, i) => env.put(`L${i + 1}.xml`, renderAck({ inputFcn: m.fcn, status: 'SUCCESS' })));
    const first = await env.poll();
    expect(first).to.include({ read: 2, applied: 2, deferred: 3, errors: 0 });
    expect(env.serverFiles()).to.deep.equal(['L3.xml', 'L4.xml', 'L5.xml']);
    const limitLines = () => env.logger.entries.filter((e) => e.message.startsWith('ack poll limit reached'));
    expect(limitLines()).to.have.length(1);
    expect(limitLines()[0]!.fields).to.include({ partner: PARTNER, deferred: 3, readFiles: 2, maxAcksPerPoll: 2 });
    expect(await env.poll()).to.include({ read: 2, deferred: 1 });
    const last = await env.poll();
    expect(last).to.include({ read: 1, applied: 1 });
    expect(last.deferred).to.equal(undefined);
    expect(limitLines()).to.have.length(2);
    expect(ms.map((m) => env.message(m.id).state)).to.deep.equal(['ACCEPTED', 'ACCEPTED', 'ACCEPTED', 'ACCEPTED', 'ACCEPTED']);
    await env.close();

    // bytes: each ack is ~1.4 kB; 3 kB a poll takes two, the first one always
    env = makeAckEnv(sshd, { limits: { maxAckBytesPerPoll: 3000 } });
    const bs = [1, 2, 3].map(() => seedMessage(env.db, { fcn: nextFcn() }));
    bs.forEach((m, i) => env.put(`B${i + 1}.xml`, renderAck({ inputFcn: m.fcn, status: 'SUCCESS' })));
    const size = fs.statSync(path.join(env.serverAckDir, 'B1.xml')).size;
    expect(size * 2).to.be.at.most(3000);
    expect(size * 3).to.be.above(3000);
    expect(await env.poll()).to.include({ read: 2, deferred: 1 });
    expect(env.serverFiles()).to.deep.equal(['B3.xml']);
    expect(await env.poll()).to.include({ read: 1, applied: 1 });
  });

  it('maxAckEntries: a folder holding more entries is listed only that far in one poll (warned), the rest is read later', async function () {
    env = makeAckEnv(sshd, { limits: { maxAckEntries: 3 } });
    const ms = [1, 2, 3, 4, 5].map(() => seedMessage(env.db, { fcn: nextFcn() }));
    ms.forEach((m, i) => env.put(`E${i + 1}.xml`, renderAck({ inputFcn: m.fcn, status: 'SUCCESS' })));
    const first = await env.poll();
    expect(first).to.include({ read: 3, applied: 3, errors: 0 });
    const warned = env.logger.entries.filter((e) => e.level === 'warn' && e.message.startsWith('ackDir holds more entries than maxAckEntries'));
    expect(warned).to.have.length(1);
    expect(warned[0]!.fields).to.include({ partner: PARTNER, maxAckEntries: 3 });
    expect(env.serverFiles()).to.have.length(2);
    expect(await env.poll()).to.include({ read: 2, applied: 2 });
    expect(env.serverFiles()).to.deep.equal([]);
    expect(ms.every((m) => env.message(m.id).state === 'ACCEPTED')).to.equal(true);
  });

  it('a remote name builds no local path: whatever it is called, the ack is archived as ack.xml and ack-work/ is left empty; another partner\'s downloads are not touched', async function () {
    env = makeAckEnv(sshd);
    const work = path.join(env.config.dataDir, 'ack-work');
    // what a crashed poll of another partner whose code extends this one's would leave
    const foreign = path.join(work, `${PARTNER}-X@999-abc`);
    fs.mkdirSync(foreign, { recursive: true });
    const a = seedMessage(env.db, { fcn: nextFcn() });
    const b = seedMessage(env.db, { fcn: nextFcn() });
    const names = ['manifest.json.xml', 'x y\u202egnp.xml'];
    env.put(names[0]!, renderAck({ inputFcn: a.fcn, status: 'SUCCESS' }));
    env.put(names[1]!, renderAck({ inputFcn: b.fcn, status: 'SUCCESS' }));
    expect(await env.poll()).to.include({ read: 2, applied: 2, errors: 0 });
    for (const name of names) {
      const row = env.acks().find((x) => x.remote_name === name)!;
      expect(fs.readdirSync(path.join(env.config.dataDir, 'archive', row.archive_dir!)).sort(), name).to.deep.equal(['ack.xml', 'manifest.json']);
      expect(manifestOf(row.archive_dir!).remoteName).to.equal(name);
      expect(row.archive_dir).to.contain(row.sha256);
    }
    expect(fs.readdirSync(work)).to.deep.equal([path.basename(foreign)]);
  });

  it('group commit: many acks of one poll are recorded in groups, each with its own folder and manifest in the chain, and only then deleted', async function () {
    env = makeAckEnv(sshd);
    const msgs = Array.from({ length: 150 }, () => seedMessage(env.db, { fcn: nextFcn() }));
    msgs.forEach((m, i) => env.put(`G${String(i).padStart(3, '0')}.xml`, renderAck({ inputFcn: m.fcn, status: i % 3 ? 'SUCCESS' : 'ERROR', errors: i % 3 ? [] : [{ code: 'E1', class: 1, message: 'no' }] })));
    const r = await env.poll();
    expect(r).to.include({ read: 150, applied: 150, errors: 0, skipped: 0 });
    expect(env.serverFiles()).to.deep.equal([]);
    msgs.forEach((m, i) => expect(env.message(m.id).state, m.fcn).to.equal(i % 3 ? 'ACCEPTED' : 'REJECTED'));
    const rows = env.acks();
    expect(new Set(rows.map((a) => a.archive_dir)).size).to.equal(150);
    for (const a of rows) expect(fs.readdirSync(path.join(env.config.dataDir, 'archive', a.archive_dir!)).sort()).to.deep.equal(['ack.xml', 'manifest.json']);
    expect(env.manifests()).to.equal(150);
    expect(fs.readdirSync(path.join(env.config.dataDir, 'archive-staging'))).to.deep.equal([]);
  });

  it('group commit: acks of one message in one poll are decided one after the other (the later one decides), the same content twice is applied once; all deleted', async function () {
    env = makeAckEnv(sshd);
    const m = seedMessage(env.db, { fcn: nextFcn() });
    const other = seedMessage(env.db, { fcn: nextFcn() });
    const late = renderAck({ inputFcn: m.fcn, status: 'ERROR', fileDate: '2026-11-26', fileTime: '00:00:01Z', errors: [{ code: 'E9', class: 1, message: 'late' }] });
    env.put('a1.xml', renderAck({ inputFcn: m.fcn, status: 'SUCCESS', fileDate: '2026-11-25', fileTime: '00:00:01Z' }));
    env.put('a2.xml', late);
    env.put('a3.xml', renderAck({ inputFcn: other.fcn, status: 'SUCCESS' }));
    env.put('a4.xml', late); // the same bytes under another name
    const r = await env.poll();
    expect(r).to.include({ read: 4, applied: 3, skipped: 1, errors: 0 });
    expect(env.message(m.id).state).to.equal('REJECTED');
    expect(env.transitions(m.id).slice(-2).map((t) => `${t.from_state}->${t.to_state}`)).to.deep.equal(['SENT->ACCEPTED', 'ACCEPTED->REJECTED']);
    expect(env.message(other.id).state).to.equal('ACCEPTED');
    expect(env.acks()).to.have.length(3);
    expect(env.serverFiles()).to.deep.equal([]);
  });

  it('group commit: an ack whose record fails spoils nothing: the group is redone one by one, the others are applied and deleted, the bad one stays on the server', async function () {
    env = makeAckEnv(sshd);
    const msgs = Array.from({ length: 5 }, () => seedMessage(env.db, { fcn: nextFcn() }));
    const bad = msgs[2]!;
    // a real failure of the ledger inside the group's transaction, for one message only
    env.db.exec(`CREATE TRIGGER no_move BEFORE UPDATE OF state ON messages WHEN NEW.id = ${bad.id} BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);
    msgs.forEach((m, i) => env.put(`B${i}.xml`, renderAck({ inputFcn: m.fcn })));
    const manifests = env.manifests();
    const r = await env.poll();
    expect(r).to.include({ read: 5, applied: 4, errors: 1 });
    expect(env.serverFiles()).to.deep.equal(['B2.xml']);
    for (const m of msgs) expect(env.message(m.id).state).to.equal(m === bad ? 'SENT' : 'ACCEPTED');
    expect(env.acks().map((a) => a.remote_name).sort()).to.deep.equal(['B0.xml', 'B1.xml', 'B3.xml', 'B4.xml']);
    expect(env.manifests()).to.equal(manifests + 4);
    expect(env.logger.entries.some((e) => e.level === 'error' && String(e.fields?.remotePath).endsWith('/B2.xml') && String(e.fields?.error).includes('refused by the test'))).to.equal(true);
    expect(fs.readdirSync(path.join(env.config.dataDir, 'archive-staging'))).to.deep.equal([]);

    // fixed, the next poll applies it and deletes it
    env.db.exec('DROP TRIGGER no_move');
    expect(await env.poll()).to.include({ read: 1, applied: 1, errors: 0 });
    expect(env.serverFiles()).to.deep.equal([]);
  });

  it('group commit: nothing is deleted on the server unless its record committed', async function () {
    env = makeAckEnv(sshd);
    const msgs = Array.from({ length: 4 }, () => seedMessage(env.db, { fcn: nextFcn() }));
    env.db.exec(`CREATE TRIGGER no_ack BEFORE INSERT ON acks BEGIN SELECT RAISE(ABORT, 'no ack row'); END`);
    msgs.forEach((m, i) => env.put(`N${i}.xml`, renderAck({ inputFcn: m.fcn })));
    const r = await env.poll();
    expect(r).to.include({ read: 4, applied: 0, errors: 4 });
    expect(env.serverFiles()).to.deep.equal(['N0.xml', 'N1.xml', 'N2.xml', 'N3.xml']);
    expect(env.acks()).to.deep.equal([]);
    expect(env.manifests()).to.equal(0);
    for (const m of msgs) expect(env.message(m.id).state).to.equal('SENT');
    env.db.exec('DROP TRIGGER no_ack');
  });

  it('an ackDir missing on the server: the poll fails naming the folder, nothing recorded', async function () {
    env = makeAckEnv(sshd);
    fs.rmSync(env.serverAckDir, { recursive: true, force: true });
    const r = await env.poll();
    expect(r.error).to.match(new RegExp(`list ${ACK_DIR}: .*(No such file|ENOENT)`));
    expect(env.acks()).to.deep.equal([]);
  });

  it('one poll per partner at a time: a poll that finds the lock held does nothing', async function () {
    env = makeAckEnv(sshd);
    const m = seedMessage(env.db, { fcn: nextFcn() });
    env.put('L.xml', renderAck({ inputFcn: m.fcn, status: 'SUCCESS' }));
    const held = tryAcquirePartnerLock(env.db, `acks:${PARTNER}`);
    expect(held.acquired).to.equal(true);
    try {
      const r = await env.poll();
      expect(r.busy?.pid).to.equal(process.pid);
      expect(r.read).to.equal(0);
      expect(env.serverFiles()).to.deep.equal(['L.xml']);
    } finally {
      if (held.acquired) held.lock.release();
    }
    expect(await env.poll()).to.include({ applied: 1 });
  });

  it('flagOverdue: a SENT message past ackDeadlineMinutes is logged once (warn) and flagged', async function () {
    env = makeAckEnv(sshd, { ackDeadlineMinutes: 240 });
    const now = new Date();
    const old = seedMessage(env.db, { fcn: nextFcn(), sentAt: new Date(now.getTime() - 241 * 60_000).toISOString() });
    const recent = seedMessage(env.db, { fcn: nextFcn(), sentAt: new Date(now.getTime() - 60_000).toISOString() });
    const acceptedOld = seedMessage(env.db, { fcn: nextFcn(), state: 'ACCEPTED', sentAt: new Date(now.getTime() - 600 * 60_000).toISOString() });
    const log = memoryLogger();

    const flagged = flagOverdue(env.db, env.config, log, now);
    expect(flagged.map((f) => f.messageId)).to.deep.equal([old.id]);
    const warns = log.entries.filter((e) => e.level === 'warn');
    expect(warns).to.have.length(1);
    expect(warns[0]!.fields).to.deep.include({ messageId: old.id, fcn: old.fcn, partner: PARTNER, sentAt: new Date(now.getTime() - 241 * 60_000).toISOString() });
    expect(env.message(old.id).overdue_logged_at).to.match(ISO_UTC);
    expect(env.message(old.id).state).to.equal('SENT'); // a flag, not a state
    expect(env.message(recent.id).overdue_logged_at).to.equal(null);
    expect(env.message(acceptedOld.id).overdue_logged_at).to.equal(null);

    // once only
    expect(flagOverdue(env.db, env.config, log, new Date(now.getTime() + 60_000))).to.deep.equal([]);
    expect(log.entries.filter((e) => e.level === 'warn')).to.have.length(1);
    // the recent one, later
    const later = flagOverdue(env.db, env.config, log, new Date(now.getTime() + 241 * 60_000), { partner: PARTNER });
    expect(later.map((f) => f.messageId)).to.deep.equal([recent.id]);
    expect(log.entries.filter((e) => e.level === 'warn')).to.have.length(2);
  });

  it('scheduler: the cron task polls and flags overdue messages; a failing server backs off; stop() ends it', async function () {
    env = makeAckEnv(sshd, { ackPoll: '* * * * * *' });
    const m = seedMessage(env.db, { fcn: nextFcn() });
    const late = seedMessage(env.db, { fcn: nextFcn(), sentAt: new Date(Date.now() - 300 * 60_000).toISOString() });
    env.put('SCHED.xml', renderAck({ inputFcn: m.fcn, status: 'SUCCESS' }));
    const log = memoryLogger();
    const pollers = startAckPollers({ db: env.db, config: env.config, archive: env.archive, logger: log });
    try {
      const deadline = Date.now() + 15_000;
      while (!(env.message(m.id).state === 'ACCEPTED' && env.message(late.id).overdue_logged_at)) {
        if (Date.now() > deadline) throw new Error(`the scheduled poll did not run: ${JSON.stringify(log.entries.slice(-5))}`);
        await new Promise((res) => setTimeout(res, 100));
      }
      expect(log.entries.filter((e) => e.message.startsWith('ack overdue') && e.fields.messageId === late.id)).to.have.length(1);
      expect(pollers.state()[0]).to.include({ partner: PARTNER, failures: 0 });
    } finally {
      await pollers.stop();
    }

    // nobody listens on this port: the poll fails and backs off
    const dead = makeAckEnv(sshd, { port: 1, timeoutMs: 2000 });
    try {
      const p2 = startAckPollers({ db: dead.db, config: dead.config, archive: dead.archive, logger: log, backoff: { baseMs: 60_000 } });
      try {
        const r = await p2.runNow(PARTNER);
        expect(r.error).to.be.a('string');
        const st = p2.state()[0]!;
        expect(st.failures).to.equal(1);
        expect(log.entries.some((e) => e.level === 'warn' && e.message === 'ack poll failed; backing off')).to.equal(true);
      } finally {
        await p2.stop();
      }
    } finally {
      await dead.close();
    }
  });

  it('the daemon service skips an embedded partner with an info log, and stops', async function () {
    env = makeAckEnv(sshd);
    const config = { ...env.config, partners: { [PARTNER]: { ...env.config.partners[PARTNER]!, sftp: { ...env.config.partners[PARTNER]!.sftp, host: 'embedded' } } } };
    const log = memoryLogger();
    const service = await ackPollService()({ config, db: env.db, ledger: undefined as never, archive: env.archive, logger: log });
    expect(service.name).to.equal('ack-poll');
    expect(log.entries.some((e) => e.level === 'info' && e.message.startsWith('ack poll not scheduled') && e.fields.partner === PARTNER)).to.equal(true);
    await service.stop();
  });

  it('tlbridge poll-acks: a summary line per partner, exit 0; exit 1 when the poll fails; exit 2 for an unknown partner', async function () {
    env = makeAckEnv(sshd);
    const m = seedMessage(env.db, { fcn: nextFcn() });
    env.put('CLI.xml', renderAck({ inputFcn: m.fcn, status: 'SUCCESS' }));
    env.put('CLI-bad.xml', 'not xml at all');
    const io = captureIo();
    expect(await main(['poll-acks', '--config', env.configPath], io)).to.equal(0);
    expect(io.outLines).to.deep.equal([`${PARTNER}: read 2, applied 1, duplicates 0, superseded 0, unmatched 0, invalid 1, skipped 0, errors 0`]);
    expect(io.errLines.some((l) => l.includes('invalid ack'))).to.equal(true);
    expect(env.message(m.id).state).to.equal('ACCEPTED');

    const io2 = captureIo();
    expect(await main(['poll-acks', '--config', env.configPath, '--partner', 'NOPE'], io2)).to.equal(2);

    const dead = makeAckEnv(sshd, { port: 1, timeoutMs: 2000 });
    try {
      seedMessage(dead.db, { fcn: nextFcn() }); // the ledger exists
      const io3 = captureIo();
      expect(await main(['poll-acks', '--config', dead.configPath, '--partner', PARTNER], io3)).to.equal(1);
      expect(io3.outLines).to.have.length(1);
      expect(io3.outLines[0]).to.match(new RegExp(`^${PARTNER}: poll failed: `));
    } finally {
      await dead.close();
    }
  });
});
