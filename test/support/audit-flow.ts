// The flow the audit tests report on, run for real: a config manifest in the chain (the rules
// in force), two fixture files through the real intake (XSD, staging, archive), batches over
// SFTP to a real OpenSSH sshd with `send-now`, acks polled from it: one accepted, one rejected
// with codes, one resent (a late ERROR for its first upload, then SUCCESS for the second), a
// reversal accepted, another held and cancelled.
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { processClaimed } from '../../src/intake/intake.js';
import { Ledger } from '../../src/ledger/ledger.js';
import { nullLogger } from '../../src/log.js';
import { ACK_DIR, PARTNER, makeAckEnv, renderAck, sha256Hex, type AckEnv } from './acks.js';
import { runCli, type CliRun } from './cli.js';
import { VALID_DIR } from './fixtures.js';
import type { TestSshd } from './sshd.js';

export interface AuditFlow {
  env: AckEnv;
  cli(...args: string[]): Promise<CliRun>;
  /** message ids by role */
  ids: { accepted: number; rejected: number; resent: number; reversal: number; cancelled: number };
  fcn(id: number): string;
  ref(id: number): string;
  configManifest: string;
  configSha: string;
  schemaSha: string;
}

export async function runAuditFlow(sshd: TestSshd): Promise<AuditFlow> {
  for (const d of ['inbox', ACK_DIR.slice(1)]) {
    const p = path.join(sshd.root, d);
    fs.rmSync(p, { recursive: true, force: true });
    fs.mkdirSync(p, { recursive: true, mode: 0o755 });
  }
  const env = makeAckEnv(sshd);
  const cli = (...args: string[]) => runCli([...args, '--config', env.configPath]);
  const ok = async (...args: string[]) => {
    const r = await cli(...args);
    expect(r.code, `${args.join(' ')}: ${r.err.join('\n')}`).to.equal(0);
    return r;
  };
  const fcn = (id: number) => (env.db.prepare('SELECT fcn FROM messages WHERE id = ?').pluck().get(id) as string);
  const ref = (id: number) => (env.db.prepare('SELECT reference_doc FROM messages WHERE id = ?').pluck().get(id) as string);
  const byRef = (r: string) => env.db.prepare('SELECT id FROM messages WHERE reference_doc = ?').pluck().get(r) as number;

  // the rules in force, as the daemon records them at start (the manifest kind of issue 12)
  const configSha = sha256Hex(fs.readFileSync(env.configPath));
  const xsd = path.resolve('xsd', 'MATERIALS_PRODUCED.xsd');
  const schemaSha = fs.existsSync(xsd) ? sha256Hex(fs.readFileSync(xsd)) : sha256Hex('MATERIALS_PRODUCED');
  const { dir } = env.archive.add('config', 'start-1', [], {
    event: 'start',
    config: { path: env.configPath, sha256: configSha },
    schemas: [
      { name: 'MATERIALS_PRODUCED', path: xsd, sha256: schemaSha },
      { name: 'ack', path: '/xsd/ack.xsd', sha256: sha256Hex('ack') },
    ],
  });

  const deps = { config: env.config, ledger: new Ledger(env.db), archive: env.archive, logger: nullLogger };
  const work = path.join(env.config.dataDir, 'work');
  fs.mkdirSync(work, { recursive: true });
  const intake = async (fixture: string, name: string) => {
    const workPath = path.join(work, name);
    fs.copyFileSync(path.join(VALID_DIR, fixture), workPath);
    const out = await processClaimed(deps, { workPath, name, inbound: env.config.inbound[0]! });
    expect(out.state, `${name}: ${JSON.stringify(out.errors)}`).to.equal('CONVERTED');
  };

  await intake('materials-produced.erp-delimited.txt', 'ERP_0481_produced.txt');
  const [accepted, rejected, resent] = ['4900012345', '4900012346', '4900012347'].map(byRef) as [number, number, number];
  await ok('send-now', '--partner', PARTNER); // batch 1: the three originals
  await intake('materials-produced-reversal.erp-delimited.txt', 'ERP_0495_reversal.txt');
  const [reversal, cancelled] = ['4900012390', '4900012391'].map(byRef) as [number, number];

  env.put('ack-1.xml', renderAck({ inputFcn: fcn(accepted), status: 'SUCCESS', fileTime: '12:00:00Z' }));
  env.put(
    'ack-2.xml',
    renderAck({
      inputFcn: fcn(rejected),
      status: 'ERROR',
      fileTime: '12:00:01Z',
      errors: [
        { code: 'E1042', class: 1, message: 'LotNumber unknown to receiver' },
        { code: 'E2001', class: 1, message: 'quantity out of range', path: '/MessageBody/Lot[2]' },
      ],
    }),
  );
  await env.poll();
  await ok('resend', String(resent), '--reason', 'partner lost the file (ticket 77)');
  // the partner's late answer to the first upload arrives while it is STAGED again
  env.put('ack-3.xml', renderAck({ inputFcn: fcn(resent), status: 'ERROR', fileTime: '12:10:00Z', errors: [{ code: 'E3001', class: 1, message: 'late <b>answer</b>' }] }));
  await env.poll();
  await ok('hold', String(cancelled), '--reason', 'its original was rejected');
  await ok('cancel', String(cancelled), '--reason', 'original rejected; ERP re-exports it');
  await ok('send-now', '--partner', PARTNER); // batch 2: the resend and the first reversal
  env.put('ack-4.xml', renderAck({ inputFcn: fcn(resent), status: 'SUCCESS', fileTime: '12:20:00Z' }));
  env.put('ack-5.xml', renderAck({ inputFcn: fcn(reversal), status: 'SUCCESS', fileTime: '12:20:01Z', inputTransactionType: 'MATPRODUCEDREV' }));
  await env.poll();

  const state = (id: number) => env.message(id).state;
  expect([accepted, rejected, resent, reversal, cancelled].map(state)).to.deep.equal(['ACCEPTED', 'REJECTED', 'ACCEPTED', 'ACCEPTED', 'CANCELLED']);
  return { env, cli, ids: { accepted, rejected, resent, reversal, cancelled }, fcn, ref, configManifest: `${dir}/manifest.json`, configSha, schemaSha };
}
