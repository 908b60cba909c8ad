// product.md 6: the read-only commands never need the SSH key. The README's systemd install
// names the key relative to $CREDENTIALS_DIRECTORY (LoadCredential=); an operator running
// `sudo -u tlbridge tlbridge status` outside the service has no such folder. Run as the real CLI.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './support/cli.js';

const FP = `SHA256:${'A'.repeat(43)}`;

describe('read-only commands without the SSH key (credentials held by the service)', function () {
  let dir: string;
  let config: string;
  let savedCreds: string | undefined;

  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-ro-'));
    config = path.join(dir, 'tlbridge.yaml');
    fs.writeFileSync(
      config,
      `sender: { id: "0614141000005" }
dataDir: ./var
inbound: [ { path: ./var/inbound } ]
partners:
  ACME-PHARMA:
    receiverId: "0312345000001"
    usage: TEST
    sftp: { host: sftp.example.net, username: cmo-acme, privateKeyFile: acme, hostKeySha256: "${FP}" }
`,
    );
    savedCreds = process.env.CREDENTIALS_DIRECTORY;
    // the service's credentials folder, which does not exist outside it
    process.env.CREDENTIALS_DIRECTORY = path.join(dir, 'no-such-credentials');
  });

  after(function () {
    if (savedCreds === undefined) delete process.env.CREDENTIALS_DIRECTORY;
    else process.env.CREDENTIALS_DIRECTORY = savedCreds;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const args of [['status'], ['status', '--json'], ['messages'], ['audit', 'verify']]) {
    it(`${args.join(' ')} exits 0`, async function () {
      const r = await runCli([...args, '--config', config]);
      expect(r.code, r.err.join('\n')).to.equal(0);
      expect(r.err.join('\n')).to.not.match(/privateKeyFile/);
    });
  }

  it('check-config exits 0 with a note naming the key path, not an error', async function () {
    const r = await runCli(['check-config', '--config', config]);
    expect(r.code, r.err.join('\n')).to.equal(0);
    const notes = r.out.filter((l) => l.startsWith('note: '));
    expect(notes).to.have.length(1);
    expect(notes[0]).to.contain('partners.ACME-PHARMA.sftp.privateKeyFile').and.contain('"acme"').and.contain('does not hold it');
    expect(r.out.at(-1)).to.match(/: valid \(1 partner\(s\): ACME-PHARMA;/);
  });

  it('check-config says so when $CREDENTIALS_DIRECTORY is not set at all', async function () {
    delete process.env.CREDENTIALS_DIRECTORY;
    try {
      const r = await runCli(['check-config', '--config', config]);
      expect(r.code).to.equal(0);
      expect(r.out.join('\n')).to.contain('$CREDENTIALS_DIRECTORY is not set');
    } finally {
      process.env.CREDENTIALS_DIRECTORY = path.join(dir, 'no-such-credentials');
    }
  });

  it('run still refuses to start (exit 2) when the key is not readable for it, naming the key', async function () {
    const r = await runCli(['run', '--config', config]);
    expect(r.code).to.equal(2);
    expect(r.err.join('\n')).to.match(/partners\.ACME-PHARMA\.sftp\.privateKeyFile: cannot read .*acme \(ENOENT\); "acme" is relative and \$CREDENTIALS_DIRECTORY \(.*no-such-credentials\) does not hold it/);
  });

  it('$CREDENTIALS_DIRECTORY holds the name but it cannot be read (not a file): an error in check-config, not a note', async function () {
    const creds = fs.mkdtempSync(path.join(dir, 'creds-'));
    fs.mkdirSync(path.join(creds, 'acme'));
    process.env.CREDENTIALS_DIRECTORY = creds;
    try {
      const r = await runCli(['check-config', '--config', config]);
      expect(r.code).to.equal(2);
      expect(r.err.join('\n')).to.contain(`partners.ACME-PHARMA.sftp.privateKeyFile: cannot read ${path.join(creds, 'acme')} (not a file)`);
      expect(r.out.filter((l) => l.startsWith('note: '))).to.deep.equal([]);
    } finally {
      process.env.CREDENTIALS_DIRECTORY = path.join(dir, 'no-such-credentials');
    }
  });

  it('an absolute key path that is not readable stays an error in check-config, and the read-only commands still run', async function () {
    const abs = path.join(dir, 'abs.yaml');
    fs.writeFileSync(abs, fs.readFileSync(config, 'utf8').replace('privateKeyFile: acme', `privateKeyFile: ${path.join(dir, 'missing-key')}`));
    const check = await runCli(['check-config', '--config', abs]);
    expect(check.code).to.equal(2);
    expect(check.err.join('\n')).to.contain('partners.ACME-PHARMA.sftp.privateKeyFile: cannot read');
    expect((await runCli(['status', '--config', abs])).code).to.equal(0);
  });
});
