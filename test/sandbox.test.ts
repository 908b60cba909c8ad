// The sandbox (src/sandbox/*, product.md 7) driven by the project's real SFTP client
// (SftpSession), with messages made by the real converter from fixtures/valid/ and the default
// config: acks in the exact shape of messages.md 2, duplicates, envelope and XSD errors, reject
// rate, ack delay, the root jail, public-key auth, a stable host key, plain rename semantics.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ssh2 from 'ssh2';
import type { SFTPWrapper } from 'ssh2';
import { loadConfig, type Config } from '../src/config/load.js';
import { translateFile } from '../src/intake/translate.js';
import { ACK_SCHEMA } from '../src/messages/registry.js';
import { ensureClientKey } from '../src/sandbox/keys.js';
import { DEFAULT_LIMITS, describeLimits } from '../src/sandbox/limits.js';
import { rejects } from '../src/sandbox/processor.js';
import { startSandbox, type Sandbox, type SandboxOptions } from '../src/sandbox/server.js';
import { sha256Fingerprint } from '../src/transport/fingerprint.js';
import { SftpError } from '../src/transport/errors.js';
import { SftpSession } from '../src/transport/session.js';
import { loadSchema } from '../src/xml/schema.js';
import { parseUntrusted } from '../src/xml/untrusted.js';
import { memoryLogger } from './support/memory-logger.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PRODUCED_DIR = '/inbox/MATERIALS_PRODUCED';
const ACK_DIR = '/outbox/IE_PROCESSING_RESPONSE';

interface Ack {
  file: string;
  xml: string;
  ackFcn: string;
  sender: string;
  receiver: string;
  fileDate: string;
  fileTime: string;
  inputType: string;
  inputSender: string;
  inputReceiver: string;
  inputFcn: string;
  status: string;
  errors: { code: string; class: string; message: string; path: string | null }[];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(Error);
    return e as Error;
  }
  throw new Error('expected a rejection, but it resolved');
}

/** ssh2 1.17 now and then generates an ed25519 key its own parser calls malformed (~0.5%). */
function readableKeyPair() {
  for (;;) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519');
    if (!(ssh2.utils.parseKey(pair.private) instanceof Error)) return pair;
  }
}

describe('sandbox: the SFTP server playing the manufacturer', function () {
  this.timeout(60000);
  let config: Config;
  let receiverId: string;
  let tmp: string;
  const userKey = readableKeyPair();
  const otherKey = readableKeyPair();
  /** valid MATERIALS_PRODUCED documents from the real converter */
  const produced: { fcn: string; xml: string }[] = [];
  let fcnSeq = 0;
  const sandboxes: Sandbox[] = [];
  const sessions: SftpSession[] = [];
  const rawSockets: net.Socket[] = [];
  const rawClients: ssh2.Client[] = [];

  before(async () => {
    config = loadConfig(path.join(ROOT, 'config/tlbridge.yaml'));
    receiverId = Object.values(config.partners)[0]!.receiverId;
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-sandbox-'));
    const stamp = String(Date.now() % 1e8).padStart(8, '0');
    let n = 0;
    const r = await translateFile(path.join(ROOT, 'fixtures/valid/materials-produced.erp-delimited.txt'), {
      config,
      layout: config.layouts.get('erp-delimited')!,
      allocate: () => `T${stamp}${String(++n).padStart(4, '0')}`,
      onMessage: (m) => void produced.push({ fcn: m.fileControlNumber, xml: m.xml }),
    });
    expect(r.errors).to.deep.equal([]);
    expect(produced.length).to.be.greaterThan(0);
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  afterEach(async () => {
    for (const c of rawClients.splice(0)) c.end();
    for (const r of rawSockets.splice(0)) r.destroy();
    await Promise.all(sessions.splice(0).map((s) => s.close()));
    await Promise.all(sandboxes.splice(0).map((s) => s.close()));
  });

  /** A valid document under a new FileControlNumber (the converter's XML, number swapped). */
  function validDoc(): { fcn: string; xml: string } {
    const base = produced[0]!;
    const fcn = `V${String(Date.now() % 1e8).padStart(8, '0')}${String(++fcnSeq).padStart(4, '0')}`;
    return { fcn, xml: base.xml.split(`>${base.fcn}<`).join(`>${fcn}<`) };
  }

  function newDir(): string {
    return fs.mkdtempSync(path.join(tmp, 'sb-'));
  }

  async function start(over: Partial<SandboxOptions> = {}): Promise<Sandbox> {
    const sb = await startSandbox({
      dir: over.dir ?? newDir(),
      port: 0,
      messageTypes: config.messageTypes,
      namespaces: config.namespaces,
      receiverId,
      senderId: config.sender.id,
      authorizedKeys: [userKey.public],
      ...over,
    });
    sandboxes.push(sb);
    return sb;
  }

  async function connect(sb: Sandbox, privateKey: string = userKey.private): Promise<SftpSession> {
    const s = await SftpSession.connect({
      host: '127.0.0.1',
      port: sb.port,
      username: 'tlbridge',
      privateKey: Buffer.from(privateKey),
      hostKeySha256: [sb.hostKeySha256],
      timeoutMs: 10000,
      tempSuffix: '.part',
      label: 'ACME-PHARMA',
    });
    sessions.push(s);
    return s;
  }

  function readAck(file: string): Ack {
    const xml = fs.readFileSync(file, 'utf8');
    expect(loadSchema(ACK_SCHEMA).validate(xml), `${file} against the ack XSD`).to.deep.equal([]);
    const { doc, issues } = parseUntrusted(xml, { maxBytes: 1e6, namespaces: { ie: config.namespaces.ack, cmn: config.namespaces.commontypes } });
    expect(issues).to.deep.equal([]);
    const t = (x: string) => doc!.text(x) ?? '';
    const h = '/ie:IEProcessingAckMessage/ie:ControlFileHeader';
    const r = '/ie:IEProcessingAckMessage/ie:MessageBody/ie:ProcessingResultsHeader';
    const n = doc!.count('//ie:ProcessingError');
    const errors = Array.from({ length: n }, (_, i) => {
      const e = `/ie:IEProcessingAckMessage/ie:MessageBody/ie:ProcessingError[${i + 1}]`;
      return { code: t(`${e}/ie:ErrorCode`), class: t(`${e}/ie:ErrorClass`), message: t(`${e}/ie:ErrorMessage`), path: doc!.text(`${e}/ie:ErrorPath`) };
    });
    return {
      file,
      xml,
      ackFcn: t(`${h}/cmn:FileControlNumber`),
      sender: t(`${h}/cmn:FileSenderNumber`),
      receiver: t(`${h}/cmn:FileReceiverNumber`),
      fileDate: t(`${h}/cmn:FileDate`),
      fileTime: t(`${h}/cmn:FileTime`),
      inputType: t(`${r}/ie:InputFileTransactionType`),
      inputSender: t(`${r}/ie:InputFileSenderNumber`),
      inputReceiver: t(`${r}/ie:InputFileReceiverNumber`),
      inputFcn: t(`${r}/ie:InputFileControlNumber`),
      status: t(`${r}/ie:ProcessingStatus`),
      errors,
    };
  }

  /** Every ack in the sandbox's ack folder that answers `fcn`, oldest first (dotfiles are temp names). */
  function acksFor(sb: Sandbox, fcn: string): Ack[] {
    if (!fs.existsSync(sb.ackDir)) return [];
    return fs
      .readdirSync(sb.ackDir)
      .filter((n) => n.endsWith('.xml') && !n.startsWith('.'))
      .sort()
      .map((n) => readAck(path.join(sb.ackDir, n)))
      .filter((a) => a.inputFcn === fcn);
  }

  async function waitForAcks(sb: Sandbox, fcn: string, count = 1, timeoutMs = 8000): Promise<Ack[]> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const acks = acksFor(sb, fcn);
      if (acks.length >= count) return acks;
      if (Date.now() > until) throw new Error(`no ${count} ack(s) for ${fcn} within ${timeoutMs} ms (have ${acks.length})`);
      await sleep(50);
    }
  }

  it('answers a valid message, uploaded with temp name + rename, with a SUCCESS ack in the exact shape', async () => {
    const sb = await start();
    const s = await connect(sb);
    const doc = validDoc();
    const res = await s.upload(Buffer.from(doc.xml), PRODUCED_DIR, `${doc.fcn}.xml`);
    expect(res).to.deep.equal({ outcome: 'uploaded', remotePath: `${PRODUCED_DIR}/${doc.fcn}.xml` });

    const [ack] = await waitForAcks(sb, doc.fcn);
    expect(ack!.status).to.equal('SUCCESS');
    expect(ack!.errors).to.deep.equal([]);
    expect(ack!.ackFcn).to.match(/^ACK\d{12}$/);
    expect(path.basename(ack!.file)).to.equal(`${ack!.ackFcn}.xml`);
    expect(ack!.sender).to.equal(receiverId);
    expect(ack!.receiver).to.equal(config.sender.id);
    expect(ack!.fileDate).to.match(/^\d{4}-\d{2}-\d{2}$/);
    expect(ack!.fileTime).to.match(/^\d{2}:\d{2}:\d{2}Z$/);
    expect(Math.abs(Date.parse(`${ack!.fileDate}T${ack!.fileTime}`) - Date.now())).to.be.lessThan(60_000);
    expect(ack!.inputType).to.equal('MATPRODUCED');
    expect(ack!.inputSender).to.equal(config.sender.id);
    expect(ack!.inputReceiver).to.equal(receiverId);
    // messages.md 2: prefixes ie/cmn, both namespaces declared on the root, every element qualified
    expect(ack!.xml).to.match(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<ie:IEProcessingAckMessage xmlns:ie="urn:tracelink:mapper:sl:processing_response" xmlns:cmn="urn:tracelink:mapper:sl:commontypes">/);
    expect(ack!.xml).to.not.match(/<(?!\?|\/?(ie|cmn):)/);

    // the file stays where it landed, once; nothing is left under a temp name
    expect(fs.readdirSync(path.join(sb.dir, 'inbox/MATERIALS_PRODUCED'))).to.deep.equal([`${doc.fcn}.xml`]);
    expect(fs.readFileSync(path.join(sb.dir, 'inbox/MATERIALS_PRODUCED', `${doc.fcn}.xml`), 'utf8')).to.equal(doc.xml);
    const log = fs.readFileSync(path.join(sb.dir, 'processed.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log).to.have.length(1);
    expect(log[0]).to.include({ path: `${PRODUCED_DIR}/${doc.fcn}.xml`, fileControlNumber: doc.fcn, status: 'SUCCESS', messageType: 'MATERIALS_PRODUCED' });
    // a re-upload of the same bytes finds it there: no second landing, no second ack
    // (already-present: no rename happened, so there is nothing to judge)
    expect((await s.upload(Buffer.from(doc.xml), PRODUCED_DIR, `${doc.fcn}.xml`)).outcome).to.equal('already-present');
    expect(acksFor(sb, doc.fcn)).to.have.length(1);
  });

  it('answers the same FileControlNumber landing again with a class-2 DUPLICATE_FILE error, also after a restart', async () => {
    const dir = newDir();
    let sb = await start({ dir });
    let s = await connect(sb);
    const doc = validDoc();
    await s.upload(Buffer.from(doc.xml), PRODUCED_DIR, `${doc.fcn}.xml`);
    expect((await waitForAcks(sb, doc.fcn))[0]!.status).to.equal('SUCCESS');
    // the manufacturer's side consumed it; the client sends it again (a resend after a crash)
    await s.remove(`${PRODUCED_DIR}/${doc.fcn}.xml`);
    expect((await s.upload(Buffer.from(doc.xml), PRODUCED_DIR, `${doc.fcn}.xml`)).outcome).to.equal('uploaded');
    const acks = await waitForAcks(sb, doc.fcn, 2);
    expect(acks.map((a) => a.status)).to.deep.equal(['SUCCESS', 'ERROR']);
    expect(acks[1]!.errors).to.have.length(1);
    expect(acks[1]!.errors[0]).to.include({ code: 'DUPLICATE_FILE', class: '2', path: 'ControlFileHeader/FileControlNumber' });
    expect(acks[1]!.errors[0]!.message).to.contain(doc.fcn);
    expect(acks[1]!.inputFcn).to.equal(doc.fcn);
    expect(acks[1]!.ackFcn > acks[0]!.ackFcn).to.equal(true);

    // the memory of seen numbers and the ack counter survive a restart
    await s.close();
    await sb.close();
    sb = await start({ dir }); // judges what was never judged before it resolves
    s = await connect(sb);
    expect(acksFor(sb, doc.fcn), 'nothing judged twice after a restart').to.have.length(2);
    await s.remove(`${PRODUCED_DIR}/${doc.fcn}.xml`);
    await s.upload(Buffer.from(doc.xml), PRODUCED_DIR, `${doc.fcn}.xml`);
    const again = await waitForAcks(sb, doc.fcn, 3);
    expect(acksFor(sb, doc.fcn), 'one judgement writes one ack').to.have.length(3);
    expect(again[2]!.errors.map((e) => [e.code, e.class])).to.deep.equal([['DUPLICATE_FILE', '2']]);
    expect(new Set(again.map((a) => a.ackFcn)).size).to.equal(3);
  });

  it('answers a wrong receiver, a wrong sender, a wrong type and a wrong file name with ENVELOPE_MISMATCH errors naming them', async () => {
    const sb = await start();
    const s = await connect(sb);
    const doc = validDoc();
    const wrong = doc.xml
      .replace(`<cmn:FileReceiverNumber>${receiverId}<`, '<cmn:FileReceiverNumber>9999999999999<')
      .replace(`<cmn:FileSenderNumber>${config.sender.id}<`, '<cmn:FileSenderNumber>1111111111111<');
    await s.upload(Buffer.from(wrong), PRODUCED_DIR, `${doc.fcn}.xml`);
    const [ack] = await waitForAcks(sb, doc.fcn);
    expect(ack!.status).to.equal('ERROR');
    expect(ack!.receiver).to.equal('1111111111111'); // the ack goes back to whoever sent the file
    expect(ack!.inputReceiver).to.equal('9999999999999');
    const byPath = Object.fromEntries(ack!.errors.map((e) => [e.path, e]));
    expect(byPath['ControlFileHeader/FileReceiverNumber']).to.include({ code: 'ENVELOPE_MISMATCH', class: '1' });
    expect(byPath['ControlFileHeader/FileReceiverNumber']!.message).to.contain('9999999999999').and.contain(receiverId);
    expect(byPath['ControlFileHeader/FileSenderNumber']!.message).to.contain('1111111111111');

    // a MATERIALS_PRODUCED document in the MATERIALS_ISSUED folder, under a name that is not its number
    const other = validDoc();
    await s.upload(Buffer.from(other.xml), '/inbox/MATERIALS_ISSUED', `${other.fcn}-x.xml`);
    const [ack2] = await waitForAcks(sb, other.fcn);
    expect(ack2!.status).to.equal('ERROR');
    expect(ack2!.inputType).to.equal('MATPRODUCED');
    const codes = ack2!.errors.map((e) => `${e.code} ${e.path ?? ''}`);
    expect(codes).to.include('ENVELOPE_MISMATCH ControlFileHeader/FileTransactionType');
    expect(codes).to.include('ENVELOPE_MISMATCH ControlFileHeader/FileControlNumber');
    expect(codes.some((c) => c.startsWith('XSD_INVALID'))).to.equal(true); // not a MaterialsIssue document
  });

  it('answers garbage, a DOCTYPE, an XSD-invalid document and an unknown folder with class-1 errors', async () => {
    const sb = await start();
    const s = await connect(sb);
    await s.upload(Buffer.from('this is not XML at all\n'), PRODUCED_DIR, 'GARBAGE1.xml');
    const [g] = await waitForAcks(sb, 'GARBAGE1'); // the file name stands in for the unreadable number
    expect(g!.status).to.equal('ERROR');
    expect(g!.errors.length).to.be.greaterThan(0);
    expect(g!.errors.every((e) => e.code === 'XML_MALFORMED' && e.class === '1')).to.equal(true);
    expect(g!.inputType).to.equal('MATPRODUCED');

    await s.upload(Buffer.from('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>'), PRODUCED_DIR, 'DOCTYPE1.xml');
    const [d] = await waitForAcks(sb, 'DOCTYPE1');
    expect(d!.errors.map((e) => e.code)).to.deep.equal(['XML_MALFORMED']);
    expect(d!.errors[0]!.message).to.contain('DOCTYPE');

    const bad = validDoc();
    const xsdBad = bad.xml.replace(/<LotNumber>[^<]*<\/LotNumber>/, '');
    await s.upload(Buffer.from(xsdBad), PRODUCED_DIR, `${bad.fcn}.xml`);
    const [x] = await waitForAcks(sb, bad.fcn);
    expect(x!.status).to.equal('ERROR');
    expect(x!.errors.map((e) => e.code)).to.deep.equal(['XSD_INVALID']);
    expect(x!.errors[0]!.message).to.match(/^line \d+: /);

    const nowhere = validDoc();
    await s.upload(Buffer.from(nowhere.xml), '/inbox/NOT_A_TYPE', `${nowhere.fcn}.xml`);
    const [u] = await waitForAcks(sb, nowhere.fcn);
    expect(u!.errors.map((e) => e.code)).to.deep.equal(['UNKNOWN_MESSAGE_TYPE']);
    expect(u!.errors[0]!.message).to.contain('NOT_A_TYPE');
  });

  it('rejects every otherwise valid file with rejectRate 1 (REJECTED_BY_SANDBOX), deterministically by number', async () => {
    const sb = await start({ rejectRate: 1 });
    const s = await connect(sb);
    const doc = validDoc();
    await s.upload(Buffer.from(doc.xml), PRODUCED_DIR, `${doc.fcn}.xml`);
    const [ack] = await waitForAcks(sb, doc.fcn);
    expect(ack!.status).to.equal('ERROR');
    expect(ack!.errors.map((e) => [e.code, e.class])).to.deep.equal([['REJECTED_BY_SANDBOX', '1']]);

    const fcns = Array.from({ length: 2000 }, (_, i) => `C${String(i).padStart(12, '0')}`);
    expect(fcns.filter((f) => rejects(f, 0))).to.have.length(0);
    expect(fcns.filter((f) => rejects(f, 1))).to.have.length(2000);
    const half = fcns.filter((f) => rejects(f, 0.5)).length;
    expect(half).to.be.within(850, 1150);
    expect(fcns.filter((f) => rejects(f, 0.5))).to.deep.equal(fcns.filter((f) => rejects(f, 0.5)));
  });

  it('holds the ack back for ackDelaySeconds, and delivers a pending ack after a restart', async () => {
    const dir = newDir();
    let sb = await start({ dir, ackDelaySeconds: 1.5 });
    let s = await connect(sb);
    const doc = validDoc();
    const t0 = Date.now();
    await s.upload(Buffer.from(doc.xml), PRODUCED_DIR, `${doc.fcn}.xml`);
    // the ack waits in pending-acks/<due ms>-<ack fcn>.xml, due ackDelaySeconds after the arrival
    const waitUntil = Date.now() + 5000;
    let parked: string[] = [];
    while (!(parked = fs.readdirSync(path.join(dir, 'pending-acks')).filter((f) => !f.startsWith('.'))).length && Date.now() < waitUntil) await sleep(20);
    expect(parked).to.have.length(1);
    const due = Number(parked[0]!.split('-')[0]);
    expect(due).to.be.at.least(t0 + 1500);
    if (Date.now() < due) expect(acksFor(sb, doc.fcn), 'not in the ack folder before it is due').to.have.length(0);
    const [ack] = await waitForAcks(sb, doc.fcn, 1, 5000);
    expect(Date.now()).to.be.at.least(due);
    expect(ack!.status).to.equal('SUCCESS');
    expect(fs.readdirSync(path.join(dir, 'pending-acks'))).to.deep.equal([]);

    // stopped while an ack is pending: the next start delivers it when due
    const late = validDoc();
    await s.upload(Buffer.from(late.xml), PRODUCED_DIR, `${late.fcn}.xml`);
    const until = Date.now() + 3000;
    while (fs.readdirSync(path.join(dir, 'pending-acks')).length === 0 && Date.now() < until) await sleep(20);
    await s.close();
    await sb.close();
    expect(fs.readdirSync(path.join(dir, 'pending-acks'))).to.have.length(1);
    sb = await start({ dir, ackDelaySeconds: 0 });
    s = await connect(sb);
    expect((await waitForAcks(sb, late.fcn, 1, 5000))[0]!.status).to.equal('SUCCESS');
  });

  it('judges at start what arrived but was never judged (a stop between rename and judgement), once', async () => {
    const dir = newDir();
    let sb = await start({ dir });
    await sb.close();
    const doc = validDoc();
    fs.writeFileSync(path.join(dir, 'inbox/MATERIALS_PRODUCED', `${doc.fcn}.xml`), doc.xml);
    fs.writeFileSync(path.join(dir, 'inbox/MATERIALS_PRODUCED', `${doc.fcn}.xml.part`), 'half');
    sb = await start({ dir });
    const [ack] = await waitForAcks(sb, doc.fcn);
    expect(ack!.status).to.equal('SUCCESS');
    await sb.close();
    sb = await start({ dir }); // its start judges what was never judged, before it resolves
    expect(acksFor(sb, doc.fcn)).to.have.length(1);
    expect(fs.readFileSync(path.join(dir, 'processed.jsonl'), 'utf8').trim().split('\n')).to.have.length(1);
  });

  it('keeps every path inside its root: traversal, absolute tricks, its own files and symlinks are refused', async () => {
    const sb = await start();
    const s = await connect(sb);
    const local = path.join(tmp, 'stolen');
    for (const p of ['../../etc/passwd', '/../../etc/passwd', '/inbox/../../etc/passwd', '/inbox/../../../etc/passwd']) {
      const e = await rejection(s.download(p, local, 1e6));
      expect(e, p).to.be.instanceOf(SftpError);
      expect((e as SftpError).code, p).to.equal('EACCES');
      expect(fs.existsSync(local)).to.equal(false);
    }
    // mkdir outside, and outside the exchange folders
    const outside = path.join(path.dirname(sb.dir), 'evil');
    expect(await rejection(s.mkdirp('/../evil'))).to.be.instanceOf(SftpError);
    expect(await rejection(s.mkdirp('/inbox/../../evil'))).to.be.instanceOf(SftpError);
    expect(fs.existsSync(outside)).to.equal(false);
    expect(await rejection(s.mkdirp('/elsewhere'))).to.be.instanceOf(SftpError);
    expect(fs.existsSync(path.join(sb.dir, 'elsewhere'))).to.equal(false);
    // the host key, authorized_keys and the state beside inbox/ and outbox/ are not reachable
    for (const p of ['/hostkey', 'hostkey', '/authorized_keys', '/seen-fcn.jsonl', '/ack-counter.json']) {
      expect((await rejection(s.stat(p)) as SftpError).code, p).to.equal('EACCES');
    }
    expect(await rejection(s.upload(Buffer.from('x'), '/', 'authorized_keys'))).to.be.instanceOf(SftpError);
    expect((await s.list('/')).map((e) => e.name).sort()).to.deep.equal(['inbox', 'outbox']);
    // a symlink placed inside the root (by a local user) is not followed
    fs.symlinkSync('/etc', path.join(sb.dir, 'outbox', 'link'));
    expect(await rejection(s.download('/outbox/link/passwd', local, 1e6))).to.be.instanceOf(SftpError);
    expect(await rejection(s.list('/outbox/link'))).to.be.instanceOf(SftpError);
    expect(fs.existsSync(local)).to.equal(false);
  });

  it('refuses a client key it does not know, and accepts keys from <dir>/authorized_keys and the embedded client key', async () => {
    const dir = newDir();
    const sb = await start({ dir });
    const e = await rejection(connect(sb, otherKey.private));
    expect(e).to.be.instanceOf(SftpError);
    expect(e.message).to.match(/authentication/i);
    expect(e.message).to.not.contain(otherKey.private.split('\n')[1]!);

    fs.writeFileSync(path.join(dir, 'authorized_keys'), `# rehearsal keys\n\nno-pty,from="127.0.0.1" ${otherKey.public}\n`);
    const s = await connect(sb, otherKey.private); // read at every login: no restart needed
    expect((await s.list('/inbox')).length).to.be.greaterThan(0);

    const client = ensureClientKey(dir);
    expect(fs.statSync(client.file).mode & 0o777).to.equal(0o600);
    expect(ensureClientKey(dir).publicKey).to.equal(client.publicKey); // made once, reused
    const sb2 = await start({ dir, authorizedKeys: [], clientPublicKey: Buffer.from(client.publicKey) });
    await connect(sb2, client.privateKey.toString());
  });

  it('keeps its host key across restarts (same fingerprint, 0600), listening on 127.0.0.1 only', async () => {
    const dir = newDir();
    const sb1 = await start({ dir });
    const fp = sb1.hostKeySha256;
    expect(fp).to.match(/^SHA256:[A-Za-z0-9+/]{43}$/);
    const blob = Buffer.from(sb1.hostPublicKey.split(' ')[1]!, 'base64');
    expect(sha256Fingerprint(blob)).to.equal(fp);
    expect(fs.statSync(path.join(dir, 'hostkey')).mode & 0o777).to.equal(0o600);
    // stopping ends live connections, promptly
    const live = await connect(sb1);
    const t0 = Date.now();
    await sb1.close();
    expect(Date.now() - t0).to.be.lessThan(3000);
    const until = Date.now() + 3000;
    while (!live.closed && Date.now() < until) await sleep(20);
    expect(live.closed).to.equal(true);
    const sb2 = await start({ dir });
    expect(sb2.hostKeySha256).to.equal(fp);
    await connect(sb2); // pinned to the same fingerprint
    const other = await start();
    expect(other.hostKeySha256).to.not.equal(fp);
    expect(await rejection(startSandbox({ dir: newDir(), host: '0.0.0.0' as '127.0.0.1', messageTypes: config.messageTypes, namespaces: config.namespaces, receiverId }))).to.match(
      /127\.0\.0\.1 only/,
    );
  });

  it('offers no posix-rename: plain rename replaces an existing file, and a rename onto a final name is judged', async () => {
    const sb = await start();
    const s = await connect(sb);
    expect(s.supportsPosixRename).to.equal(false);
    await s.upload(Buffer.from('first'), '/outbox/scratch', 'a.txt');
    await s.upload(Buffer.from('second, longer'), '/outbox/scratch', 'b.txt');
    await s.rename('/outbox/scratch/b.txt', '/outbox/scratch/a.txt');
    expect(fs.readFileSync(path.join(sb.dir, 'outbox/scratch/a.txt'), 'utf8')).to.equal('second, longer');
    expect(fs.existsSync(path.join(sb.dir, 'outbox/scratch/b.txt'))).to.equal(false);
    expect(s.supportsPosixRename).to.equal(false);

    // over a file that already landed: it lands again (and is a duplicate)
    const doc = validDoc();
    await s.upload(Buffer.from(doc.xml), PRODUCED_DIR, `${doc.fcn}.xml`);
    await waitForAcks(sb, doc.fcn);
    await s.upload(Buffer.from(doc.xml), PRODUCED_DIR, `${doc.fcn}.xml.copy`);
    await s.rename(`${PRODUCED_DIR}/${doc.fcn}.xml.copy`, `${PRODUCED_DIR}/${doc.fcn}.xml`);
    const acks = await waitForAcks(sb, doc.fcn, 2);
    expect(acks[1]!.errors.map((e) => e.code)).to.deep.equal(['DUPLICATE_FILE']);
    // temp names (.part, .copy) are never judged
    expect(fs.readFileSync(path.join(sb.dir, 'processed.jsonl'), 'utf8').trim().split('\n')).to.have.length(2);
  });

  it('lists, downloads and removes acks with the client', async () => {
    const sb = await start();
    const s = await connect(sb);
    const doc = validDoc();
    await s.upload(Buffer.from(doc.xml), PRODUCED_DIR, `${doc.fcn}.xml`);
    const [ack] = await waitForAcks(sb, doc.fcn);
    const listed = await s.list(ACK_DIR);
    expect(listed.map((e) => e.name)).to.deep.equal([path.basename(ack!.file)]);
    expect(listed[0]).to.include({ type: 'file', size: Buffer.byteLength(ack!.xml) });
    expect(Math.abs(listed[0]!.modifyTime - Date.now())).to.be.lessThan(60_000);
    const local = path.join(tmp, `${ack!.ackFcn}.xml`);
    expect(await s.download(`${ACK_DIR}/${path.basename(ack!.file)}`, local, 1e6)).to.equal(Buffer.byteLength(ack!.xml));
    expect(fs.readFileSync(local, 'utf8')).to.equal(ack!.xml);
    await s.remove(`${ACK_DIR}/${path.basename(ack!.file)}`);
    expect(await s.list(ACK_DIR)).to.deep.equal([]);
    expect(await s.stat(`${ACK_DIR}/${path.basename(ack!.file)}`)).to.equal(null);
    const inbox = await s.list(PRODUCED_DIR);
    expect(inbox.map((e) => e.name)).to.deep.equal([`${doc.fcn}.xml`]);
  });

  it('serves the SFTP subsystem only: no extensions, other operations unsupported, a direct put is judged on close', async () => {
    const sb = await start();
    const conn = new ssh2.Client();
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) => {
      conn.on('error', reject);
      conn.on('ready', () => conn.sftp((err, w) => (err ? reject(err) : resolve(w))));
      conn.connect({ host: '127.0.0.1', port: sb.port, username: 'anyone', privateKey: userKey.private, hostVerifier: (k: Buffer) => sha256Fingerprint(k) === sb.hostKeySha256 });
    });
    try {
      expect((sftp as unknown as { _extensions: object })._extensions).to.deep.equal({});
      const code = (fn: (cb: (err: Error | null | undefined) => void) => void) =>
        new Promise<unknown>((resolve) => fn((err) => resolve((err as { code?: unknown } | undefined)?.code)));
      expect(await code((cb) => sftp.rmdir('/inbox/MATERIALS_PRODUCED', cb))).to.equal(8);
      expect(await code((cb) => sftp.symlink('/inbox', '/outbox/l', cb))).to.equal(8);
      expect(await code((cb) => sftp.readlink('/inbox', (e) => cb(e)))).to.equal(8);
      const rp = await new Promise<string>((resolve, reject) => sftp.realpath('.', (e, p) => (e ? reject(e) : resolve(p))));
      expect(rp).to.equal('/');
      expect(await code((cb) => sftp.realpath('../..', (e) => cb(e)))).to.equal(3);
      expect(await code((cb) => sftp.setstat('/inbox', { mode: 0o777 }, cb))).to.equal(undefined);
      // no shell, no exec
      const execErr = await new Promise<Error | undefined>((resolve) => conn.exec('id', (e) => resolve(e)));
      expect(execErr).to.be.instanceOf(Error);

      // an sftp client that writes the final name directly (no temp name): judged when closed
      const doc = validDoc();
      await new Promise<void>((resolve, reject) => sftp.writeFile(`${PRODUCED_DIR}/${doc.fcn}.xml`, doc.xml, (e) => (e ? reject(e) : resolve())));
      expect((await waitForAcks(sb, doc.fcn))[0]!.status).to.equal('SUCCESS');
    } finally {
      conn.end();
    }
  });

  it('`tlbridge sandbox` prints its fingerprint and folders and exits 0 on SIGTERM', async () => {
    const dir = newDir();
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/tlbridge.js'), 'sandbox', '--port', '0', '--dir', dir, '--reject-rate', '0.25', '--ack-delay', '1'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    // resolved by the output itself (or the exit), bounded for a child that never gets there
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 30000);
      const check = () => {
        if (out.includes('stop with')) (clearTimeout(timer), resolve());
      };
      child.stdout.on('data', check);
      child.stderr.on('data', check);
      void exited.then(() => (clearTimeout(timer), resolve()));
    });
    try {
      const fp = /host key fingerprint: (SHA256:\S+)/.exec(out)?.[1];
      expect(fp, out).to.be.a('string');
      expect(fp).to.equal(sha256Fingerprint(Buffer.from(fs.readFileSync(path.join(dir, 'hostkey.pub'), 'utf8').split(' ')[1]!, 'base64')));
      expect(out).to.contain('/inbox/MATERIALS_PRODUCED/').and.contain('/outbox/IE_PROCESSING_RESPONSE/');
      expect(out).to.contain('reject rate: 0.25, ack delay: 1 s');
      expect(out).to.contain(describeLimits(DEFAULT_LIMITS));
      expect(out).to.match(/127\.0\.0\.1:\d+/);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).to.equal(0);
  });
  // ------------------------------------------------------------------ limits (issue 10, 7)

  /** A bare TCP connection from `localAddress`: `greeted` resolves with the server's first bytes, or null if it closed first. */
  function rawSocket(sb: Sandbox, localAddress = '127.0.0.1') {
    const socket = net.connect({ host: '127.0.0.1', port: sb.port, localAddress });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const greeted = new Promise<string | null>((resolve) => {
      socket.once('data', (d: Buffer) => resolve(d.toString('latin1')));
      socket.once('close', () => resolve(null));
    });
    socket.on('error', () => undefined);
    rawSockets.push(socket);
    return { socket, closed, greeted };
  }

  function sftpOf(sb: Sandbox): Promise<{ conn: ssh2.Client; sftp: SFTPWrapper }> {
    const conn = new ssh2.Client();
    rawClients.push(conn);
    return new Promise((resolve, reject) => {
      conn.on('error', reject);
      conn.on('ready', () => conn.sftp((err, sftp) => (err ? reject(err) : resolve({ conn, sftp }))));
      conn.connect({ host: '127.0.0.1', port: sb.port, username: 'anyone', privateKey: userKey.private, hostVerifier: (k: Buffer) => sha256Fingerprint(k) === sb.hostKeySha256 });
    });
  }

  it('refuses connections over the limit in all and per address, before any SSH is spoken', async () => {
    const log = memoryLogger();
    const sb = await start({ limits: { maxConnections: 3, maxConnectionsPerAddress: 2 }, logger: log });
    expect(sb.limits).to.include({ maxConnections: 3, maxConnectionsPerAddress: 2, maxHandlesPerSession: DEFAULT_LIMITS.maxHandlesPerSession });
    const a1 = rawSocket(sb, '127.0.0.1');
    const a2 = rawSocket(sb, '127.0.0.1');
    expect(await a1.greeted).to.match(/^SSH-2\.0-tlbridge-sandbox/);
    expect(await a2.greeted).to.match(/^SSH-2\.0-/);
    // a third from the same address: closed without a greeting
    const a3 = rawSocket(sb, '127.0.0.1');
    expect(await a3.greeted).to.equal(null);
    // another address still gets in, up to the limit in all
    const b1 = rawSocket(sb, '127.0.0.2');
    expect(await b1.greeted).to.match(/^SSH-2\.0-/);
    const c1 = rawSocket(sb, '127.0.0.3');
    expect(await c1.greeted).to.equal(null);
    const refused = log.entries.filter((e) => e.level === 'warn' && /connection from .* refused/.test(e.message)).map((e) => e.message);
    expect(refused).to.have.length(2);
    expect(refused[0]).to.contain('2 from 127.0.0.1');
    expect(refused[1]).to.contain('3 in all');
    // the real client over the limit fails with a connection error, and the sandbox stays up
    expect(await rejection(connect(sb))).to.be.instanceOf(SftpError);
    a1.socket.destroy();
    a2.socket.destroy();
    await Promise.all([a1.closed, a2.closed]);
    const s = await connectWhenFree(sb);
    expect((await s.list('/inbox')).length).to.be.greaterThan(0);
  });

  /** connect() once the sandbox has seen the sockets a test closed go (its close event is its own). */
  async function connectWhenFree(sb: Sandbox): Promise<SftpSession> {
    for (let i = 0; ; i++) {
      try {
        return await connect(sb);
      } catch (e) {
        if (i >= 20) throw e;
        await sleep(50);
      }
    }
  }

  it('fails an OPEN or OPENDIR over the handle limit of a session, and a session over the limit of a connection', async () => {
    const log = memoryLogger();
    const sb = await start({ limits: { maxHandlesPerSession: 3, maxSessionsPerConnection: 2 }, logger: log });
    const { conn, sftp } = await sftpOf(sb);
    // a second SFTP channel on the same connection is fine, a third is refused
    const channel = () => new Promise<SFTPWrapper>((resolve, reject) => conn.sftp((e, w) => (e ? reject(e) : resolve(w))));
    await channel();
    expect(await rejection(channel())).to.be.instanceOf(Error);
    expect(log.entries.some((x) => x.level === 'warn' && /the session limit/.test(x.message))).to.equal(true);

    const opendir = (p: string) => new Promise<Buffer>((resolve, reject) => sftp.opendir(p, (e, h) => (e ? reject(e) : resolve(h))));
    const open = (p: string) => new Promise<Buffer>((resolve, reject) => sftp.open(p, 'w', (e, h) => (e ? reject(e) : resolve(h))));
    const handles = [await opendir('/inbox'), await opendir('/outbox'), await open('/outbox/one.txt')];
    const e = (await rejection(open('/outbox/two.txt'))) as Error & { code?: number };
    expect(e.code).to.equal(4); // FAILURE
    expect(e.message).to.contain('too many open handles (limit 3 per session)');
    expect(fs.existsSync(path.join(sb.dir, 'outbox/two.txt')), 'nothing created by a refused open').to.equal(false);
    expect(((await rejection(opendir('/inbox'))) as Error).message).to.contain('too many open handles');
    expect(log.entries.some((x) => x.level === 'warn' && /handle limit/.test(x.message))).to.equal(true);
    // another session has handles of its own
    const other = await sftpOf(sb);
    await new Promise<void>((resolve, reject) => other.sftp.opendir('/inbox', (err) => (err ? reject(err) : resolve())));
    await new Promise<void>((resolve, reject) => sftp.close(handles[0]!, (err) => (err ? reject(err) : resolve())));
    await open('/outbox/two.txt');
    expect(fs.existsSync(path.join(sb.dir, 'outbox/two.txt'))).to.equal(true);
  });

  it('drops a client that does not authenticate within the login time; a logged-in one stays', async () => {
    const log = memoryLogger();
    const sb = await start({ limits: { loginTimeoutSeconds: 0.3 }, logger: log });
    const s = await connect(sb); // logged in before the slow one arrives
    const slow = rawSocket(sb);
    expect(await slow.greeted).to.match(/^SSH-2\.0-/);
    slow.socket.write('SSH-2.0-slowpoke\r\n'); // speaks, but never gets to authenticate
    await slow.closed; // by the sandbox: the test never closes it
    const dropped = log.entries.filter((e) => /dropped: not authenticated within 0\.3 s/.test(e.message));
    expect(dropped, JSON.stringify(log.entries.map((e) => e.message))).to.have.length(1);
    expect(dropped[0]!.level).to.equal('warn');
    // the session that logged in earlier is older than the login time, and still served
    expect((await s.list('/inbox')).length).to.be.greaterThan(0);
    const doc = validDoc();
    expect((await s.upload(Buffer.from(doc.xml), PRODUCED_DIR, `${doc.fcn}.xml`)).outcome).to.equal('uploaded');
  });

  it('refuses a write past maxUploadBytes, and judges a larger file found in the inbox XML_MALFORMED unread', async () => {
    const log = memoryLogger();
    const dir = newDir();
    const doc = validDoc();
    const limits = { maxUploadBytes: 4096 };
    let sb = await start({ dir, limits, logger: log });
    const s = await connect(sb);
    const big = Buffer.from(doc.xml.replace('?>', `?><!--${'x'.repeat(8192)}-->`));
    expect(await rejection(s.upload(big, PRODUCED_DIR, `${doc.fcn}.xml`))).to.be.instanceOf(SftpError);
    expect(log.entries.some((e) => /past the upload limit of 4096 bytes/.test(e.message))).to.equal(true);
    expect(fs.existsSync(path.join(dir, 'inbox/MATERIALS_PRODUCED', `${doc.fcn}.xml`))).to.equal(false);
    await s.close();
    await sb.close();
    fs.writeFileSync(path.join(dir, 'inbox/MATERIALS_PRODUCED', `${doc.fcn}.xml`), big); // put there locally
    sb = await start({ dir, limits, logger: log });
    const [ack] = acksFor(sb, doc.fcn);
    expect(ack!.errors.map((e) => e.code)).to.deep.equal(['XML_MALFORMED']);
    expect(ack!.errors[0]!.message).to.contain(`file of ${big.length} bytes exceeds the limit of 4096 bytes`);
  });

  it('examines a large upload in the worker: while it is being judged another session lists, uploads and gets its ack', async () => {
    const gate = new Int32Array(new SharedArrayBuffer(4)); // 0: the worker waits before each job
    const log = memoryLogger();
    const sb = await start({ limits: { workerThresholdBytes: 64 * 1024 }, examineGate: gate, logger: log });
    const a = await connect(sb);
    const b = await connect(sb);
    // a valid document made large by a comment, and a large one the XSD refuses
    const bigDoc = validDoc();
    const big = Buffer.from(bigDoc.xml.replace('?>', `?><!--${'padding '.repeat(300_000)}-->`));
    const badDoc = validDoc();
    const bad = Buffer.from(badDoc.xml.replace(/<LotNumber>[^<]*<\/LotNumber>/, '').replace('?>', `?><!--${'p'.repeat(200_000)}-->`));
    expect(big.length).to.be.greaterThan(2_000_000);
    expect((await a.upload(big, PRODUCED_DIR, `${bigDoc.fcn}.xml`)).outcome).to.equal('uploaded');
    expect((await a.upload(bad, PRODUCED_DIR, `${badDoc.fcn}.xml`)).outcome).to.equal('uploaded');

    // the worker holds the large files; the other session is served meanwhile, acks included
    const small = validDoc();
    expect((await b.list(PRODUCED_DIR)).map((e) => e.name).sort()).to.deep.equal([`${badDoc.fcn}.xml`, `${bigDoc.fcn}.xml`].sort());
    expect((await b.upload(Buffer.from(small.xml), PRODUCED_DIR, `${small.fcn}.xml`)).outcome).to.equal('uploaded');
    expect((await waitForAcks(sb, small.fcn))[0]!.status).to.equal('SUCCESS');
    expect(acksFor(sb, bigDoc.fcn), 'the large file is still being judged').to.have.length(0);
    expect((await a.list(ACK_DIR)).length, 'the uploading session too is served').to.equal(1);

    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
    const [bigAck] = await waitForAcks(sb, bigDoc.fcn);
    expect(bigAck!.status).to.equal('SUCCESS');
    const [badAck] = await waitForAcks(sb, badDoc.fcn);
    expect(badAck!.errors.map((e) => e.code)).to.deep.equal(['XSD_INVALID']);
    const order = fs.readFileSync(path.join(sb.dir, 'processed.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { fileControlNumber: string }).fileControlNumber);
    expect(order).to.deep.equal([small.fcn, bigDoc.fcn, badDoc.fcn]);
    expect(log.entries.filter((e) => e.level === 'error')).to.deep.equal([]);
  });
});
