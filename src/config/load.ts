// Finds, reads and validates the configuration, then resolves it: paths made absolute
// (relative to the config file), secret files looked up in $CREDENTIALS_DIRECTORY first,
// layouts and message types merged over the built-ins. Every problem is collected and
// reported by key path; nothing starts on an invalid config.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { configSchema, type LayoutConfig, type PartnerConfig, type RawConfig } from './schema.js';
import type { FieldDef, Layout } from '../flatfile/layout.js';
import { erpDelimited } from '../flatfile/layouts/erp-delimited.js';
import { erpFixed } from '../flatfile/layouts/erp-fixed.js';
import { isValidFormat } from '../flatfile/values.js';
import { resolveMessageTypes, type MessageTypeInfo, type MessageTypeName } from '../messages/registry.js';

export const BUILTIN_LAYOUTS: Readonly<Record<string, Layout>> = { [erpDelimited.name]: erpDelimited, [erpFixed.name]: erpFixed };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid configuration ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export interface InboundConfig {
  path: string;
  layout: Layout;
  stableMs: number;
  messageType?: MessageTypeName;
  partner?: string;
}

export interface Config extends Omit<RawConfig, 'inbound' | 'layouts' | 'messageTypes'> {
  file: string;
  inbound: InboundConfig[];
  layouts: Map<string, Layout>;
  messageTypes: Record<MessageTypeName, MessageTypeInfo>;
}

export function defaultConfigPath(explicit?: string): string {
  return path.resolve(explicit ?? process.env.TLBRIDGE_CONFIG ?? 'config/tlbridge.yaml');
}

/** A secret file: absolute as given; relative, $CREDENTIALS_DIRECTORY first (systemd
 * LoadCredential=), then relative to the config file. */
export function resolveSecretPath(name: string, configDir: string): string {
  if (path.isAbsolute(name)) return name;
  const creds = process.env.CREDENTIALS_DIRECTORY;
  if (creds) {
    const p = path.join(creds, name);
    if (fs.existsSync(p)) return p;
  }
  return path.resolve(configDir, name);
}

export function loadConfig(explicitPath?: string): Config {
  const file = defaultConfigPath(explicitPath);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [`cannot read the file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) throw new ConfigError(file, doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`));
  const parsed = configSchema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    throw new ConfigError(
      file,
      parsed.error.issues.map((i) => {
        const key = i.path.map(String).join('.');
        const msg = i.code === 'unrecognized_keys' ? `unknown key(s) ${i.keys.join(', ')}` : i.message;
        return key ? `${key}: ${msg}` : msg;
      }),
    );
  }
  return resolve(file, parsed.data);
}

function resolve(file: string, raw: RawConfig): Config {
  const dir = path.dirname(file);
  const problems: string[] = [];
  const abs = (p: string) => path.resolve(dir, p);

  const layouts = resolveLayouts(raw.layouts, problems);

  const inbound: InboundConfig[] = [];
  raw.inbound.forEach((ib, i) => {
    const layout = layouts.get(ib.layout);
    if (!layout) problems.push(`inbound.${i}.layout: unknown layout "${ib.layout}" (known: ${[...layouts.keys()].join(', ')})`);
    if (ib.partner && !raw.partners[ib.partner]) problems.push(`inbound.${i}.partner: unknown partner "${ib.partner}"`);
    inbound.push({ ...ib, path: abs(ib.path), layout: layout ?? erpDelimited });
  });
  const seenPaths = new Set<string>();
  for (const [i, ib] of inbound.entries()) {
    if (seenPaths.has(ib.path)) problems.push(`inbound.${i}.path: the folder ${ib.path} is listed twice`);
    seenPaths.add(ib.path);
  }

  const overrides = Object.fromEntries(
    Object.entries(raw.messageTypes).map(([k, v]) => [k, { ...v, ...(v?.schema ? { schema: abs(v.schema) } : {}) }]),
  );
  const messageTypes = resolveMessageTypes(overrides);
  const codes = new Map<string, string>();
  for (const t of Object.values(messageTypes)) {
    if (codes.has(t.code)) problems.push(`messageTypes.${t.name}.code: "${t.code}" is also the code of ${codes.get(t.code)}`);
    codes.set(t.code, t.name);
    if (!fs.existsSync(t.schema)) problems.push(`messageTypes.${t.name}.schema: file not found: ${t.schema}`);
  }

  const partners: Record<string, PartnerConfig> = {};
  for (const [code, p] of Object.entries(raw.partners)) {
    const sftp = { ...p.sftp };
    for (const key of ['privateKeyFile', 'passwordFile', 'passphraseFile'] as const) {
      const v = sftp[key];
      if (!v) continue;
      sftp[key] = resolveSecretPath(v, dir);
      try {
        fs.accessSync(sftp[key]!, fs.constants.R_OK);
      } catch {
        // a relative name may be a credential only the service can read (product.md 6):
        // send-now and poll-acks then ask the daemon
        if (path.isAbsolute(v)) problems.push(`partners.${code}.sftp.${key}: cannot read ${sftp[key]}`);
      }
    }
    if (sftp.ackAfterRead.startsWith('move:') && !sftp.ackAfterRead.slice(5).startsWith('/'))
      problems.push(`partners.${code}.sftp.ackAfterRead: the move folder must be an absolute server path`);
    partners[code] = { ...p, sftp };
  }

  if (problems.length) throw new ConfigError(file, problems);
  return {
    ...raw,
    file,
    dataDir: abs(raw.dataDir),
    inbound,
    layouts,
    messageTypes,
    partners,
  };
}

function resolveLayouts(site: Record<string, LayoutConfig>, problems: string[]): Map<string, Layout> {
  const out = new Map<string, Layout>(Object.entries(BUILTIN_LAYOUTS));
  const resolving = new Set<string>();
  const get = (name: string, from: string): Layout | undefined => {
    if (out.has(name)) return out.get(name);
    const def = site[name];
    if (!def) {
      problems.push(`layouts.${from}.extends: unknown layout "${name}"`);
      return undefined;
    }
    if (resolving.has(name)) {
      problems.push(`layouts.${name}.extends: circular`);
      return undefined;
    }
    resolving.add(name);
    const l = build(name, def);
    resolving.delete(name);
    if (l) out.set(name, l);
    return l;
  };
  const build = (name: string, def: LayoutConfig): Layout | undefined => {
    const base = def.extends ? get(def.extends, name) : undefined;
    if (def.extends && !base) return undefined;
    if (!base && (!def.kind || !def.records)) {
      problems.push(`layouts.${name}: a new layout needs kind and records (or extends)`);
      return undefined;
    }
    const kind = def.kind ?? base!.kind;
    const records: Layout['records'] = { ...(base?.records ?? {}) };
    for (const [role, rec] of Object.entries(def.records ?? {})) records[role as keyof Layout['records']] = { ...rec, fields: rec.fields as FieldDef[] };
    const layout: Layout = {
      name,
      kind,
      encoding: def.encoding ?? base?.encoding ?? 'utf-8',
      decimalSeparator: def.decimalSeparator ?? base?.decimalSeparator ?? '.',
      delimiter: def.delimiter ?? base?.delimiter ?? '|',
      quote: def.quote ?? base?.quote ?? '"',
      recordType: def.recordType ?? base?.recordType ?? { from: 1, to: 3 },
      dateFormat: def.dateFormat ?? base?.dateFormat ?? 'yyyyMMdd',
      timeFormat: def.timeFormat ?? base?.timeFormat ?? 'HHmmss',
      records,
    };
    checkLayout(layout, problems);
    return layout;
  };
  for (const name of Object.keys(site)) {
    if (BUILTIN_LAYOUTS[name]) problems.push(`layouts.${name}: is a built-in layout name; choose another`);
    else get(name, name);
  }
  return out;
}

function checkLayout(l: Layout, problems: string[]): void {
  const at = `layouts.${l.name}`;
  if (!isValidFormat(l.dateFormat, ['yyyy', 'MM', 'dd'])) problems.push(`${at}.dateFormat: needs yyyy, MM and dd once each`);
  if (!isValidFormat(l.timeFormat, ['HH', 'mm', 'ss'])) problems.push(`${at}.timeFormat: needs HH, mm and ss once each`);
  if (!l.records.HDR || !l.records.TRL) problems.push(`${at}.records: HDR and TRL records are required`);
  for (const [role, rec] of Object.entries(l.records)) {
    rec.fields.forEach((f, i) => {
      const fat = `${at}.records.${role}.fields.${i}`;
      if (l.kind === 'fixed' && (f.from == null || f.to == null)) problems.push(`${fat}: a fixed layout's fields need from and to`);
      if (l.kind === 'delimited' && (f.from != null || f.to != null)) problems.push(`${fat}: a delimited layout's fields take position, not from/to`);
      if (f.format && !/[yMdHms]/.test(f.format)) problems.push(`${fat}.format: has no date or time tokens`);
    });
  }
}
