// `tlbridge convert FILE... [--layout L] [--out DIR]`: offline conversion. Writes one XML file
// per message, validated, and removes them again if a later problem shows (the file is the
// unit); never overwrites a file; sends nothing and writes no ledger.
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import type { Config } from '../config/load.js';
import { formatInputError } from '../flatfile/errors.js';
import { translateFile } from '../intake/translate.js';
import { formatControlNumber } from '../messages/control-number.js';
import { EXIT, UsageError, type Io } from './io.js';
import { startProgress } from './progress.js';
import { writeAll } from '../util/durable-file.js';
import { capYoungGeneration, checkYoungGeneration } from '../util/young-generation.js';

export interface ConvertArgs {
  files: string[];
  layout?: string;
  out: string;
}

/** Creates `file` ('wx': never overwrites) with `text`. The string goes to the kernel as it is:
 * writeFileSync's Buffer of each message was ~4% of a conversion's allocations (measured). */
function writeNew(file: string, text: string): void {
  const fd = fs.openSync(file, 'wx', 0o644);
  try {
    const bytes = Buffer.byteLength(text);
    const n = fs.writeSync(fd, text);
    // a short write (a full disk, say) is finished or made to fail from a Buffer
    if (n < bytes) writeAll(fd, Buffer.from(text), bytes, n);
  } finally {
    fs.closeSync(fd);
  }
}

export async function convert(config: Config, args: ConvertArgs, io: Io): Promise<number> {
  // A conversion allocates fast and keeps little (~50 MB live for a 250 MB input): V8's default
  // growth lets dead objects reach ~100 MB before a full GC. A tighter growth factor (read at
  // every GC) keeps peak RSS well lower at the same speed (measured: 206 -> 146 MB, 100,000 messages).
  v8.setFlagsFromString('--heap-growing-percent=15');
  // and the young generation no larger than the 16 MiB start-up has grown it to, not 32 MiB
  // (young-generation.ts; measured: 177 -> 160 MB peak RSS, 50 MB input)
  capYoungGeneration(16);
  const layoutName = args.layout ?? config.inbound[0]!.layout.name;
  const layout = config.layouts.get(layoutName);
  if (!layout) throw new UsageError(`unknown layout "${layoutName}" (known: ${[...config.layouts.keys()].join(', ')})`);
  if (!args.files.length) throw new UsageError('convert needs a FILE');
  fs.mkdirSync(args.out, { recursive: true });

  // names already in DIR, read once: the per-run sequence steps over them, so a second run
  // into the same folder never clobbers (and 'wx' refuses to, should one appear meanwhile)
  const existing = new Set(fs.readdirSync(args.out));
  let seq = 0;
  let failed = false;
  for (const file of args.files) {
    let size: number;
    try {
      const st = fs.statSync(file);
      if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'not a regular file' });
      size = st.size;
    } catch (e) {
      io.err(`${file}: file: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      io.out(`${file}: FAILED, nothing written`);
      failed = true;
      continue;
    }
    // this file's numbers run from firstSeq to seq, minus names that already existed: two
    // numbers instead of a list, so a million-message file costs no memory here
    const firstSeq = seq + 1;
    const fcnOf = (n: number) => formatControlNumber(config.sender.controlNumberPrefix, n);
    const ours = function* () {
      for (let n = firstSeq; n <= seq; n++) if (!existing.has(`${fcnOf(n)}.xml`)) yield n;
    };
    const allocate = () => {
      do seq++;
      while (existing.has(`${fcnOf(seq)}.xml`));
      return fcnOf(seq);
    };
    let outputs = 0;
    const progress = startProgress({ total: size, unit: 'bytes', label: path.basename(file), detail: '{messages} messages written', fields: { messages: 0 }, stream: io.stderr });
    let result: Awaited<ReturnType<typeof translateFile>>;
    try {
      result = await translateFile(file, {
        config,
        layout,
        allocate,
        firstChunkInWorker: true,
        onMessage: (m) => {
          // synchronous: on this 2-core VM the thread pool's open/write/close round trips cost
          // ~4x a plain write per file (20,000 files: 4.7 s vs 1.3 s, measured), and convert
          // promises no durability ('wx': never overwrites)
          writeNew(path.join(args.out, `${m.fileControlNumber}.xml`), m.xml);
          outputs++;
          if ((outputs & 255) === 0) checkYoungGeneration();
          progress.increment(0, { messages: outputs });
        },
        onBytesRead: (n) => progress.increment(n, { messages: outputs }),
      });
    } finally {
      progress.stop();
    }
    if (result.errors.length) {
      failed = true;
      // the file is the unit: what was written before a later problem showed goes again
      for (const n of ours()) fs.rmSync(path.join(args.out, `${fcnOf(n)}.xml`), { force: true });
      for (const e of result.errors) io.err(`${file}: ${formatInputError(e)}`);
      io.out(`${file}: FAILED, ${result.errors.length} problem(s), nothing written`);
      continue;
    }
    const h = result.header!;
    const first = fcnOf(ours().next().value!);
    const range = outputs > 1 ? `${first}.xml .. ${fcnOf(seq)}.xml` : `${first}.xml`;
    io.out(`${file}: ${outputs} ${h.messageType} message(s) for ${h.partner} (ERP file ${h.erpFileId}) -> ${path.join(args.out, range)}`);
  }
  return failed ? EXIT.FAILED : EXIT.OK;
}
