// `audit trace ID` (product.md 10) on a flow run for real (test/support/audit-flow.ts): a resent
// message with both uploads and both acks, its transitions with the operator behind the resend,
// its source and XML, the rules in force when it was staged; matching by message id,
// FileControlNumber and reference document; exit 1 when nothing matches.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TraceMessage } from '../src/audit/trace.js';
import { sha256Hex } from './support/acks.js';
import { runAuditFlow, type AuditFlow } from './support/audit-flow.js';
import { useSharedSshd } from './support/shared-sshd.js';

describe('audit trace (real intake, real sshd, real ledger)', function () {
  let flow: AuditFlow;

  useSharedSshd(['/inbox', '/outbox/IE_PROCESSING_RESPONSE'], {
    ready: async (sshd) => {
      flow = await runAuditFlow(sshd);
    },
    closing: async () => {
      if (flow) await flow.env.close();
    },
  });

  const trace = async (id: string) => {
    const r = await flow.cli('audit', 'trace', id, '--json');
    expect(r.code, r.err.join('\n')).to.equal(0);
    return JSON.parse(r.out.join('\n')) as TraceMessage[];
  };
  const archived = (rel: string | null) => {
    expect(rel).to.be.a('string');
    return fs.readFileSync(path.join(flow.env.config.dataDir, 'archive', rel!));
  };
  const sha = (b: Buffer) => sha256Hex(b);

  it('a resent message: both uploads (batch, remote path, archived XML) and both acks (archived file, sha256, codes), every transition with the operator', async () => {
    const id = flow.ids.resent;
    const fcn = flow.fcn(id);
    const [m, ...more] = await trace(fcn);
    expect(more).to.deep.equal([]);
    expect(m).to.include({ id: String(id), fileControlNumber: fcn, partner: 'ACME-PHARMA', messageType: 'MATERIALS_PRODUCED', state: 'ACCEPTED', referenceDocumentNumber: '4900012347', workOrderNumber: 'WO-100236' });
    expect(m!.lots).to.deep.equal(['LOT2026C']);

    // the source file and its line, the XML
    expect(m!.source).to.include({ file: 'ERP_0481_produced.txt' });
    const src = fs.readFileSync('fixtures/valid/materials-produced.erp-delimited.txt', 'utf8').split(/\r?\n/);
    expect(src[m!.source.line - 1]).to.match(/^DOC\|4900012347\|/);
    expect(m!.source.sha256).to.equal(sha(fs.readFileSync('fixtures/valid/materials-produced.erp-delimited.txt')));
    expect(fs.existsSync(path.join(flow.env.config.dataDir, 'archive', m!.source.archiveDir!, 'manifest.json'))).to.equal(true);
    expect(sha(fs.readFileSync(path.resolve(flow.env.config.dataDir, m!.xml.path)))).to.equal(m!.xml.sha256);

    // both uploads, each XML archived byte-identical to what was staged
    expect(m!.uploads.map((u) => [u.batchId, u.remotePath])).to.deep.equal([
      [1, `/inbox/MATERIALS_PRODUCED/${fcn}.xml`],
      [2, `/inbox/MATERIALS_PRODUCED/${fcn}.xml`],
    ]);
    for (const u of m!.uploads) {
      expect(sha(archived(u.archivedXml))).to.equal(m!.xml.sha256);
      expect(u.sentAt >= u.batchTime).to.equal(true);
    }

    // both acks: the late ERROR of the first upload, then SUCCESS
    expect(m!.acks.map((a) => [a.status, a.effect, a.errors.map((e) => e.code)])).to.deep.equal([
      ['ERROR', 'rejected', ['E3001']],
      ['SUCCESS', 'accepted', []],
    ]);
    for (const a of m!.acks) expect(sha(archived(a.archivedPath))).to.equal(a.sha256);
    expect(m!.acks[0]!.errors[0]).to.deep.equal({ code: 'E3001', class: 1, message: 'late <b>answer</b>', path: null });

    // every transition, the resend with its operator
    expect(m!.transitions.map((t) => `${t.from ?? '(new)'}->${t.to}`)).to.deep.equal([
      '(new)->STAGED',
      'STAGED->SENDING',
      'SENDING->SENT',
      'SENT->STAGED',
      'STAGED->SENDING',
      'SENDING->SENT',
      'SENT->REJECTED',
      'REJECTED->ACCEPTED',
    ]);
    const resend = m!.transitions[3]!;
    expect(resend.operator).to.deep.include({ command: 'resend', reason: 'partner lost the file (ticket 77)' });
    expect(resend.operator!.by).to.match(new RegExp(`^${os.userInfo().username}`));
    expect(m!.transitions.filter((t) => t.operator).length).to.equal(1);
    for (const t of m!.transitions) expect(t.at).to.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);

    // the rules in force when it was staged: the config manifest, the config and its schema's sha256
    expect(m!.rulesInForce).to.deep.equal({
      manifest: flow.configManifest,
      createdAt: m!.rulesInForce!.createdAt,
      event: 'start',
      config: { path: flow.env.configPath, sha256: flow.configSha },
      schema: { name: 'MATERIALS_PRODUCED', path: path.resolve('xsd', 'MATERIALS_PRODUCED.xsd'), sha256: flow.schemaSha },
    });
    expect(m!.rulesInForce!.createdAt <= m!.transitions[0]!.at).to.equal(true);
  });

  it('human text: the same history, one message after another', async () => {
    const id = flow.ids.resent;
    const r = await flow.cli('audit', 'trace', String(id));
    expect(r.code, r.err.join('\n')).to.equal(0);
    const text = r.out.join('\n');
    expect(text).to.match(new RegExp(`^message ${id}: ${flow.fcn(id)}, MATERIALS_PRODUCED for ACME-PHARMA, state ACCEPTED`));
    expect(text).to.match(/source: ERP_0481_produced\.txt, line \d+ /);
    expect(text).to.include('uploads (2):');
    expect(text).to.match(/1\. batch 1 .* to \/inbox\/MATERIALS_PRODUCED\/\S+\.xml; XML archived as \S+batch-1\/\S+\.xml/);
    expect(text).to.match(/2\. batch 2 /);
    expect(text).to.include('acks (2):');
    expect(text).to.match(/ERROR of 2026-11-25 12:10:00Z, effect rejected, .*E3001 \(class 1/);
    expect(text).to.match(/SENT -> STAGED {2}resend by \S+.*partner lost the file/);
    expect(text).to.include(`config ${flow.env.configPath} sha256 ${flow.configSha}`);
    expect(text).to.include(`schema MATERIALS_PRODUCED`);
  });

  it('matches by message id, FileControlNumber or reference document (every message with it); a type the config manifest names no schema for shows none', async () => {
    const { accepted, reversal } = flow.ids;
    expect((await trace(String(accepted))).map((m) => m.id)).to.deep.equal([String(accepted)]);
    expect((await trace(flow.fcn(accepted))).map((m) => m.id)).to.deep.equal([String(accepted)]);
    const byRef = await trace('4900012345');
    expect(byRef.map((m) => m.id)).to.deep.equal([String(accepted)]);
    expect(byRef[0]!.acks.map((a) => a.status)).to.deep.equal(['SUCCESS']);
    // the reversal: its own type, whose schema the manifest does not name
    const [rev] = await trace(flow.ref(reversal));
    expect(rev!.originalReferenceDocumentNumber).to.equal('4900012345');
    expect(rev!.rulesInForce!.schema).to.equal(null);
    // the cancelled one: no upload, its hold and cancel with the operator
    const [c] = await trace(flow.fcn(flow.ids.cancelled));
    expect(c!.uploads).to.deep.equal([]);
    expect(c!.transitions.map((t) => t.operator?.command ?? null)).to.deep.equal([null, 'hold', 'cancel']);
  });

  it('exit 1 when nothing matches (text and --json); a blank ID is a usage error', async () => {
    const r = await flow.cli('audit', 'trace', 'NO-SUCH-MESSAGE');
    expect(r.code).to.equal(1);
    expect(r.out).to.deep.equal([]);
    expect(r.err.join('\n')).to.match(/no message matches "NO-SUCH-MESSAGE"/);
    const j = await flow.cli('audit', 'trace', "x' OR '1'='1", '--json');
    expect(j.code).to.equal(1);
    expect(JSON.parse(j.out.join('\n'))).to.deep.equal([]);
    expect((await flow.cli('audit', 'trace', ' ')).code).to.equal(2);
  });
});
