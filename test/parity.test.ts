// The sandbox is a faithful stand-in (product.md 7): the same daemon, wired exactly as `tlbridge
// run` wires it (test/support/quickstart.ts startLikeRun), runs once against the embedded
// sandbox (`sftp.host: embedded`) and once against a real OpenSSH sshd (test/support/sshd.ts,
// chroot: remote paths are /inbox/...), each from an empty ledger with the shipped
// config/tlbridge.yaml (only paths, the schedules and the sftp endpoint changed), and the same
// input files dropped one after the other. Both runs must end alike: the same files CONVERTED
// and FAILED with the same error reports, the same remote paths /inbox/<TYPE>/<fcn>.xml, each
// uploaded file byte for byte the same except FileDate/FileTime, the same ledger rows SENT
// right after the batch (ack polls are scheduled far away in both runs), and the bytes on
// each server equal to the message the ledger says it sent.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { openLedger } from '../src/ledger/db.js';
import { filesUnder, memoryLogger, normaliseFileDateTime, repoTop, sleep, startLikeRun } from './support/quickstart.js';
import { startSshd, sshdUnavailableReason, type TestSshd } from './support/sshd.js';

const P = 'ACME-PHARMA';
const SCHEDULE = '*/2 * * * * *';
const FAR_AWAY = '0 0 1 1 *'; // ack polls: once a year, i.e. not during the test
const INPUTS = [
  'fixtures/valid/materials-produced.erp-delimited.txt',
  'fixtures/valid/work-order-milestones.erp-delimited.txt',
  'fixtures/invalid/qty-zero.erp-delimited.txt',
];

interface FileRow {
  name: string;
  state: string;
  message_type: string | null;
  messages: number;
}

interface MessageRow {
  fcn: string;
  message_type: string;
  type_code: string;
  reference_doc: string;
  state: string;
  remote_path: string | null;
  xml_path: string;
  xml_sha256: string;
  bytes: number;
}

interface RunResult {
  label: string;
  files: FileRow[];
  messages: MessageRow[];
  /** remote path (/inbox/...) -> content, every regular file the server holds under /inbox */
  uploaded: Map<string, Buffer>;
  /** error/ file name -> content of the .error.txt reports */
  errorReports: Map<string, string>;
  errors: string[];
  ms: number;
}

/** config/tlbridge.yaml as shipped, with paths under `dir`, the test schedules and `sftp`. */
function writeConfig(dir: string, sftp: Record<string, unknown>): string {
  const shipped = YAML.parse(fs.readFileSync(path.join(repoTop(), 'config', 'tlbridge.yaml'), 'utf8')) as {
    dataDir: string;
    rescanSeconds: number;
    inbound: { path: string; stableMs?: number }[];
    partners: Record<string, { schedule: string; ackPoll: string; sftp: Record<string, unknown> }>;
  };
  const doc = structuredClone(shipped);
  doc.dataDir = './var';
  doc.rescanSeconds = 1;
  doc.inbound = doc.inbound.map((i) => ({ ...i, path: `./var/${path.basename(i.path)}`, stableMs: 300 }));
  expect(Object.keys(doc.partners), 'the shipped config has the one partner').to.deep.equal([P]);
  const p = doc.partners[P]!;
  p.schedule = SCHEDULE;
  p.ackPoll = FAR_AWAY;
  const { host: _host, ...rest } = p.sftp; // inboxDir, ackDir, tempSuffix, connections, ... as shipped
  p.sftp = { ...rest, ...sftp };
  const file = path.join(dir, 'tlbridge.yaml');
  fs.writeFileSync(file, YAML.stringify(doc));
  return file;
}

async function waitUntil(what: string, fn: () => boolean, timeoutMs: number, detail: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${detail()}`);
    await sleep(50);
  }
}

/** One run: the daemon on `configFile`, the inputs dropped one at a time, until everything is SENT. */
async function runOnce(label: string, configFile: string, serverInbox: () => string): Promise<RunResult> {
  const t0 = Date.now();
  const config = loadConfig(configFile);
  const log = memoryLogger();
  const running = await startLikeRun(config, log);
  const db = running.daemon.db;
  const detail = () =>
    `${label}: files ${JSON.stringify(db.prepare('SELECT name, state FROM files').all())} messages ${JSON.stringify(db.prepare('SELECT fcn, state, last_error FROM messages').all())}\n` +
    log.lines
      .filter((l) => l.level !== 'debug')
      .slice(-30)
      .map((l) => `${l.level} ${l.msg} ${JSON.stringify(l.fields)}`)
      .join('\n');
  try {
    const inbound = config.inbound[0]!.path;
    fs.mkdirSync(inbound, { recursive: true });
    // one at a time: the order of intake is the order of the FileControlNumbers
    for (const rel of INPUTS) {
      const name = path.basename(rel);
      fs.copyFileSync(path.join(repoTop(), rel), path.join(inbound, name));
      await waitUntil(
        `${name} converted or failed`,
        () => (db.prepare(`SELECT COUNT(*) AS n FROM files WHERE name = ? AND state IN ('CONVERTED','FAILED','DUPLICATE')`).get(name) as { n: number }).n === 1,
        30_000,
        detail,
      );
    }
    await waitUntil(
      'every message SENT',
      () => {
        const r = db.prepare(`SELECT COUNT(*) AS n, SUM(state = 'SENT') AS sent FROM messages`).get() as { n: number; sent: number | null };
        return r.n > 0 && r.sent === r.n;
      },
      60_000,
      detail,
    );
  } finally {
    await running.stop();
  }

  // read everything back once the daemon is stopped, from the ledger file itself
  const ledger = openLedger(path.join(config.dataDir, 'ledger.sqlite'));
  let files: FileRow[];
  let messages: MessageRow[];
  try {
    files = ledger.prepare('SELECT name, state, message_type, messages FROM files ORDER BY name').all() as FileRow[];
    messages = ledger
      .prepare('SELECT fcn, message_type, type_code, reference_doc, state, remote_path, xml_path, xml_sha256, bytes FROM messages ORDER BY fcn')
      .all() as MessageRow[];
  } finally {
    ledger.close();
  }
  const inbox = serverInbox();
  const uploaded = new Map(filesUnder(inbox).map((rel) => [`/inbox/${rel}`, fs.readFileSync(path.join(inbox, rel))]));
  const errorDir = path.join(config.dataDir, 'error');
  const errorReports = new Map(
    filesUnder(errorDir)
      .filter((f) => f.endsWith('.error.txt'))
      .map((f) => [f, fs.readFileSync(path.join(errorDir, f), 'utf8')]),
  );
  const errors = log.lines.filter((l) => l.level === 'error').map((l) => `${l.msg} ${JSON.stringify(l.fields)}`);
  return { label, files, messages, uploaded, errorReports, errors, ms: Date.now() - t0 };
}

describe('parity: the embedded sandbox and a real OpenSSH sshd receive the same batches', function () {
  this.timeout(5 * 60 * 1000);
  let sshd: TestSshd | undefined;
  let tmp: string;
  let sandboxRun: RunResult;
  let sshdRun: RunResult;

  before(async function () {
    const why = sshdUnavailableReason();
    if (why) {
      console.log(`      SKIPPED: no private OpenSSH sshd on this machine: ${why}`);
      this.skip();
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-parity-'));
    sshd = await startSshd({ dirs: ['/inbox', '/outbox/IE_PROCESSING_RESPONSE'] });

    const sandboxDir = path.join(tmp, 'embedded');
    fs.mkdirSync(sandboxDir);
    const sandboxConfig = writeConfig(sandboxDir, { host: 'embedded' });
    sandboxRun = await runOnce('embedded sandbox', sandboxConfig, () => path.join(sandboxDir, 'var', 'sandbox', 'inbox'));

    const sshdDir = path.join(tmp, 'sshd');
    fs.mkdirSync(sshdDir);
    const s = sshd;
    const sshdConfig = writeConfig(sshdDir, { host: s.host, port: s.port, username: s.username, privateKeyFile: s.privateKeyPath, hostKeySha256: s.hostKeySha256 });
    sshdRun = await runOnce('OpenSSH sshd', sshdConfig, () => path.join(s.root, 'inbox'));
    console.log(`      run times: embedded sandbox ${sandboxRun.ms} ms, OpenSSH sshd ${sshdRun.ms} ms`);
  });

  after(async function () {
    if (sshd) await sshd.dispose();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('neither run logged an error', function () {
    expect(sandboxRun.errors, sandboxRun.label).to.deep.equal([]);
    expect(sshdRun.errors, sshdRun.label).to.deep.equal([]);
  });

  it('the same files end CONVERTED and FAILED, with the same error reports', function () {
    expect(sandboxRun.files.map((f) => `${f.name} ${f.state}`)).to.deep.equal([
      'materials-produced.erp-delimited.txt CONVERTED',
      'qty-zero.erp-delimited.txt FAILED',
      'work-order-milestones.erp-delimited.txt CONVERTED',
    ]);
    expect(sshdRun.files).to.deep.equal(sandboxRun.files);
    expect([...sandboxRun.errorReports.keys()]).to.deep.equal(['qty-zero.erp-delimited.txt.error.txt']);
    expect([...sshdRun.errorReports]).to.deep.equal([...sandboxRun.errorReports]);
  });

  it('the same remote paths /inbox/<TYPE>/<fcn>.xml are uploaded, nothing else (no temp names left)', function () {
    const paths = [...sandboxRun.uploaded.keys()].sort();
    expect(paths).to.have.length(6); // 3 Materials Produced + 3 Work Order Milestones
    for (const p of paths) expect(p).to.match(/^\/inbox\/(MATERIALS_PRODUCED|WORK_ORDER_MILESTONES)\/C\d{12}\.xml$/);
    expect([...sshdRun.uploaded.keys()].sort()).to.deep.equal(paths);
    expect(sandboxRun.messages.map((m) => m.remote_path).sort()).to.deep.equal(paths);
  });

  it('each uploaded file is the same in both runs except FileDate and FileTime', function () {
    for (const [p, a] of sandboxRun.uploaded) {
      const b = sshdRun.uploaded.get(p);
      expect(b, p).to.not.equal(undefined);
      const [na, nb] = [normaliseFileDateTime(a.toString('utf8')), normaliseFileDateTime(b!.toString('utf8'))];
      expect(na, `${p}: FileDate and FileTime normalised`).to.not.equal(a.toString('utf8'));
      expect(nb, p).to.equal(na);
    }
  });

  it('each server holds exactly the bytes the ledger says it sent (xml_sha256, bytes)', async function () {
    const { createHash } = await import('node:crypto');
    for (const run of [sandboxRun, sshdRun]) {
      for (const m of run.messages) {
        const data = run.uploaded.get(m.remote_path!);
        expect(data, `${run.label} ${m.remote_path}`).to.not.equal(undefined);
        expect(data!.length, `${run.label} ${m.remote_path} bytes`).to.equal(m.bytes);
        expect(createHash('sha256').update(data!).digest('hex'), `${run.label} ${m.remote_path} sha256`).to.equal(m.xml_sha256);
      }
    }
  });

  it('the same ledger messages, all SENT right after the batch (before any ack)', function () {
    const view = (r: RunResult) => r.messages.map(({ fcn, message_type, type_code, reference_doc, state, remote_path }) => ({ fcn, message_type, type_code, reference_doc, state, remote_path }));
    expect(sandboxRun.messages.map((m) => m.state)).to.deep.equal(Array(6).fill('SENT'));
    expect(view(sshdRun)).to.deep.equal(view(sandboxRun));
    // the FileControlNumbers follow the order the files were dropped in, from an empty ledger
    // (numbers are reserved per file in blocks, so the second file need not start at 4)
    const byType = (t: string) => sandboxRun.messages.filter((m) => m.message_type === t).map((m) => m.fcn);
    const mp = byType('MATERIALS_PRODUCED');
    const wo = byType('WORK_ORDER_MILESTONES');
    expect(mp).to.deep.equal(['C000000000001', 'C000000000002', 'C000000000003']);
    expect(wo).to.have.length(3);
    expect(wo.every((f) => f > mp[2]!), `${wo} after ${mp}`).to.equal(true);
  });
});
