// `tlbridge convert FILE... [--layout L] [--out DIR]`: offline conversion. Writes one XML file
// per message, validated, and nothing at all for a file with any problem; never overwrites a
// file; sends nothing and writes no ledger.
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/load.js';
import { formatInputError } from '../flatfile/errors.js';
import { translateFile } from '../intake/translate.js';
import { formatControlNumber } from '../messages/control-number.js';
import { EXIT, UsageError, type Io } from './io.js';

export interface ConvertArgs {
  files: string[];
  layout?: string;
  out: string;
}

export async function convert(config: Config, args: ConvertArgs, io: Io): Promise<number> {
  const layoutName = args.layout ?? config.inbound[0]!.layout.name;
  const layout = config.layouts.get(layoutName);
  if (!layout) throw new UsageError(`unknown layout "${layoutName}" (known: ${[...config.layouts.keys()].join(', ')})`);
  if (!args.files.length) throw new UsageError('convert needs a FILE');
  fs.mkdirSync(args.out, { recursive: true });

  let seq = 0;
  let failed = false;
  for (const file of args.files) {
    try {
      if (!fs.statSync(file).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'not a regular file' });
    } catch (e) {
      io.err(`${file}: file: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      io.out(`${file}: FAILED, nothing written`);
      failed = true;
      continue;
    }
    const written: string[] = [];
    const allocate = () => {
      // a per-run sequence that steps over names already in DIR, so a second run never clobbers
      let fcn: string;
      do fcn = formatControlNumber(config.sender.controlNumberPrefix, ++seq);
      while (fs.existsSync(path.join(args.out, `${fcn}.xml`)));
      return fcn;
    };
    const result = await translateFile(file, {
      config,
      layout,
      allocate,
      onMessage: (m) => {
        const part = path.join(args.out, `${m.fileControlNumber}.xml.part`);
        fs.writeFileSync(part, m.xml, { flag: 'wx', mode: 0o644 });
        written.push(m.fileControlNumber);
      },
    });
    const parts = written.map((fcn) => path.join(args.out, `${fcn}.xml`));
    if (result.errors.length) {
      failed = true;
      for (const p of parts) fs.rmSync(`${p}.part`, { force: true });
      for (const e of result.errors) io.err(`${file}: ${formatInputError(e)}`);
      io.out(`${file}: FAILED, ${result.errors.length} problem(s), nothing written`);
      continue;
    }
    // link() never replaces an existing name, unlike rename()
    for (const p of parts) {
      fs.linkSync(`${p}.part`, p);
      fs.unlinkSync(`${p}.part`);
    }
    const h = result.header!;
    const range = written.length > 1 ? `${written[0]}.xml .. ${written.at(-1)}.xml` : `${written[0]}.xml`;
    io.out(`${file}: ${written.length} ${h.messageType} message(s) for ${h.partner} (ERP file ${h.erpFileId}) -> ${path.join(args.out, range)}`);
  }
  return failed ? EXIT.FAILED : EXIT.OK;
}
