// Group commit of intake (issue 13): files claimed together are converted one after another,
// here, but their outcomes are made durable and committed together (group-commit.ts): every
// outbox XML and archive copy of the group is written first and fsynced after, several at a time
// (fsyncAll), and ONE transaction records all their archive manifests, messages and CONVERTED
// states. Each file
// still leaves work/ only after that commit (product.md 5). Only the plain case is grouped: a
// fresh file that converts without a problem. Anything else (a resumed file, one that failed
// before, a whole-file problem, an input error, an exception, a group commit that fails) is
// undone here and handed to processClaimed, the one-file path, after the group's commit: a bad
// file ends in error/ alone with its report, exactly as it does without groups. A small file's
// messages are XSD-judged in the validation worker while the next files convert; the commit
// waits for that judgement, and a file that fails it leaves the group the same way
// (group-validation.ts).
//
// The rules with history read only committed CONVERTED files, so a file that would read what
// an earlier file of the same group adds (the same content, the same document, its original)
// closes the group: it is converted again after the group's commit (ruleKeys).
import fs from 'node:fs';
import path from 'node:path';
import { dataPaths } from '../config/paths.js';
import { intakeAttempt, startIntakeAttempt } from '../ledger/intake-attempts.js';
import { FcnAllocator, type FileRow, type NewMessage } from '../ledger/ledger.js';
import { DurableWrites, writeFileDurableAsync } from '../util/durable-file.js';
import { sha256 as sha256Of, sha256Fd } from '../util/sha256.js';
import { factsOf, openClaimed, readSmall, wholeFileProblems, type Claim } from './claim.js';
import { commitGroup, type Committed, type GroupResult, type Pending, type ToCommit } from './group-commit.js';
import { GroupValidation } from './group-validation.js';
import { historyRules, ruleKeys } from './history-rules.js';
import { newMessageOf, processClaimed, type ClaimedFile, type IntakeDeps } from './intake.js';
import { translateFile, type TranslatedMessage } from './translate.js';

/** At most this many claimed files are handed to one processClaimedGroup call (the daemon's
 * watcher batch): several commits' worth, so that the pipeline has a next group to convert. */
export const GROUP_FILES = 1024;
/** At most this many files, or messages, wait for one commit. */
const COMMIT_FILES = 128;
const GROUP_MESSAGES = 2000;
const INSERT_CHUNK = 500;

export type { GroupResult };

/** Why a file leaves the group; `closesGroup`: it depends on an earlier file of the group, so
 * it starts the next group, after this one's commit. */
class GroupConflict extends Error {
  override name = 'GroupConflict';
  constructor(
    message: string,
    readonly closesGroup = false,
  ) {
    super(message);
  }
}

/** Intake of several claimed files, in order, with one commit for the plain ones. Every file
 * gets a result: its outcome, or what it threw (as processClaimed would).
 *
 * Pipelined: while a group's commit waits for its fsyncs (in the libuv pool), the next group is
 * claimed and converted on the event loop. Nothing of the next group may depend on what the
 * committing one adds, as within a group: a file with the same content as one of it, or one
 * that reads what it adds (ruleKeys), closes the next group, and is converted after that commit.
 * Commits stay in claim order, one at a time. Anything but the plain case (a file for the
 * one-file path, a stop, a commit that failed) waits for the commit and goes on one by one.
 * `more()`, asked after each group, gives the files claimed since: they join the queue. */
export async function processClaimedGroup(
  deps: IntakeDeps,
  files: ClaimedFile[],
  onResult: (r: GroupResult) => void = () => undefined,
  more?: () => ClaimedFile[],
): Promise<GroupResult[]> {
  const results: GroupResult[] = [];
  const emit = (r: GroupResult): void => {
    results.push(r);
    onResult(r);
  };
  // one allocator for the pipeline: each commit gives back, in its transaction, what nobody
  // was handed yet, so the numbers stay consecutive across groups
  const allocator = new FcnAllocator(deps.ledger, deps.config.sender.controlNumberPrefix);
  let inflight: { commit: Promise<Committed>; blocked: Blocked } | undefined;
  let queue = [...files];
  // files claimed while this call runs join its pipeline (the watcher's hand-over, `more`):
  // the first files of a drop are claimed a few at a time as each becomes due, and a first
  // group of three, committed alone before the rest were handed over, cost a third of a second
  const pull = (): void => {
    if (more && !deps.signal?.aborted) queue.push(...more());
  };
  const oneByOne = async (list: ClaimedFile[]): Promise<void> => {
    // the one-file path, after the group's commit: it sees what the group committed
    for (const c of list) {
      try {
        emit({ c, outcome: await processClaimed(deps, c) });
      } catch (e) {
        emit({ c, error: e });
        if ((e as Error).name === 'AbortError') for (const q of queue.splice(0)) emit({ c: q, error: abandoned() });
      }
    }
  };
  for (;;) {
    while (queue.length) {
      let conv: Converted;
      try {
        conv = await convertGroup(deps, queue, allocator, inflight?.blocked);
      } catch (e) {
        // the commit in flight ends first: no write of it is left running
        if (inflight) for (const r of (await inflight.commit.catch(() => ({ committed: [] }))).committed) emit(r);
        throw e;
      }
      const before = inflight ? await inflight.commit : undefined;
      inflight = undefined;
      for (const r of before?.committed ?? []) emit(r);
      const commit = commitGroup(deps, conv, allocator);
      // awaited below or at the next turn; until then its failure must not count as unhandled
      commit.catch(() => undefined);
      const { aborted } = conv;
      queue = conv.rest;
      if (!aborted.length) pull();
      if (!before?.later.length && !conv.later.length && !aborted.length && queue.length) {
        inflight = { commit, blocked: conv.blocked };
        continue;
      }
      const { committed, later } = await commit;
      for (const r of committed) emit(r);
      await oneByOne([...(before?.later ?? []), ...later, ...conv.later]);
      for (const c of aborted) emit({ c, error: abandoned() });
      if (!aborted.length) pull();
    }
    if (inflight) {
      const { committed, later } = await inflight.commit;
      inflight = undefined;
      for (const r of committed) emit(r);
      await oneByOne(later);
    }
    pull();
    if (!queue.length) return results;
  }
}

function abandoned(): Error {
  return Object.assign(new Error('the stop abandoned intake'), { name: 'AbortError' });
}

/** What a group whose commit is in flight adds: the next group's files may not read it. */
interface Blocked {
  shas: Set<string>;
  writes: Set<string>;
}

interface Converted extends ToCommit {
  /** for the one-file path, after the commit */
  later: ClaimedFile[];
  /** for the next group */
  rest: ClaimedFile[];
  aborted: ClaimedFile[];
  blocked: Blocked;
}

interface Opened {
  c: ClaimedFile;
  fd: number;
  st: fs.Stats;
  sha256: string;
  bytes: number;
  startedAt: number;
  row?: FileRow;
  data?: Buffer;
}

async function convertGroup(deps: IntakeDeps, queue: ClaimedFile[], allocator: FcnAllocator, blocked: Blocked = { shas: new Set(), writes: new Set() }): Promise<Converted> {
  const { config, ledger } = deps;
  const d = dataPaths(config);
  const pending: Pending[] = [];
  const later: ClaimedFile[] = [];
  const aborted: ClaimedFile[] = [];
  const writes = new Set<string>();
  /** the group's outbox XML, written and fsynced in the libuv pool while the next file converts */
  const xmlWrites = new DurableWrites();
  const validation = new GroupValidation();
  /** folders whose entries the group's commit makes durable: the outbox folders written into,
   * a folder created in one, work/ and the drop folders claimed from (see durableCommit) */
  const folders = new Set<string>([d.work]);
  const drops = new Set<string>();

  // 1. the claims: each file opened and hashed, then all their rows and attempts in ONE commit
  const opened: Opened[] = [];
  const shas = new Set<string>();
  let i = 0;
  for (; i < queue.length && opened.length < COMMIT_FILES; i++) {
    const c = queue[i]!;
    if (deps.signal?.aborted) break;
    // a leftover outcome, a file that failed before, a forced reprocess: the one-file path
    const row = ledger.fileByWorkPath(c.workPath);
    if ((row && row.state !== 'RECEIVED') || (intakeAttempt(ledger.db, c.workPath)?.failed ?? 0) > 0 || c.force) {
      later.push(c);
      continue;
    }
    let o: Opened;
    try {
      const { fd, st } = openClaimed(c);
      try {
        const startedAt = Date.now();
        // a small file is read once: its hash, its lines and its archive copy from those bytes
        const data = readSmall(fd, st);
        const hashed = data ? { sha256: sha256Of(data), bytes: data.length, data } : await sha256Fd(fd, deps.signal);
        o = { c, fd, st, startedAt, ...hashed, ...(row ? { row } : {}) };
      } catch (e) {
        fs.closeSync(fd);
        throw e;
      }
    } catch (e) {
      if ((e as Error).name === 'AbortError') break;
      later.push(c);
      continue;
    }
    // the same content twice: the second is a duplicate of the first once that is committed
    if (shas.has(o.sha256) || blocked.shas.has(o.sha256)) {
      fs.closeSync(o.fd);
      break;
    }
    shas.add(o.sha256);
    opened.push(o);
  }
  if (deps.signal?.aborted) {
    for (const o of opened) fs.closeSync(o.fd);
    return { pending, later, rest: [], aborted: [...opened.map((o) => o.c), ...queue.slice(i)], blocked: { shas, writes }, xmlWrites, validation, folders, drops };
  }
  for (const o of opened) if (o.row) for (const p of ledger.dropMessagesOfFile(o.row.id)) fs.rmSync(p, { force: true });
  const attempts = ledger.db
    .transaction(() =>
      opened.map((o) => {
        const n = startIntakeAttempt(ledger.db, o.c.workPath).started;
        const c = o.c;
        const id = o.row?.id ?? ledger.insertFile({ name: c.name, inbound: c.inbound.path, layout: c.inbound.layout.name, sha256: o.sha256, bytes: o.bytes, workPath: c.workPath });
        return { n, id };
      }),
    )
    .immediate();

  // 2. the conversions, one after another; a file that is not plain leaves the group
  let messages = 0;
  let j = 0;
  for (; j < opened.length; j++) {
    const { c, fd, st, sha256, bytes, startedAt, data } = opened[j]!;
    drops.add(c.inbound.path);
    const fileId = attempts[j]!.id;
    if (messages >= GROUP_MESSAGES) break;
    const written: string[] = [];
    try {
      const row = ledger.file(fileId) as FileRow;
      const log = { file: c.name, fileId, sha256 };
      // at debug here: the group's files end within the second, and 'file converted' carries
      // the same facts (one line per file, not two: a JSON log line costs ~0.2 ms of the event
      // loop); a file that leaves the group is logged 'file received' by the one-file path
      deps.logger.debug('file received', { ...log, bytes, inbound: c.inbound.path });
      const k: Claim = { deps, c, fd, st, sha256, bytes, row, log, startedAt, attempt: attempts[j]!.n };
      if (wholeFileProblems(k).length || ledger.convertedFileWithSha(sha256, row.id)) throw new GroupConflict('not a plain file');
      const rules = historyRules(ledger, config);
      const mine: string[] = [];
      let rest: NewMessage[] = [];
      const result = await translateFile(
        data ? { bytes: data } : { fd },
        {
          signal: deps.signal,
          config,
          layout: c.inbound.layout,
          fixed: { messageType: c.inbound.messageType, partner: c.inbound.partner },
          allocate: () => allocator.allocate(),
          // a small file is judged in the worker while the next ones convert (group-validation.ts);
          // a big one as the one-file path judges it, chunk by chunk, its memory bounded
          ...(data ? { validateLater: (batch: readonly TranslatedMessage[]) => validation.add(row.id, batch) } : {}),
          check: (m, h, hash) => {
            const keys = ruleKeys(m, h.partner, config);
            if (keys.reads.some((r) => writes.has(r) || blocked.writes.has(r))) throw new GroupConflict('reads what an earlier file of this group adds', true);
            mine.push(...keys.writes);
            return rules(m, h, hash);
          },
          onMessage: async (m: TranslatedMessage) => {
            const dir = path.join(d.outbox, m.partner);
            if (!folders.has(dir)) {
              const made = fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
              if (made) folders.add(path.dirname(made));
              folders.add(dir);
            }
            const xmlPath = path.join(dir, `${m.fileControlNumber}.xml`);
            written.push(xmlPath);
            await xmlWrites.start(m.xml.length, () => writeFileDurableAsync(xmlPath, m.xml));
            rest.push(newMessageOf(row.id, m, xmlPath));
            if (rest.length >= INSERT_CHUNK) {
              ledger.insertMessages(rest);
              rest = [];
            }
          },
        },
      );
      if (result.errors.length) throw new GroupConflict('has problems: the one-file path reports them');
      for (const w of mine) writes.add(w);
      messages += result.messages;
      pending.push({ k, count: result.messages, facts: factsOf(result.header), rest, xml: written, ...(data ? { data } : {}) });
    } catch (e) {
      // whatever it was, the one-file path does it again from the start (and counts, reports
      // or keeps the file in work/ as it would have); nothing of this try stays behind (its
      // writes ended first, so none lands after the removal)
      await xmlWrites.settled().catch(() => undefined);
      for (const p of ledger.dropMessagesOfFile(fileId)) fs.rmSync(p, { force: true });
      for (const p of written) fs.rmSync(p, { force: true });
      if ((e as Error).name === 'AbortError' || (e instanceof GroupConflict && e.closesGroup)) break;
      later.push(c);
    }
  }
  const kept = new Set(pending.map((p) => p.k.fd));
  for (const o of opened) if (!kept.has(o.fd)) fs.closeSync(o.fd);
  // a conflict or the stop: the files claimed but not converted start the next group (their
  // rows are RECEIVED, their attempts unfailed: the group path takes them again)
  const unconverted = opened.slice(j).map((o) => o.c);
  if (deps.signal?.aborted) aborted.push(...unconverted, ...queue.slice(i));
  const rest = deps.signal?.aborted ? [] : [...unconverted, ...queue.slice(i)];
  return { pending, later, rest, aborted, blocked: { shas: new Set(pending.map((p) => p.k.sha256)), writes }, xmlWrites, validation, folders, drops };
}
