// The checks of a config beyond its shape, which not every command needs (product.md 6: the
// read-only commands never need the SSH key): every XSD compiled, and the partners' secret
// files readable. check-config runs both and lists every problem; `run` refuses to start (exit 2)
// on any of them, a relative secret the service cannot read included.
import fs from 'node:fs';
import path from 'node:path';
import { compileSchemas } from '../xml/schema.js';
import { ConfigError, readConfig, schemaFilesOf, type Config, type ConfigReading, type SecretFile } from './load.js';

export interface SecretCheck {
  problems: string[];
  /** relative secrets not readable here: fine for the read-only commands, `run` needs them */
  notes: string[];
}

/**
 * `check`: a secret named relative that is not readable here while $CREDENTIALS_DIRECTORY is
 * unset or does not hold it is a note (systemd holds it for the service, product.md 8);
 * `run`: every unreadable secret is a problem.
 */
export function checkSecrets(secrets: readonly SecretFile[], mode: 'check' | 'run'): SecretCheck {
  const out: SecretCheck = { problems: [], notes: [] };
  const creds = process.env.CREDENTIALS_DIRECTORY;
  for (const s of secrets) {
    const why = unreadable(s.path);
    if (!why) continue;
    const relative = !path.isAbsolute(s.name);
    const inCreds = !!creds && s.path.startsWith(path.resolve(creds) + path.sep);
    const where = creds ? `$CREDENTIALS_DIRECTORY (${creds}) does not hold it` : '$CREDENTIALS_DIRECTORY is not set';
    if (mode === 'check' && relative && !inCreds) {
      out.notes.push(`${s.key}: "${s.name}" is not readable here (${where}; ${s.path}: ${why}); the read-only commands do not need it, \`run\` does (systemd LoadCredential=)`);
    } else out.problems.push(`${s.key}: cannot read ${s.path} (${why})${relative && !inCreds ? `; "${s.name}" is relative and ${where}` : ''}`);
  }
  return out;
}

function unreadable(file: string): string | null {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    return fs.statSync(file).isFile() ? null : 'not a file';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? 'cannot read';
  }
}

export interface FullCheck extends ConfigReading {
  notes: string[];
}

/** check-config: the reading's problems, then the XSD and secret problems of whatever parsed. */
export function checkConfigFile(explicitPath?: string): FullCheck {
  const r = readConfig(explicitPath);
  const present = r.schemaFiles.filter((s) => fs.existsSync(s.file)); // a missing one is already a problem
  const secrets = checkSecrets(r.secretFiles, 'check');
  const problems = [...r.problems, ...compileSchemas(present), ...secrets.problems];
  return { ...r, config: problems.length ? null : r.config, problems, notes: secrets.notes };
}

/** `run` (and a reload): every XSD compiles and every secret is readable, else a ConfigError. */
export function assertRunnable(config: Config): void {
  const problems = [...compileSchemas(schemaFilesOf(config)), ...checkSecrets(config.secretFiles, 'run').problems];
  if (problems.length) throw new ConfigError(config.file, problems);
}
