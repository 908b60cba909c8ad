// Loggers for tests: one that keeps every line, and one that adds fixed fields.
import { redact, type LogFields, type Logger, type LogLevel } from '../../src/log.js';

/** A logger that adds fixed fields (partner, batch id, ...) to every line. */
export function withFields(base: Logger, fixed: LogFields): Logger {
  const at = (l: LogLevel) => (msg: string, fields?: LogFields) => base[l](msg, { ...fixed, ...fields });
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

export interface LogEntry {
  level: LogLevel;
  message: string;
  fields: LogFields;
}

/** Keeps every line (redacted, as it would be written) in `entries`. */
export function memoryLogger(): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at = (level: LogLevel) => (message: string, fields?: LogFields) => void entries.push({ level, message, fields: fields ? redact(fields) : {} });
  return { entries, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}
