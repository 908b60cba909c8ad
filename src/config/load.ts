// Finds, reads and validates the configuration, then resolves it: paths made absolute
// (relative to the config file), secret files looked up in $CREDENTIALS_DIRECTORY first,
// layouts and message types merged over the built-ins. Every problem is collected and
// reported by key path, schema problems and those of the parts that did parse together;
// nothing starts on an invalid config. Secret files and XSD compilation: check.ts.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { LayoutConfig, PartnerConfig, RawConfig } from './schema.js';
import { isPlainObject, parsePartial, type PartialRawConfig } from './partial.js';
import type { FieldDef, Layout } from '../flatfile/layout.js';
import { erpDelimited } from '../flatfile/layouts/erp-delimited.js';
import { erpFixed } from '../flatfile/layouts/erp-fixed.js';
import { isValidFormat } from '../flatfile/values.js';
import { ACK_SCHEMA, DEFAULT_NAMESPACES, XSD_DIR, resolveMessageTypes, type MessageTypeInfo, type MessageTypeName } from '../messages/registry.js';

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

/** A secret file of a partner (product.md 2): as written in the file, and where it was found. */
export interface SecretFile {
  /** key path, e.g. partners.ACME-PHARMA.sftp.privateKeyFile */
  key: string;
  /** as written in the config */
  name: string;
  /** resolveSecretPath(name) at load time */
  path: string;
}

/** An XSD the config puts in force, by the key that names it (or would override it). */
export interface SchemaFile {
  key: string;
  file: string;
}

export interface Config extends Omit<RawConfig, 'inbound' | 'layouts' | 'messageTypes' | 'partners' | 'schemas'> {
  file: string;
  inbound: InboundConfig[];
  layouts: Map<string, Layout>;
  messageTypes: Record<MessageTypeName, MessageTypeInfo>;
  /** null prototype: a code read from input never meets an Object.prototype member; look up with Object.hasOwn */
  partners: Record<string, PartnerConfig>;
  /** absolute paths: the site's overrides, else the shipped files */
  schemas: { ack: string; commontypes: string };
  /** every secret file named; read only at connect time (endpoint.ts), checked by check.ts */
  secretFiles: SecretFile[];
}

/** The shipped ack XSD and the common-types XSD every shipped schema imports. */
export const SHIPPED_SCHEMAS = { ack: ACK_SCHEMA, commontypes: path.join(XSD_DIR, 'commontypes.xsd') };

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

/** What reading a config gave: the config when it is valid, and every problem found either way. */
export interface ConfigReading {
  file: string;
  config: Config | null;
  problems: string[];
  /** of the parts that could be parsed (all of them when config is set) */
  secretFiles: SecretFile[];
  schemaFiles: SchemaFile[];
}

/** Reads, validates and resolves; never throws for a problem of the file. Secret files are
 * not read here: read-only commands never need them (product.md 6; check.ts checks them). */
export function readConfig(explicitPath?: string): ConfigReading {
  const file = defaultConfigPath(explicitPath);
  const none = { file, config: null, secretFiles: [], schemaFiles: [] };
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return { ...none, problems: [`cannot read the file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`] };
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) return { ...none, problems: doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`) };
  const js: unknown = doc.toJS() ?? {};
  const parsed = parsePartial(js);
  const r = resolve(file, parsed.data, isPlainObject(js) ? js : {});
  const problems = [...parsed.problems, ...r.problems];
  const config = parsed.complete && !problems.length ? r.config : null;
  return { file, config, problems, secretFiles: r.secretFiles, schemaFiles: r.schemaFiles };
}

/** The valid config, or a ConfigError listing every problem (main: exit 2). */
export function loadConfig(explicitPath?: string): Config {
  const r = readConfig(explicitPath);
  if (!r.config) throw new ConfigError(r.file, r.problems);
  return r.config;
}

interface Resolved {
  /** meaningful only when the raw config was complete and there are no problems */
  config: Config;
  problems: string[];
  secretFiles: SecretFile[];
  schemaFiles: SchemaFile[];
}

function resolve(file: string, raw: PartialRawConfig, js: Record<string, unknown>): Resolved {
  const dir = path.dirname(file);
  const problems: string[] = [];
  const abs = (p: string) => path.resolve(dir, p);
  // names written in the file, parsed or not: a reference to one that failed its own schema is
  // not reported a second time as unknown
  const written = (key: string) => new Set(isPlainObject(js[key]) ? Object.keys(js[key]) : []);
  const writtenLayouts = written('layouts');
  const writtenPartners = written('partners');

  const layouts = resolveLayouts(raw.layouts ?? {}, problems);

  const inbound: InboundConfig[] = [];
  const seenPaths = new Set<string>();
  // i: the index in the file (an entry that failed its schema is left out, not renumbered)
  (raw.inbound ?? []).forEach((ib, i) => {
    if (!ib) return;
    const layout = layouts.get(ib.layout);
    if (!layout && !writtenLayouts.has(ib.layout)) problems.push(`inbound.${i}.layout: unknown layout "${ib.layout}" (known: ${[...layouts.keys()].join(', ')})`);
    if (ib.partner && !writtenPartners.has(ib.partner)) problems.push(`inbound.${i}.partner: unknown partner "${ib.partner}"`);
    const folder = abs(ib.path);
    if (seenPaths.has(folder)) problems.push(`inbound.${i}.path: the folder ${folder} is listed twice`);
    seenPaths.add(folder);
    inbound.push({ ...ib, path: folder, layout: layout ?? erpDelimited });
  });

  const overrides = Object.fromEntries(
    Object.entries(raw.messageTypes ?? {}).map(([k, v]) => [k, { ...v, ...(v?.schema ? { schema: abs(v.schema) } : {}) }]),
  );
  const messageTypes = resolveMessageTypes(overrides);
  const codes = new Map<string, string>();
  for (const t of Object.values(messageTypes)) {
    if (codes.has(t.code)) problems.push(`messageTypes.${t.name}.code: "${t.code}" is also the code of ${codes.get(t.code)}`);
    codes.set(t.code, t.name);
  }

  const schemas = { ...SHIPPED_SCHEMAS };
  for (const k of ['ack', 'commontypes'] as const) {
    const own = raw.schemas?.[k];
    if (own) schemas[k] = abs(own);
    problems.push(...namespaceWithoutSchema(js, k));
  }
  const schemaFiles = schemaFilesOf({ messageTypes, schemas });
  for (const s of schemaFiles) if (!fs.existsSync(s.file)) problems.push(`${s.key}: file not found: ${s.file}`);

  if (writtenPartners.has('__proto__')) problems.push('partners.__proto__: this partner code cannot be used');
  const partners = Object.create(null) as Record<string, PartnerConfig>;
  const secretFiles: SecretFile[] = [];
  for (const [code, p] of Object.entries(raw.partners ?? {})) {
    const sftp = { ...p.sftp };
    for (const key of ['privateKeyFile', 'passwordFile', 'passphraseFile'] as const) {
      const v = sftp[key];
      if (!v) continue;
      sftp[key] = resolveSecretPath(v, dir);
      secretFiles.push({ key: `partners.${code}.sftp.${key}`, name: v, path: sftp[key]! });
    }
    if (sftp.ackAfterRead.startsWith('move:') && !sftp.ackAfterRead.slice(5).startsWith('/'))
      problems.push(`partners.${code}.sftp.ackAfterRead: the move folder must be an absolute server path`);
    partners[code] = { ...p, sftp };
  }

  const full = raw as RawConfig;
  const config: Config = {
    ...full,
    file,
    dataDir: abs(full.dataDir ?? '.'),
    inbound,
    layouts,
    messageTypes,
    partners,
    schemas,
    secretFiles,
  };
  return { config, problems, secretFiles, schemaFiles };
}

/** Every XSD in force, by the key that names it (or would override it). */
export function schemaFilesOf(c: Pick<Config, 'messageTypes' | 'schemas'>): SchemaFile[] {
  return [
    ...Object.values(c.messageTypes).map((t) => ({ key: `messageTypes.${t.name}.schema`, file: t.schema })),
    { key: 'schemas.ack', file: c.schemas.ack },
    { key: 'schemas.commontypes', file: c.schemas.commontypes },
  ];
}

/** product.md 2: a namespace override without the matching schema override is refused (the
 * shipped XSD has the shipped namespace); the shipped URI written out is no override. */
function namespaceWithoutSchema(js: Record<string, unknown>, k: 'ack' | 'commontypes'): string[] {
  const ns = isPlainObject(js.namespaces) ? js.namespaces[k] : undefined;
  const schema = isPlainObject(js.schemas) ? js.schemas[k] : undefined;
  if (ns === undefined || ns === DEFAULT_NAMESPACES[k] || schema) return [];
  return [`namespaces.${k}: a namespace override needs schemas.${k} too (the shipped XSD has ${DEFAULT_NAMESPACES[k]})`];
}

function resolveLayouts(site: Record<string, LayoutConfig>, problems: string[]): Map<string, Layout> {
  const out = new Map<string, Layout>(Object.entries(BUILTIN_LAYOUTS));
  const resolving = new Set<string>();
  const get = (name: string, from: string): Layout | undefined => {
    if (out.has(name)) return out.get(name);
    const def = Object.hasOwn(site, name) ? site[name] : undefined;
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
    if (Object.hasOwn(BUILTIN_LAYOUTS, name)) problems.push(`layouts.${name}: is a built-in layout name; choose another`);
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
