// Deterministic generator of `erp-delimited` MATERIALS_PRODUCED flat files (messages.md 3.1).
// Seeded, so the same options give a byte-identical file on every machine; streamed to disk
// with backpressure, so a 250 MB file never sits in memory.
import fs from 'node:fs';
import { once } from 'node:events';

export interface GenerateOptions {
  file: string;
  /** PRNG seed; the same seed gives the same bytes */
  seed: number;
  /** stop after this many DOC groups (messages) ... */
  messages?: number;
  /** ... or once the file has reached about this many bytes (whichever is given; messages wins) */
  targetBytes?: number;
  partner?: string;
  erpFileId?: string;
}

export interface GenerateResult {
  file: string;
  bytes: number;
  messages: number;
  lines: number;
  /** records strictly between HDR and TRL, as written in the TRL */
  records: number;
}

/** mulberry32: small, fast, good enough for test data, and identical on every platform. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** GS1 mod-10 check digit of a GTIN body (weights 3,1,3,... from the right). */
export function gs1CheckDigit(body: string): number {
  let sum = 0;
  for (let i = body.length - 1, w = 3; i >= 0; i--, w = 4 - w) sum += (body.charCodeAt(i) - 48) * w;
  return (10 - (sum % 10)) % 10;
}

function digits(rand: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String(Math.floor(rand() * 10));
  return s;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** every valid YYYYMMDD of a year */
function datesOf(year: number): string[] {
  const out: string[] = [];
  for (let d = new Date(Date.UTC(year, 0, 1)); d.getUTCFullYear() === year; d.setUTCDate(d.getUTCDate() + 1))
    out.push(`${year}${pad(d.getUTCMonth() + 1, 2)}${pad(d.getUTCDate(), 2)}`);
  return out;
}

// DOC_TEXT is at most 25 characters; a few need quoting (a `|`) or XML escaping (`&`, `<`).
const DOC_TEXTS = ['Batch release', '', 'Campaign 7 run', 'Rework lot', 'R&D scale-up', 'Line 3 <QA hold>', '', 'Validation batch', '"Suite B|Line 4"'];
const UOMS = ['EA', 'KGM'] as const;
const LOT_LETTERS = 'ABCDEFGHJKLMNPQRSTUVWXYZ';

/** Writes the file and resolves once it is flushed and closed. */
export async function generateDelimited(opts: GenerateOptions): Promise<GenerateResult> {
  if (opts.messages === undefined && opts.targetBytes === undefined) throw new Error('generateDelimited: give messages or targetBytes');
  const rand = prng(opts.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const docDates = datesOf(2026);
  const expiryDates = [...datesOf(2027), ...datesOf(2028), ...datesOf(2029)];
  // a catalogue of products, as a real site has: company prefixes x item references
  const gtins: string[] = [];
  for (let i = 0; i < 500; i++) {
    const body = `${pick(['0', '1', '5'])}0${digits(rand, 11)}`;
    gtins.push(body + String(gs1CheckDigit(body)));
  }

  const partner = opts.partner ?? 'ACME-PHARMA';
  const erpFileId = (opts.erpFileId ?? `BENCH-${opts.seed}`).slice(0, 20);
  const out = fs.createWriteStream(opts.file, { encoding: 'utf8', highWaterMark: 1 << 20 });
  const closed = once(out, 'close');
  let bytes = 0;
  let lines = 0;
  let records = 0;
  let buf = '';
  const emit = async (line: string) => {
    buf += line + '\n';
    lines++;
    if (buf.length >= 1 << 16) {
      bytes += Buffer.byteLength(buf);
      const ok = out.write(buf);
      buf = '';
      if (!ok) await once(out, 'drain');
    }
  };

  await emit(`HDR|MATERIALS_PRODUCED|${partner}|20261125101500|${erpFileId}`);
  let messages = 0;
  const more = () =>
    opts.messages !== undefined ? messages < opts.messages : bytes + Buffer.byteLength(buf) < opts.targetBytes!;
  while (more()) {
    const ref = String(4900000000 + messages); // unique per DOC
    const wo = `WO-${pad(100000 + Math.floor(rand() * 900000), 6)}`;
    const time = rand() < 0.1 ? '' : `${pad(Math.floor(rand() * 24), 2)}${pad(Math.floor(rand() * 60), 2)}${pad(Math.floor(rand() * 60), 2)}`;
    await emit(`DOC|${ref}|${wo}|${pick(docDates)}|${time}|${pick(DOC_TEXTS)}`);
    records++;
    const nLines = 1 + Math.floor(rand() * 3);
    for (let l = 0; l < nLines; l++) {
      const lot = `LOT${2026 + Math.floor(rand() * 2)}${pick(LOT_LETTERS.split(''))}${pad(Math.floor(rand() * 100000), 5)}`;
      const uom = pick(UOMS);
      // EA: whole units, sometimes with a fraction; KGM: up to 3 decimals (e.g. 1200.5)
      const whole = 1 + Math.floor(rand() * 20000);
      const frac = rand() < 0.5 ? '' : `.${String(Math.floor(rand() * 1000)).padStart(3, '0').replace(/0+$/, '') || '5'}`;
      const qty = uom === 'EA' && rand() < 0.7 ? String(whole) : `${whole}${frac}`;
      const expiry = rand() < 0.05 ? '' : pick(expiryDates);
      await emit(`LIN|GTIN|${pick(gtins)}|${lot}|${qty}|${uom}|${expiry}`);
      records++;
    }
    messages++;
  }
  await emit(`TRL|${records}`);
  if (buf) {
    bytes += Buffer.byteLength(buf);
    out.write(buf);
    buf = '';
  }
  out.end();
  await closed;
  return { file: opts.file, bytes, messages, lines, records };
}
