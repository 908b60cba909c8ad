// Section "intake": 1,000 small valid files (one MATERIALS_PRODUCED document each) dropped at
// once into the drop folder of the real daemon (`node bin/tlbridge.js run`, as installed: dist/
// when it is current), against the floor any durable intake pays: writing and fsyncing the
// same 1,000 files (and then their folder) on the same file system.
//
//  - tlbridge: a data dir of its own (embedded sandbox partner, schedule and ack poll that never
//    fire during the run); once the daemon says it is running, the 1,000 files, written beside
//    the drop folder first, are renamed in one after another (as an ERP export does). The clock
//    runs from the first rename to the 1,000th `file converted` log line (logged after the
//    file's outcome is committed and work/ cleared); stableMs is subtracted, since no intake
//    may claim a file sooner. Then the daemon is stopped and the ledger checked: 1,000 files
//    CONVERTED, 1,000 messages STAGED, work/ empty.
//  - floor: the same 1,000 files, each opened, written, fsynced and closed, then one fsync of
//    their folder.
//
// Each runs REPS times, interleaved; the medians make the figure.
import fs from 'node:fs';
import path from 'node:path';
import { distIsCurrent } from '../bin/stamp.js';
import { DaemonProcess, NEVER, PARTNER, readLedger, type LogLine } from '../test/support/daemon-process.js';
import { fmtInt, fmtNum, fmtSecs, heading, median, verdictAtMost, type BenchContext, type Section, type SummaryRow } from './report.js';

const S = 'intake';
export const INTAKE_FILES = 1000;
const STABLE_MS = 500;
const REPS = 3;
const RATIO_TARGET = 5.0;
const METRIC = `${fmtInt(INTAKE_FILES)} small files dropped at once to STAGED (beyond stableMs) vs write+fsync floor`;
/** a run that takes longer than this failed (the daemon is stuck or far too slow) */
const RUN_TIMEOUT_MS = 10 * 60_000;

/** One document per file, each with its own reference and ERP file id (no duplicates). */
export function smallFile(run: string, i: number): string {
  const ref = `${run}-${String(i).padStart(5, '0')}`;
  const lines = [
    `HDR|MATERIALS_PRODUCED|${PARTNER}|20261125101500|X${run}${i}`,
    `DOC|${ref}|WO-${ref}|20261124|153000|intake bench ${i}`,
    `LIN|GTIN|00312345678906|LOT${i % 97}|${(i % 50) + 1}.5|EA|20281130`,
    'TRL|2',
  ];
  return lines.join('\n') + '\n';
}

function writeConfig(base: string): string {
  const file = path.join(base, 'tlbridge.yaml');
  fs.writeFileSync(
    file,
    [
      'sender: { id: "0614141000005", controlNumberPrefix: "B" }',
      'timezone: UTC',
      'dataDir: ./var',
      'inbound:',
      `  - { path: ./drop, layout: erp-delimited, stableMs: ${STABLE_MS} }`,
      'rescanSeconds: 30',
      'log: { level: info, format: json }',
      'partners:',
      `  ${PARTNER}:`,
      '    receiverId: "0312345000001"',
      '    usage: TEST',
      `    schedule: "${NEVER}"`,
      `    ackPoll: "${NEVER}"`,
      '    sftp: { host: embedded }',
    ].join('\n') + '\n',
  );
  return file;
}

/** The floor: write + fsync each file, then fsync the folder. */
function writeFsyncFloor(dir: string, contents: string[]): number {
  fs.mkdirSync(dir, { recursive: true });
  const t0 = process.hrtime.bigint();
  contents.forEach((c, i) => {
    const fd = fs.openSync(path.join(dir, `f${i}.txt`), 'wx', 0o640);
    try {
      fs.writeSync(fd, c);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  });
  const dfd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

interface IntakeRun {
  /** first rename to the last `file converted`, stableMs not subtracted */
  wallMs: number;
  beyondMs: number;
}

async function daemonRun(ctx: BenchContext, rep: number): Promise<IntakeRun> {
  const base = path.join(ctx.tmp, `intake-${rep}`);
  const stage = path.join(base, 'stage');
  const drop = path.join(base, 'drop');
  fs.mkdirSync(stage, { recursive: true });
  fs.mkdirSync(drop, { recursive: true });
  const cfg = writeConfig(base);
  const names: string[] = [];
  for (let i = 0; i < INTAKE_FILES; i++) {
    const name = `R${rep}-${String(i).padStart(5, '0')}.txt`;
    fs.writeFileSync(path.join(stage, name), smallFile(`R${rep}`, i));
    names.push(name);
  }
  const daemon = new DaemonProcess(cfg, { TLBRIDGE_TSX: undefined });
  try {
    await daemon.ready(60_000);
    let converted = 0;
    const done = daemon.waitForLog(
      (l: LogLine) => {
        if (l.message === 'file failed' || l.message === 'file is a duplicate') throw new Error(`a bench file did not convert: ${JSON.stringify(l)}`);
        return l.message === 'file converted' && ++converted === INTAKE_FILES;
      },
      RUN_TIMEOUT_MS,
    );
    ctx.progress(`  run ${rep}/${REPS}: dropping ${fmtInt(INTAKE_FILES)} files ...`);
    const t0 = performance.now();
    for (const n of names) fs.renameSync(path.join(stage, n), path.join(drop, n));
    await done;
    const wallMs = performance.now() - t0;
    const exit = await daemon.terminate(30_000);
    if (!exit || exit.code !== 0) throw new Error(`the daemon did not stop cleanly: ${JSON.stringify(exit)}\n${daemon.tail()}`);
    const dataDir = path.join(base, 'var');
    const counts = readLedger(path.join(dataDir, 'ledger.sqlite'), (db) => ({
      converted: (db.prepare(`SELECT count(*) AS n FROM files WHERE state = 'CONVERTED'`).get() as { n: number }).n,
      staged: (db.prepare(`SELECT count(*) AS n FROM messages WHERE state = 'STAGED'`).get() as { n: number }).n,
    }));
    const work = fs.readdirSync(path.join(dataDir, 'work'));
    if (counts?.converted !== INTAKE_FILES || counts.staged !== INTAKE_FILES || work.length)
      throw new Error(`after the run: ${JSON.stringify(counts)} CONVERTED/STAGED, ${work.length} file(s) in work/; ${fmtInt(INTAKE_FILES)} expected and an empty work/`);
    return { wallMs, beyondMs: wallMs - STABLE_MS };
  } finally {
    if (daemon.running) await daemon.kill9();
  }
}

export const intakeSection: Section = {
  name: S,
  title: 'intake',
  async run(ctx: BenchContext): Promise<SummaryRow[]> {
    for (const l of heading(`intake: ${METRIC}`)) ctx.out(l);
    const current = distIsCurrent();
    ctx.out(`  daemon      node bin/tlbridge.js run (${current ? 'dist/' : 'tsx: dist/ is stale, npm run build'}), embedded sandbox partner, stableMs ${STABLE_MS}`);
    ctx.out(`  method      ${REPS} runs each, interleaved, fresh data dir per run; median; every run checked in the ledger`);
    const contents = Array.from({ length: INTAKE_FILES }, (_, i) => smallFile('FLOOR', i));
    const tl: IntakeRun[] = [];
    const floor: number[] = [];
    // what each run wrote stays until the bench ends (the run's temp dir goes then): on this
    // VM's file system, creating files where thousands were just deleted is several times
    // slower for minutes. A run after a removal measured that instead (each run slower than the
    // one before), and so did the next section, send-now, whose archive copies are created on
    // this disk: its first run after this section's removal took 1.92 s, a settled one 1.45 s.
    for (let rep = 1; rep <= REPS; rep++) {
      const f = writeFsyncFloor(path.join(ctx.tmp, `intake-floor-${rep}`), contents);
      floor.push(f);
      const r = await daemonRun(ctx, rep);
      tl.push(r);
      ctx.out(`  run ${rep}       tlbridge ${fmtSecs(r.wallMs)} from the first rename (${fmtSecs(r.beyondMs)} beyond stableMs), write+fsync ${fmtSecs(f)}`);
    }
    const tMs = median(tl.map((r) => r.beyondMs));
    const fMs = median(floor);
    const ratio = tMs / fMs;
    const verdict = verdictAtMost(ratio, RATIO_TARGET);
    ctx.out(`  median      tlbridge ${fmtSecs(tMs)} beyond stableMs (${fmtInt(INTAKE_FILES / (tMs / 1000))} files/s), write+fsync ${fmtSecs(fMs)}`);
    ctx.out(`  ratio       ${fmtNum(ratio, 2)} (goal <= ${fmtNum(RATIO_TARGET, 1)}): ${verdict}`);
    return [
      {
        section: S,
        metric: METRIC,
        value: fmtSecs(tMs),
        reference: fmtSecs(fMs),
        ratio,
        target: `<= ${fmtNum(RATIO_TARGET, 1)}x`,
        verdict,
        numbers: {
          tlbridgeMs: tMs,
          floorMs: fMs,
          tlbridgeRunsMs: tl.map((r) => r.beyondMs),
          tlbridgeWallRunsMs: tl.map((r) => r.wallMs),
          floorRunsMs: floor,
          files: INTAKE_FILES,
          stableMs: STABLE_MS,
          fromDist: current ? 1 : 0,
        },
      },
    ];
  },
};
