// Logging (libraries.md, winston 3): one line per event on stdout with an ISO-8601 UTC
// timestamp: a JSON object for journald, or (log.format text, or auto on a terminal) a
// readable line: time, level, message, then the fields as key=value. No File transport
// (memory spikes on rotation, lines lost on process.exit); flush before exiting. Secrets never
// reach a log line (product.md 6): every line goes through redact(), whatever the caller
// passed, before either format sees it.
import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

export type LogFields = Record<string, unknown>;

import type { LogFormat } from './log-format.js';
export { LOG_FORMATS, type LogFormat } from './log-format.js';

/** What the other modules accept: a winston logger, a test's memory logger, a child with fixed fields. */
export interface Logger {
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
}

export const REDACTED = '[redacted]';

// Names that hold a secret: password, passwd, passphrase, privateKey / private_key, secret,
// token, apiKey, authorization (case, `_` and `-` ignored). A name ending in File, Path or
// Dir only says where a secret lives (sftp.privateKeyFile) and is kept: operators need it.
const SECRET_NAME = /(password|passwd|passphrase|privatekey|secret|token|apikey|authorization)/;
const LOCATION_NAME = /(file|path|dir|directory)$/;

export function isSecretName(name: string): boolean {
  const n = name.toLowerCase().replace(/[-_]/g, '');
  return SECRET_NAME.test(n) && !LOCATION_NAME.test(n);
}

/** A copy of `value` with every field named like a secret replaced by "[redacted]", at any
 * depth; Errors become {message, code?, ...} (JSON would print them as {}), Buffers a length. */
export function redact<T>(value: T): T {
  return redactValue(value, new WeakSet()) as T;
}

function redactValue(value: unknown, seen: WeakSet<object>): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[circular]';
  if (Buffer.isBuffer(value)) return `[${value.length} bytes]`;
  if (value instanceof Date) return value.toISOString();
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((v) => redactValue(v, seen));
    const source: Record<string, unknown> =
      value instanceof Error ? { name: value.name, message: value.message, ...(value as unknown as Record<string, unknown>) } : (value as Record<string, unknown>);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(source)) out[k] = isSecretName(k) ? REDACTED : redactValue(v, seen);
    return out;
  } finally {
    seen.delete(value);
  }
}

const created = new Set<winston.Logger>();

/** `auto` is text when stdout is a terminal (an operator watching), JSON otherwise. */
export function resolveLogFormat(format: LogFormat, stdoutIsTTY = process.stdout.isTTY === true): 'json' | 'text' {
  return format === 'auto' ? (stdoutIsTTY ? 'text' : 'json') : format;
}

/** A field value as it reads in a text line: bare when it is one plain word, else JSON. */
function textValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v === undefined) return 'undefined';
  return typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
}

/** `2026-12-02T14:02:07.123Z info  batch sent partner=ACME-PHARMA messages=3` */
export function formatTextLine(entry: { timestamp?: unknown; level: string; message: unknown } & LogFields): string {
  const { timestamp, level, message, ...fields } = entry;
  const kv = Object.entries(fields).map(([k, v]) => `${k}=${textValue(v)}`);
  return [String(timestamp ?? new Date().toISOString()), level.padEnd(5), String(message), ...kv].join(' ');
}

const textFormat = winston.format.printf((info) => formatTextLine(info as unknown as Parameters<typeof formatTextLine>[0]));

/** A logger on stdout at `level` (error, warn, info, debug): JSON lines, or readable text lines
 * (`format` text, or auto when stdout is a terminal). */
export function createLogger(level: LogLevel | string = 'info', format: LogFormat = 'json'): Logger {
  const lvl = (LOG_LEVELS as readonly string[]).includes(level) ? level : 'info';
  const w = winston.createLogger({
    level: lvl,
    levels: winston.config.npm.levels,
    format: winston.format.combine(winston.format.timestamp(), resolveLogFormat(format) === 'text' ? textFormat : winston.format.json()),
    // stdout only: no level goes to stderr (journald takes the priority from the JSON level)
    transports: [new winston.transports.Console({ stderrLevels: [], consoleWarnLevels: [] })],
    exitOnError: false,
  });
  created.add(w);
  const at =
    (level: LogLevel) =>
    (msg: string, fields?: LogFields): void => {
      // a line below the level costs nothing: winston would redact and stream it only to drop it
      if (!w.isLevelEnabled(level)) return;
      // the fields first: they never replace level, message or timestamp
      const { level: _l, message: _m, timestamp: _t, ...rest } = fields ? redact(fields) : {};
      w.log({ ...rest, level, message: msg });
    };
  const logger: Logger = { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
  winstonOf.set(logger, w);
  return logger;
}

const winstonOf = new WeakMap<Logger, winston.Logger>();

/** A reload's new log.level for a logger made by createLogger; false for any other logger. */
export function setLogLevel(logger: Logger, level: LogLevel): boolean {
  const w = winstonOf.get(logger);
  if (w) w.level = level;
  return w !== undefined;
}

/** Resolves once every line logged so far has been handed to stdout and stdout has drained. */
export async function flushLogger(): Promise<void> {
  for (const w of created) {
    // the logger is a stream piped into its transports; wait until nothing is buffered in it
    for (let i = 0; i < 1000 && (w.writableLength > 0 || w.readableLength > 0); i++) await new Promise((r) => setImmediate(r));
  }
  const out = process.stdout;
  if (out.writableNeedDrain) await new Promise<void>((r) => out.once('drain', () => r()));
  await new Promise<void>((r) => {
    if (!out.writable) return r();
    out.write('', () => r());
  });
}

/** Logs nothing. */
export const nullLogger: Logger = { error() {}, warn() {}, info() {}, debug() {} };
