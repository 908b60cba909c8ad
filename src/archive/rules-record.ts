// The rules in force, on the record (product.md 6): at every daemon start and every accepted
// reload a manifest of kind 'config' goes into the chain with the config file's and every XSD's
// sha256, and copies of them (the config holds secret file NAMES only, never a secret; the
// XSDs are about 30 KB together), so an auditor can read which rules a message was staged
// under. `audit trace` reads the fields `event`, `config` and `schemas`.
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/load.js';
import { ACK_SCHEMA } from '../messages/registry.js';
import { sha256 } from '../util/sha256.js';
import type { Archive } from './archive.js';

export type RulesEvent = 'start' | 'reload';

export interface SchemaRecord {
  /** a message type name (MATERIALS_PRODUCED), or 'ack' / 'commontypes' / 'shared-types' */
  name: string;
  path: string;
  sha256: string;
}

/** Every XSD the config puts in force: each message type's, the ack's, and the shared ones the
 * shipped schemas import (beside the ack XSD). */
export function schemasInForce(config: Pick<Config, 'messageTypes'>): { name: string; path: string }[] {
  const shipped = path.dirname(ACK_SCHEMA);
  const list: { name: string; path: string }[] = Object.values(config.messageTypes).map((t) => ({ name: t.name, path: t.schema }));
  list.push({ name: 'ack', path: ACK_SCHEMA });
  for (const name of ['commontypes', 'shared-types']) {
    const p = path.join(shipped, `${name}.xsd`);
    if (fs.existsSync(p)) list.push({ name, path: p });
  }
  return list;
}

/** Archives the config file and the XSDs in force with their hashes; returns the folder. */
export function recordRulesInForce(archive: Archive, config: Config, event: RulesEvent): string {
  const configData = fs.readFileSync(config.file);
  const schemas: SchemaRecord[] = [];
  const files: { name: string; data: Buffer }[] = [{ name: `config${safeExt(config.file)}`, data: configData }];
  for (const s of schemasInForce(config)) {
    const data = fs.readFileSync(s.path);
    schemas.push({ name: s.name, path: s.path, sha256: sha256(data) });
    files.push({ name: `${s.name}.xsd`, data });
  }
  const id = `${event}-${new Date().toISOString().replace(/[-:.]/g, '')}-${process.pid}`;
  const extra = { event, config: { path: config.file, sha256: sha256(configData) }, schemas };
  return archive.add('config', id, files, extra).dir;
}

function safeExt(file: string): string {
  const ext = path.extname(file);
  return /^\.[A-Za-z0-9]{1,8}$/.test(ext) ? ext : '';
}
