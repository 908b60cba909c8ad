// check-config lists every problem at once (product.md 2, 4): schema problems no longer hide
// layout, secret and XSD problems; every XSD is compiled; a namespace override needs its schema;
// `run` refuses to start (exit 2) on an XSD that does not compile. Run as the real CLI.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ackParseOptions, parseAck } from '../src/acks/parse.js';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { XSD_DIR } from '../src/messages/registry.js';
import { EndpointError, endpointFor } from '../src/transport/endpoint.js';
import { renderAck } from './support/acks.js';
import { runCli } from './support/cli.js';

const PARTNER = `partners:
  ACME-PHARMA: { receiverId: "0312345000001", usage: TEST, sftp: { host: embedded } }
`;
const BASE = `sender: { id: "0614141000005" }
dataDir: ./var
inbound: [ { path: ./in } ]
${PARTNER}`;
// well-formed, but names a type that does not exist: libxml2 refuses to compile it
const BROKEN_XSD = `<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="a" type="xs:noSuchType"/></xs:schema>
`;

describe('check-config: every problem at once', function () {
  let dir: string;
  let n = 0;
  const write = (yaml: string, name = `c${++n}.yaml`): string => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, yaml);
    return f;
  };
  const problemsOf = (yaml: string): string[] => {
    try {
      loadConfig(write(yaml));
      return [];
    } catch (e) {
      if (e instanceof ConfigError) return e.problems;
      throw e;
    }
  };

  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-check-'));
    fs.writeFileSync(path.join(dir, 'broken.xsd'), BROKEN_XSD);
  });
  after(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a schema error, an unknown layout, a missing secret and an XSD that does not compile: all four listed, exit 2', async function () {
    const f = write(`sender: { id: "0614141000005" }
rescanSeconds: soon
inbound: [ { path: ./in, layout: nope } ]
messageTypes:
  MATERIALS_ISSUED: { schema: ./broken.xsd }
partners:
  ACME-PHARMA:
    receiverId: "0312345000001"
    usage: TEST
    sftp: { host: sftp.example.net, username: u, privateKeyFile: /nonexistent/acme-key, hostKeySha256: "SHA256:${'A'.repeat(43)}" }
`);
    const r = await runCli(['check-config', '--config', f]);
    expect(r.code).to.equal(2);
    const err = r.err.join('\n');
    expect(err).to.match(/- rescanSeconds: /);
    expect(err).to.match(/- inbound\.0\.layout: unknown layout "nope"/);
    expect(err).to.match(/- partners\.ACME-PHARMA\.sftp\.privateKeyFile: cannot read \/nonexistent\/acme-key \(ENOENT\)/);
    expect(err).to.match(/- messageTypes\.MATERIALS_ISSUED\.schema: XSD schema .*broken\.xsd cannot be compiled/);
    expect(r.err.filter((l) => l.startsWith('  - '))).to.have.length(4);
  });

  it('a bad partner does not hide the problems of the other parts, and is not reported again as unknown where it is named', function () {
    const p = problemsOf(`sender: { id: "0614141000005" }
inbound: [ { path: ./in, partner: BAD, layout: site }, { path: ./in } ]
layouts:
  site: { extends: erp-delimited, encoding: ebcdic }
  other: { extends: nowhere }
partners:
  BAD: { receiverId: "1", usage: LIVE, sftp: { host: embedded } }
  GOOD: { receiverId: "2", usage: TEST, sftp: { host: embedded, ackAfterRead: "move:relative" } }
`);
    const joined = p.join('\n');
    expect(joined).to.contain('partners.BAD.usage');
    expect(joined).to.contain('layouts.site.encoding');
    expect(joined).to.contain('layouts.other.extends: unknown layout "nowhere"');
    expect(joined).to.contain('partners.GOOD.sftp.ackAfterRead: the move folder must be an absolute server path');
    expect(joined).to.contain('inbound.1.path: the folder');
    expect(joined).to.not.contain('unknown partner "BAD"');
    expect(joined).to.not.contain('unknown layout "site"');
  });

  it('a namespace override without the matching schema override is refused (namespaces and messageTypes)', function () {
    expect(problemsOf(BASE + `namespaces: { ack: "urn:site:ack" }\n`)).to.deep.equal([
      'namespaces.ack: a namespace override needs schemas.ack too (the shipped XSD has urn:tracelink:mapper:sl:processing_response)',
    ]);
    expect(problemsOf(BASE + `namespaces: { commontypes: "urn:site:cmn" }\n`).join()).to.contain('namespaces.commontypes: a namespace override needs schemas.commontypes too');
    expect(problemsOf(BASE + `messageTypes:\n  MATERIALS_ISSUED: { namespace: "urn:site:mi" }\n`).join()).to.contain('messageTypes.MATERIALS_ISSUED.schema: a namespace override needs a schema override too');
    // the shipped URI written out is no override
    expect(problemsOf(BASE + `namespaces: { ack: "urn:tracelink:mapper:sl:processing_response" }\n`)).to.deep.equal([]);
    // a schemas override that does not exist is named by its key
    expect(problemsOf(BASE + `schemas: { ack: ./nope.xsd }\n`)).to.deep.equal([`schemas.ack: file not found: ${path.join(dir, 'nope.xsd')}`]);
  });

  it('schemas.ack (relative to the config file) with namespaces.ack is the ack XSD acks are validated against', function () {
    const site = fs.mkdtempSync(path.join(dir, 'xsd-'));
    fs.copyFileSync(path.join(XSD_DIR, 'commontypes.xsd'), path.join(site, 'commontypes.xsd'));
    const shipped = fs.readFileSync(path.join(XSD_DIR, 'IE_PROCESSING_RESPONSE.xsd'), 'utf8');
    fs.writeFileSync(path.join(site, 'ack.xsd'), shipped.replaceAll('urn:tracelink:mapper:sl:processing_response', 'urn:site:ack'));
    const cfg = loadConfig(write(BASE + `namespaces: { ack: "urn:site:ack" }\nschemas: { ack: ./${path.basename(site)}/ack.xsd }\n`));
    expect(cfg.schemas.ack).to.equal(path.join(site, 'ack.xsd'));
    expect(cfg.schemas.commontypes).to.equal(path.join(XSD_DIR, 'commontypes.xsd'));
    const opts = ackParseOptions(cfg, cfg.partners['ACME-PHARMA']!);
    const ok = parseAck(renderAck({ inputFcn: 'C000000000001', ieNamespace: 'urn:site:ack' }), opts);
    expect(ok.ok, JSON.stringify(ok)).to.equal(true);
    // the shipped namespace is no longer valid against the site's XSD
    const shippedNs = parseAck(renderAck({ inputFcn: 'C000000000001' }), opts);
    expect(shippedNs.ok).to.equal(false);
  });

  it('an ack XSD that does not compile: check-config names schemas.ack and the file; run refuses to start with exit 2 before it touches dataDir', async function () {
    const f = write(BASE + `schemas: { ack: ./broken.xsd }\n`);
    const check = await runCli(['check-config', '--config', f]);
    expect(check.code).to.equal(2);
    expect(check.err.join('\n')).to.match(/schemas\.ack: XSD schema .*broken\.xsd cannot be compiled/);
    const run = await runCli(['run', '--config', f]);
    expect(run.code).to.equal(2);
    expect(run.err.join('\n')).to.match(/schemas\.ack: XSD schema .*broken\.xsd cannot be compiled/);
    expect(fs.existsSync(path.join(dir, 'var'))).to.equal(false);
  });

  it('a secret path that is a folder: check-config names it, and the connect-time read refuses it without reading', async function () {
    const f = write(BASE.replace('sftp: { host: embedded }', `sftp: { host: h, username: u, privateKeyFile: ${dir}, hostKeySha256: "SHA256:${'A'.repeat(43)}" }`));
    const check = await runCli(['check-config', '--config', f]);
    expect(check.code).to.equal(2);
    expect(check.err.join('\n')).to.contain(`partners.ACME-PHARMA.sftp.privateKeyFile: cannot read ${dir} (not a file)`);
    expect(() => endpointFor(loadConfig(f), 'ACME-PHARMA')).to.throw(EndpointError, /privateKeyFile: .* is not a regular file/);
  });

  it('partners has a null prototype: a partner code like constructor or toString finds nothing; __proto__ as a code is refused', function () {
    const cfg = loadConfig(write(BASE));
    expect(Object.getPrototypeOf(cfg.partners)).to.equal(null);
    for (const code of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) expect((cfg.partners as Record<string, unknown>)[code], code).to.equal(undefined);
    expect(problemsOf(BASE + `  __proto__: { receiverId: "2", usage: TEST, sftp: { host: embedded } }\n`)).to.deep.equal(['partners.__proto__: this partner code cannot be used']);
    // `constructor` is an ordinary code when configured
    expect(Object.keys(loadConfig(write(BASE + `  constructor: { receiverId: "2", usage: TEST, sftp: { host: embedded } }\n`)).partners)).to.deep.equal(['ACME-PHARMA', 'constructor']);
  });
});
