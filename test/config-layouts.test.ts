// The configuration: every problem listed by key path, check-config's exit codes, and
// site-defined layouts (messages.md 3: a site adds layouts without code changes).
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { main } from '../src/cli/main.js';
import { translateFile } from '../src/intake/translate.js';

const BASE = `sender: { id: "0614141000005" }
inbound: [ { path: ./in } ]
partners:
  ACME-PHARMA: { receiverId: "0312345000001", usage: TEST, sftp: { host: embedded } }
`;

describe('configuration and site layouts', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-cfg-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const write = (yaml: string) => {
    const f = path.join(dir, `c${++n}.yaml`);
    fs.writeFileSync(f, yaml);
    return f;
  };
  const problems = (yaml: string): string[] => {
    try {
      loadConfig(write(yaml));
    } catch (e) {
      if (e instanceof ConfigError) return e.problems;
      throw e;
    }
    return [];
  };
  const run = async (args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out, err };
  };

  it('lists every problem by key path, not just the first', () => {
    const p = problems(`sender: { id: "0614141000005", controlNumberPrefix: "TOOLONGPREFIX" }
timezone: Mars/Olympus
inbound: [ { path: ./in, layout: nope } ]
bogus: 1
messageTypes:
  MATERIALS_ISSUED: { namespace: "urn:x" }
partners:
  ACME-PHARMA:
    receiverId: "0312345000001"
    usage: LIVE
    schedule: "every minute"
    sftp: { host: sftp.example.net, hostKeySha256: "abc" }
`);
    const joined = p.join('\n');
    for (const key of ['sender.controlNumberPrefix', 'timezone', 'bogus', 'messageTypes.MATERIALS_ISSUED.schema', 'partners.ACME-PHARMA.usage', 'partners.ACME-PHARMA.schedule', 'partners.ACME-PHARMA.sftp.hostKeySha256', 'partners.ACME-PHARMA.sftp.username', 'partners.ACME-PHARMA.sftp.privateKeyFile'])
      expect(joined, key).to.contain(key);
  });

  it('check-config: 0 on a valid file, 2 with every problem on an invalid one, secrets never echoed', async () => {
    expect((await run(['check-config', '--config', write(BASE)])).code).to.equal(0);
    const bad = await run(['check-config', '--config', write(BASE.replace('usage: TEST', 'usage: NOPE'))]);
    expect(bad.code).to.equal(2);
    expect(bad.err.join('\n')).to.contain('partners.ACME-PHARMA.usage');
    const secret = path.join(dir, 'pw');
    fs.writeFileSync(secret, 's3cr3t-value\n');
    const withPw = BASE.replace('sftp: { host: embedded }', `sftp: { host: h, username: u, passwordFile: ${secret}, hostKeySha256: "SHA256:${'A'.repeat(43)}" }`);
    const ok = await run(['check-config', '--config', write(withPw)]);
    expect(ok.code).to.equal(0);
    expect(ok.out.join('') + ok.err.join('')).to.not.contain('s3cr3t');
    const missing = await run(['check-config', '--config', write(withPw.replace(secret, '/nonexistent/pw'))]);
    expect(missing.code).to.equal(2);
    expect(missing.err.join('\n')).to.contain('partners.ACME-PHARMA.sftp.passwordFile');
  });

  it('looks relative secret files up in $CREDENTIALS_DIRECTORY first', () => {
    const creds = fs.mkdtempSync(path.join(dir, 'creds-'));
    fs.writeFileSync(path.join(creds, 'acme'), 'key');
    const yaml = BASE.replace('sftp: { host: embedded }', `sftp: { host: h, username: u, privateKeyFile: acme, hostKeySha256: "SHA256:${'A'.repeat(43)}" }`);
    process.env.CREDENTIALS_DIRECTORY = creds;
    try {
      expect(loadConfig(write(yaml)).partners['ACME-PHARMA']!.sftp.privateKeyFile).to.equal(path.join(creds, 'acme'));
    } finally {
      delete process.env.CREDENTIALS_DIRECTORY;
    }
  });

  it('a layout that extends a built-in: latin1 and decimal comma', async () => {
    const cfg = loadConfig(write(BASE + `layouts:\n  erp-delimited-latin1: { extends: erp-delimited, encoding: latin1, decimalSeparator: "," }\n`));
    const file = path.join(dir, 'latin1.txt');
    fs.writeFileSync(
      file,
      Buffer.from(
        'HDR|MATERIALS_ISSUED|ACME-PHARMA|20261125101500|E-1\nDOC|D-1|WO-1|20261124||Lager M\xfcller\nLIN|GTIN|00312345678906|L\xd6T-1|12,5|KGM|\nTRL|2\n',
        'latin1',
      ),
    );
    const xml: string[] = [];
    const r = await translateFile(file, { config: cfg, layout: cfg.layouts.get('erp-delimited-latin1')!, allocate: () => 'X1', onMessage: (m) => void xml.push(m.xml) });
    expect(r.errors).to.deep.equal([]);
    expect(xml[0]).to.contain('<DocumentText>Lager Müller</DocumentText>').and.contain('<LotNumber>LÖT-1</LotNumber>').and.contain('<Quantity>12.5</Quantity>');
  });

  it('a new delimited layout with its own record codes, delimiter and date format', async () => {
    const cfg = loadConfig(
      write(
        BASE +
          `layouts:
  site-semicolon:
    kind: delimited
    delimiter: ";"
    dateFormat: dd.MM.yyyy
    timeFormat: "HH:mm:ss"
    records:
      HDR: { code: H, fields: [MESSAGE_TYPE, PARTNER, { name: CREATED, format: "dd.MM.yyyy HH:mm" }, ERP_FILE_ID] }
      DOC: { code: D, fields: [REFERENCE_DOC_NO, WORK_ORDER, DATE, TIME] }
      LIN: { code: L, fields: [PRODUCT_CODE_TYPE, PRODUCT_CODE, LOT, QTY, UOM] }
      TRL: { code: T, fields: [COUNT] }
`,
      ),
    );
    const file = path.join(dir, 'semi.txt');
    fs.writeFileSync(file, 'H;MATERIALS_ISSUED;ACME-PHARMA;25.11.2026 10:15;E-2\nD;D-9;WO-2;24.11.2026;15:30:00\nL;NDC;0312-3456-78;L1;3;EA\nT;2\n');
    const xml: string[] = [];
    const r = await translateFile(file, { config: cfg, layout: cfg.layouts.get('site-semicolon')!, allocate: () => 'X2', onMessage: (m) => void xml.push(m.xml) });
    expect(r.errors).to.deep.equal([]);
    expect(r.header?.created).to.equal('2026-11-25T10:15:00.000Z');
    expect(xml[0]).to.contain('<DateOfIssue>2026-11-24</DateOfIssue>').and.contain('<TimeOfIssue>15:30:00</TimeOfIssue>').and.contain('<ProductCode type="NDC">0312345678</ProductCode>');
    // and its errors name the layout's fields like any other
    fs.writeFileSync(file, 'H;MATERIALS_ISSUED;ACME-PHARMA;25.11.2026 10:15;E-2\nD;D-9;WO-2;31.11.2026;15:30:00\nL;NDC;0312-3456-78;L1;3;EA\nT;2\n');
    const bad = await translateFile(file, { config: cfg, layout: cfg.layouts.get('site-semicolon')!, allocate: () => 'X3', onMessage: () => {} });
    expect(bad.errors.map((e) => [e.line, e.field])).to.deep.equal([[2, 'DATE']]);
  });

  it('a new fixed layout with implied decimals of its own', async () => {
    const cfg = loadConfig(
      write(
        BASE +
          `layouts:
  site-fixed:
    extends: erp-fixed
    records:
      LIN:
        fields:
          - { name: PRODUCT_CODE_TYPE, from: 4, to: 7 }
          - { name: PRODUCT_CODE, from: 8, to: 21 }
          - { name: LOT, from: 22, to: 31 }
          - { name: QTY, from: 32, to: 41, impliedDecimals: 2 }
          - { name: UOM, from: 42, to: 44 }
`,
      ),
    );
    const hdr = 'HDR' + 'MATERIALS_ISSUED'.padEnd(30) + 'ACME-PHARMA'.padEnd(20) + '20261125101500' + 'E-3'.padEnd(20);
    const doc = 'DOC' + 'D-3'.padEnd(35) + 'WO-3'.padEnd(20) + '20261124';
    const lin = 'LIN' + 'GTIN' + '00312345678906' + 'LOT-A'.padEnd(10) + '0000012050' + 'EA ';
    const file = path.join(dir, 'fixed.txt');
    fs.writeFileSync(file, [hdr, doc, lin, 'TRL000000002'].join('\n') + '\n');
    const xml: string[] = [];
    const r = await translateFile(file, { config: cfg, layout: cfg.layouts.get('site-fixed')!, allocate: () => 'X4', onMessage: (m) => void xml.push(m.xml) });
    expect(r.errors).to.deep.equal([]);
    expect(xml[0]).to.contain('<Quantity>120.5</Quantity>').and.contain('<LotNumber>LOT-A</LotNumber>');
  });

  it('refuses broken layouts by key path', () => {
    const p = problems(
      BASE +
        `layouts:
  a: { extends: b }
  b: { extends: a }
  c: { kind: fixed, records: { HDR: { fields: [MESSAGE_TYPE] }, TRL: { fields: [{ name: COUNT, from: 4, to: 12 }] } } }
  d: { extends: erp-delimited, dateFormat: yyyyMM }
`,
    ).join('\n');
    expect(p).to.contain('circular');
    expect(p).to.contain('layouts.c.records.HDR.fields.0: a fixed layout');
    expect(p).to.contain('layouts.d.dateFormat');
  });
});
