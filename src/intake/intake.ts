// Intake of one claimed file (product.md 1 and 5): translate it, apply the rules with
// history, stage its messages (all or none), archive what was received, or put it into
// error/ with its report. The work/ copy is removed only once the outcome is committed.
import fs from 'node:fs';
import path from 'node:path';
import type { Archive } from '../archive/archive.js';
import type { Config, InboundConfig } from '../config/load.js';
import { dataPaths } from '../config/paths.js';
import { inputError, type InputError } from '../flatfile/errors.js';
import { FcnAllocator, type Ledger, type NewMessage } from '../ledger/ledger.js';
import type { Logger } from '../log.js';
import { writeFileDurable } from '../util/durable-file.js';
import { sha256 as sha256Of, sha256File } from '../util/sha256.js';
import { historyRules } from './history-rules.js';
import { rejectReason, writeErrorFile } from './report.js';
import { translateFile, type FileHeader, type TranslatedMessage } from './translate.js';

export interface IntakeDeps {
  config: Config;
  ledger: Ledger;
  archive: Archive;
  logger: Logger;
  /** aborts a conversion in progress (shutdown); the file stays in work/ for the next start */
  signal?: AbortSignal;
}

export interface ClaimedFile {
  /** where the claimed file sits, under work/ */
  workPath: string;
  /** the name it was dropped under */
  name: string;
  inbound: InboundConfig;
  /** `reprocess --force`: pass the duplicate checks */
  force?: boolean;
  reprocessOf?: number;
}

export interface IntakeOutcome {
  fileId: number;
  state: 'CONVERTED' | 'FAILED' | 'DUPLICATE';
  messages: number;
  errors: InputError[];
}

const INSERT_CHUNK = 500;

export async function processClaimed(deps: IntakeDeps, c: ClaimedFile): Promise<IntakeOutcome> {
  const { config, ledger, archive, logger } = deps;
  const started = Date.now();
  const d = dataPaths(config);
  const { sha256, bytes } = await sha256File(c.workPath);

  // A file found in work/ after a crash already has its row: start it over cleanly.
  let row = ledger.fileByWorkPath(c.workPath);
  if (row && row.state !== 'RECEIVED') {
    fs.rmSync(c.workPath, { force: true }); // its outcome is committed; only the unlink was lost
    ledger.clearWorkPath(row.id);
    return { fileId: row.id, state: row.state, messages: row.messages, errors: [] };
  }
  if (row) for (const p of ledger.dropMessagesOfFile(row.id)) fs.rmSync(p, { force: true });
  const fileId =
    row?.id ??
    ledger.insertFile({ name: c.name, inbound: c.inbound.path, layout: c.inbound.layout.name, sha256, bytes, workPath: c.workPath, reprocessOf: c.reprocessOf });
  row = ledger.file(fileId)!;
  const log = { file: c.name, fileId, sha256 };
  logger.info('file received', { ...log, bytes, inbound: c.inbound.path });

  let header: FileHeader | undefined;
  let errors: InputError[];
  let count = 0;
  const earlier = c.force ? undefined : ledger.convertedFileWithSha(sha256, fileId);
  if (earlier) {
    const fcn = ledger.firstFcnOfFile(earlier.id) ?? '';
    errors = [
      {
        ...inputError(null, null, null, `has the same content as ${earlier.name}, received ${earlier.received_at} and already converted`),
        kind: 'duplicate',
        original: { file: earlier.name, receivedAt: earlier.received_at, fileControlNumber: fcn },
      },
    ];
  } else {
    const allocator = new FcnAllocator(ledger, config.sender.controlNumberPrefix);
    const rules = historyRules(ledger, config);
    let pending: NewMessage[] = [];
    const written: string[] = [];
    // a conversion that throws (a full disk, the stop) leaves nothing of itself behind: no
    // message rows, no outbox files taking space; the input stays in work/ for another attempt
    const undo = (): void => {
      for (const p of [...ledger.dropMessagesOfFile(fileId), ...written]) fs.rmSync(p, { force: true });
    };
    const result = await translateFile(c.workPath, {
      signal: deps.signal,
      config,
      layout: c.inbound.layout,
      fixed: { messageType: c.inbound.messageType, partner: c.inbound.partner },
      allocate: () => allocator.allocate(),
      check: (m, h, hash) => rules(m, h, hash).filter((e) => !(c.force && e.kind === 'duplicate')),
      onMessage: (m: TranslatedMessage) => {
        const dir = path.join(d.outbox, m.partner);
        fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
        const xmlPath = path.join(dir, `${m.fileControlNumber}.xml`);
        written.push(xmlPath);
        try {
          writeFileDurable(xmlPath, m.xml);
        } catch (e) {
          throw Object.assign(new Error(`cannot write the outbox file ${xmlPath}: ${(e as Error).message}`), { code: (e as NodeJS.ErrnoException).code });
        }
        pending.push({
          fileId,
          partner: m.partner,
          messageType: m.info.name,
          typeCode: m.info.code,
          fcn: m.fileControlNumber,
          keys: m.mapped.keys,
          bodyHash: m.bodyHash,
          sourceLine: m.mapped.line,
          xmlPath,
          xmlSha256: sha256Of(m.xml),
          bytes: Buffer.byteLength(m.xml),
        });
        if (pending.length >= INSERT_CHUNK) {
          ledger.insertMessages(pending);
          pending = [];
        }
      },
    }).catch((e: unknown) => {
      undo();
      throw e;
    });
    ledger.insertMessages(pending);
    allocator.release();
    header = result.header;
    errors = result.errors;
    count = result.messages;
  }

  const facts = {
    messageType: header?.messageType,
    partner: header?.partner,
    erpFileId: header?.erpFileId,
    erpCreated: header?.created,
  };
  if (errors.length) {
    for (const p of ledger.dropMessagesOfFile(fileId)) fs.rmSync(p, { force: true });
    const reason = rejectReason(errors);
    const state = reason === 'duplicate' ? 'DUPLICATE' : 'FAILED';
    const report = {
      file: c.name,
      sha256,
      receivedAt: row.received_at,
      reason,
      errors: errors.map((e) => ({ line: e.line, field: e.field, value: e.value, message: e.message, original: e.original ?? null })),
    };
    const errorPath = writeErrorFile(d.error, c.workPath, c.name, report);
    archive.add(
      'intake',
      String(fileId),
      [{ name: path.basename(errorPath), from: c.workPath }, { name: `${path.basename(errorPath)}.error.json`, from: `${errorPath}.error.json` }],
      { fileId, file: c.name, sha256, outcome: state, reason, ...facts },
      (dir) => ledger.finishFile(fileId, state, { ...facts, errorPath, archiveDir: dir, detail: `${errors.length} problem(s), reason ${reason}` }),
    );
    fs.rmSync(c.workPath, { force: true });
    ledger.clearWorkPath(fileId);
    logger.warn(`file ${state === 'DUPLICATE' ? 'is a duplicate' : 'failed'}`, { ...log, state, reason, problems: errors.length, errorPath, durationMs: Date.now() - started });
    return { fileId, state, messages: 0, errors };
  }

  archive.add('intake', String(fileId), [{ name: c.name, from: c.workPath }], { fileId, file: c.name, sha256, outcome: 'CONVERTED', messages: count, ...facts }, (dir) =>
    ledger.finishFile(fileId, 'CONVERTED', { ...facts, messages: count, archiveDir: dir, detail: `${count} message(s) staged` }),
  );
  fs.rmSync(c.workPath, { force: true });
  ledger.clearWorkPath(fileId);
  logger.info('file converted', { ...log, state: 'CONVERTED', messages: count, messageType: facts.messageType, partner: facts.partner, durationMs: Date.now() - started });
  return { fileId, state: 'CONVERTED', messages: count, errors: [] };
}

/** After a crash: outbox files of conversions that never committed have no ledger row. */
export function sweepOrphanOutbox(config: Config, ledger: Ledger): number {
  const root = dataPaths(config).outbox;
  let removed = 0;
  if (!fs.existsSync(root)) return 0;
  const known = ledger.db.prepare('SELECT 1 FROM messages WHERE xml_path = ?');
  for (const partner of fs.readdirSync(root)) {
    const dir = path.join(root, partner);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const f of fs.readdirSync(dir)) {
      const p = path.join(dir, f);
      if (!known.get(p)) {
        fs.rmSync(p, { force: true });
        removed++;
      }
    }
  }
  return removed;
}
