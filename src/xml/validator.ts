// The one module that touches libxmljs2 (messages.md, libraries.md "libxmljs2"): XSD loading and
// validation, and the guarded parse of untrusted XML (acknowledgments from a partner). Nothing
// of libxmljs2 leaks out of here, so swapping it (e.g. for libxml2-wasm) touches this file only.
//
// Cost: libxmljs2 0.35's Document.validate(xsd) compiles the schema from the parsed XSD document
// on EVERY call (xmlSchemaParse, re-reading each xs:include/xs:import file); it has no way to keep
// a compiled schema. loadSchema parses the XSD once, and cuts the per-call compilation by
// inlining chameleon includes (inlineChameleonIncludes); validateMany amortises one compilation
// over a whole chunk of documents (see BATCH). A binding that exposes a compiled schema
// (libxml2-wasm's XsdValidator, for one) can keep this API and drop both tricks.
import fs from 'node:fs';
import path from 'node:path';
import libxml from 'libxmljs2';
import type { Document as LibxmlDocument, Element } from 'libxmljs2';

export interface XmlIssue {
  line: number | null;
  /** libxml2's text, trimmed, on one line */
  message: string;
}

export interface XsdSchema {
  /** absolute path of the XSD */
  readonly file: string;
  /** validate a serialized document; [] = valid. A document that is not well-formed gives its parse errors. */
  validate(xml: string): XmlIssue[];
  /**
   * validate(xml) for each document, in order, with the same results (lines relative to each
   * document), but several times cheaper per document: prefer it for a file's messages.
   */
  validateMany(xmls: readonly string[]): XmlIssue[][];
}

export interface XmlDoc {
  /** text content of the first node the xpath selects (element text, attribute value), null when nothing matches */
  text(xpath: string): string | null;
  /** text content of every node the xpath selects, in document order */
  texts(xpath: string): string[];
  /** number of nodes the xpath selects */
  count(xpath: string): number;
}

// libxml2 error domains and levels (xmlerror.h)
const XML_FROM_SCHEMASP = 16; // schema compilation
const XML_ERR_ERROR = 2;

// Options for our own (trusted) documents: no entity expansion, no DTD loading, no network.
const TRUSTED_PARSE_OPTIONS = Object.freeze({ nonet: true });
// Untrusted documents arrive here already decoded to a JS string (libxmljs2 hands strings to
// libxml2 as UTF-8); ignore_enc stops libxml2 from re-decoding them by their declared
// encoding, so it parses exactly the text that the DOCTYPE check saw.
const UNTRUSTED_PARSE_OPTIONS = Object.freeze({ nonet: true, ignore_enc: true });

type LibxmlError = { message?: string; line?: number | null; level?: number | null; domain?: number | null };

function toIssue(e: LibxmlError): XmlIssue {
  const message = String(e.message ?? 'unknown libxml2 error').replace(/\s+/g, ' ').trim();
  const line = typeof e.line === 'number' && e.line > 0 ? e.line : null;
  return { line, message };
}

/** errors (not warnings) that libxml2 recorded while parsing a document it still built */
function parseErrors(doc: LibxmlDocument): XmlIssue[] {
  const errs = doc.errors as LibxmlError[] | undefined;
  if (!errs || errs.length === 0) return [];
  const out: XmlIssue[] = [];
  for (const e of errs) if ((e.level ?? XML_ERR_ERROR) >= XML_ERR_ERROR) out.push(toIssue(e));
  return out;
}

class LibxmlDoc implements XmlDoc {
  constructor(
    readonly doc: LibxmlDocument,
    private readonly namespaces: Record<string, string>,
  ) {}

  text(xpath: string): string | null {
    const r: unknown = this.doc.get(xpath, this.namespaces);
    return nodeText(r);
  }

  texts(xpath: string): string[] {
    const out: string[] = [];
    for (const n of this.doc.find(xpath, this.namespaces)) {
      const t = nodeText(n);
      if (t !== null) out.push(t);
    }
    return out;
  }

  count(xpath: string): number {
    return this.doc.find(xpath, this.namespaces).length;
  }
}

function nodeText(r: unknown): string | null {
  if (r === null || r === undefined) return null;
  if (typeof r === 'string') return r;
  if (typeof r === 'number' || typeof r === 'boolean') return String(r);
  const n = r as { type?: () => string; text?: () => string; value?: () => string };
  if (typeof n.type === 'function' && n.type() === 'attribute' && typeof n.value === 'function') return n.value();
  if (typeof n.text === 'function') return n.text();
  return null;
}

class LibxmlSchema implements XsdSchema {
  private batchXsd: LibxmlDocument | null | undefined; // undefined = not built yet, null = not possible

  constructor(
    readonly file: string,
    private readonly xsd: LibxmlDocument,
    private readonly targetNamespace: string | null,
  ) {}

  validate(xml: string): XmlIssue[] {
    let doc: LibxmlDocument;
    try {
      doc = libxml.parseXml(xml, TRUSTED_PARSE_OPTIONS);
    } catch (e) {
      return [toIssue(e as LibxmlError)];
    }
    const issues = parseErrors(doc);
    const schemaIssues = this.validateParsed(doc);
    return issues.length === 0 ? schemaIssues : issues.concat(schemaIssues);
  }

  validateParsed(doc: LibxmlDocument, xsd: LibxmlDocument = this.xsd): XmlIssue[] {
    let ok: boolean;
    try {
      ok = doc.validate(xsd);
    } catch (e) {
      resetErrorHandler();
      // only when the XSD (or a file it includes) changed or vanished since loadSchema
      throw new Error(`XSD schema ${this.file} can no longer be compiled: ${(e as Error).message}`);
    }
    const errs = doc.validationErrors as LibxmlError[];
    if (ok && errs.length === 0) return [];
    const out: XmlIssue[] = [];
    // schema-compilation warnings would repeat on every call: they are not about the document
    for (const e of errs) if (e.domain !== XML_FROM_SCHEMASP) out.push(toIssue(e));
    if (!ok && out.length === 0) out.push({ line: null, message: 'document is not valid against the schema' });
    return out;
  }

  validateMany(xmls: readonly string[]): XmlIssue[][] {
    const batchXsd = xmls.length > 1 ? this.batchSchema() : null;
    if (!batchXsd) return xmls.map((x) => this.validate(x));
    const out: XmlIssue[][] = [];
    let from = 0;
    while (from < xmls.length) {
      // a chunk stays under libxml2's 65535 line cap (validation errors carry 16-bit lines)
      let lines = 2;
      let chars = 0;
      let to = from;
      const bodies: string[] = [];
      const counts: number[] = [];
      while (to < xmls.length) {
        const body = xmls[to]!.replace(XML_DECL_RE, '');
        const n = countLines(body);
        if (to > from && (lines + n > BATCH.maxLines || chars + body.length > BATCH.maxChars)) break;
        bodies.push(body);
        counts.push(n);
        lines += n;
        chars += body.length;
        to++;
      }
      const chunk = to - from === 1 ? null : this.validateChunk(bodies, counts, batchXsd);
      if (chunk) out.push(...chunk);
      else for (let i = from; i < to; i++) out.push(this.validate(xmls[i]!));
      from = to;
    }
    return out;
  }

  /** null when the chunk cannot be judged as a whole: the caller then validates one by one */
  private validateChunk(bodies: string[], lineCounts: number[], batchXsd: LibxmlDocument): XmlIssue[][] | null {
    const starts: number[] = []; // batch line of each document's first line
    let line = 2;
    for (const n of lineCounts) {
      starts.push(line);
      line += n;
    }
    const end = line; // the closing tag's line
    let doc: LibxmlDocument;
    try {
      doc = libxml.parseXml(`<${BATCH.root}>\n${bodies.join('\n')}\n</${BATCH.root}>`, TRUSTED_PARSE_OPTIONS);
    } catch {
      return null; // some document is not well-formed: let it report its own errors
    }
    // Each document must be exactly one element here, as it is on its own.
    if (
      parseErrors(doc).length > 0 ||
      (doc.get('count(/*/*)') as unknown) !== bodies.length ||
      (doc.get('boolean(/*/text()[normalize-space()])') as unknown) !== false
    ) {
      return null;
    }
    const issues = this.validateParsed(doc, batchXsd);
    const out: XmlIssue[][] = bodies.map(() => []);
    for (const issue of issues) {
      if (issue.line === null || issue.line < 2 || issue.line >= end) return null;
      // a root that the schema does not declare: the wrapper words it differently
      if (issue.message.includes('demanded by the strict wildcard')) return null;
      let i = starts.length - 1;
      while (starts[i]! > issue.line) i--;
      out[i]!.push({ line: issue.line - starts[i]! + 1, message: issue.message });
    }
    return out;
  }

  /**
   * The batch schema: a no-namespace wrapper element whose children are validated strictly
   * against this schema's global elements, so one schema compilation serves a whole chunk.
   * Built from the file as written (imported by path), not from the inlined copy.
   */
  private batchSchema(): LibxmlDocument | null {
    if (this.batchXsd !== undefined) return this.batchXsd;
    this.batchXsd = null;
    if (this.targetNamespace === null) return null; // a no-namespace schema cannot be imported into the wrapper
    const text =
      `<xs:schema xmlns:xs="${XS_NS}">` +
      `<xs:import namespace="${escapeAttr(this.targetNamespace)}" schemaLocation="${escapeAttr(this.file)}"/>` +
      `<xs:element name="${BATCH.root}"><xs:complexType><xs:sequence>` +
      `<xs:any namespace="##other" processContents="strict" minOccurs="0" maxOccurs="unbounded"/>` +
      `</xs:sequence></xs:complexType></xs:element></xs:schema>`;
    try {
      // a base URL of its own (no such file is needed): libxml2 refuses to import its own URL
      const xsd = libxml.parseXml(text, { baseUrl: `${this.file}.batch-wrapper.xsd`, nonet: true });
      if (compileError(xsd) === null) this.batchXsd = xsd;
    } catch {
      /* stays null: validate one by one */
    }
    return this.batchXsd;
  }
}

// libxmljs2 compiles the schema on every validate() (~0.2 ms for our schemas, far more than
// validating a small message), so validateMany validates a chunk of documents as the children of
// one wrapper document, against one compilation. Per-document results are recovered from the
// line numbers; anything that cannot be attributed that way (a document that is not well-formed,
// an issue without a line) makes that chunk fall back to validate() one by one.
const BATCH = { root: 'tlbridgeValidationBatch', maxLines: 60_000, maxChars: 32 * 1024 * 1024 };
const XML_DECL_RE = /^\uFEFF?<\?xml\s[^?]*\?>/;

function countLines(s: string): number {
  let n = 1;
  for (let i = s.indexOf('\n'); i !== -1; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

// libxmljs2's validate() throws on a schema that does not compile without unregistering its
// libxml2 error callback (which points at a dead array); any parse sets and clears it again.
function resetErrorHandler(): void {
  try {
    libxml.parseXml('<reset/>');
  } catch {
    /* cannot fail */
  }
}

const schemaCache = new Map<string, LibxmlSchema>();

/**
 * Parse an XSD once (with its own path as base URL so that relative xs:include/xs:import
 * resolve), check that libxml2 can compile it, and cache it by absolute path.
 * Throws an Error naming the file if the XSD is missing, unreadable, not well-formed or not a
 * compilable schema (including a missing included/imported file).
 */
export function loadSchema(file: string): XsdSchema {
  const abs = path.resolve(file);
  const cached = schemaCache.get(abs);
  if (cached) return cached;

  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch (e) {
    throw new Error(`XSD schema ${abs} cannot be read: ${(e as Error).message}`);
  }
  let xsd: LibxmlDocument;
  try {
    xsd = libxml.parseXml(text, { baseUrl: abs, nonet: true });
  } catch (e) {
    throw new Error(`XSD schema ${abs} is not well-formed XML: ${toIssue(e as LibxmlError).message}`);
  }
  const errs = parseErrors(xsd);
  if (errs.length > 0) throw new Error(`XSD schema ${abs} is not well-formed XML: ${errs[0]!.message}`);

  // Referenced files first: libxml2's own message for a missing one is lost by libxmljs2.
  const refs = xsd.root()?.find('/xs:schema/xs:include/@schemaLocation | /xs:schema/xs:import/@schemaLocation | /xs:schema/xs:redefine/@schemaLocation', XS) ?? [];
  for (const ref of refs) {
    const loc = nodeText(ref);
    if (!loc || isUrl(loc)) continue; // URLs are left to libxml2 (and nonet)
    const target = path.resolve(path.dirname(abs), loc);
    if (!fs.existsSync(target)) throw new Error(`XSD schema ${abs} references ${loc}, which does not exist (${target})`);
  }

  // Compile it once now so that a broken schema fails here, not on the first message.
  const failure = compileError(xsd);
  if (failure !== null) {
    throw new Error(
      `XSD schema ${abs} cannot be compiled by libxml2 (${failure}); check it, and the files it includes or imports, with xmllint --noout ${abs}`,
    );
  }

  const tns = xsd.root()?.attr('targetNamespace')?.value() ?? null;
  let inlined: LibxmlDocument | null = null;
  try {
    inlined = inlineChameleonIncludes(xsd, abs);
  } catch {
    resetErrorHandler(); // an optimisation only: use the schema as written
  }
  const schema = new LibxmlSchema(abs, inlined ?? xsd, tns);
  schemaCache.set(abs, schema);
  return schema;
}

const XS_NS = 'http://www.w3.org/2001/XMLSchema';
const XS = { xs: XS_NS };

function isUrl(loc: string): boolean {
  return /^[a-z][a-z0-9+.-]+:/i.test(loc); // two letters at least: a Windows drive is a path
}

/** null when libxml2 compiles the schema, else its (terse) complaint */
function compileError(xsd: LibxmlDocument): string | null {
  try {
    libxml.parseXml('<probe/>').validate(xsd);
    return null;
  } catch (e) {
    resetErrorHandler();
    return (e as Error).message;
  }
}

function escapeAttr(v: string): string {
  return v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
}

/**
 * Speed-up, not semantics. libxmljs2 compiles the schema on every validate(), re-reading every
 * included and imported file each time (about 100 us per file). A chameleon include (a
 * no-namespace schema such as shared-types.xsd) can be inlined into the including schema's
 * document once, here: its components then resolve exactly as a chameleon include would, through
 * a default namespace = targetNamespace. Only done in the plain case (no redefine, no nested
 * include, the same *FormDefault/blockDefault/finalDefault, no prefix clashes) and only if the
 * result compiles; otherwise the schema is used as written. Imports cannot be inlined.
 */
function inlineChameleonIncludes(xsd: LibxmlDocument, abs: string): LibxmlDocument | null {
  const root = xsd.root();
  if (!root) return null;
  const tns = root.attr('targetNamespace')?.value();
  if (!tns || root.find('xs:include', XS).length === 0) return null;
  if (root.find('xs:redefine | xs:override | xs:import[not(@namespace)]', XS).length > 0) return null;
  if (root.attrs().some((a) => a.namespace() !== null)) return null;

  const nsDecls = new Map<string, string>(); // prefix ('' = default) -> URI
  for (const ns of root.namespaces(true)) nsDecls.set(ns.prefix() ?? '', ns.href());
  if ((nsDecls.get('') ?? tns) !== tns) return null;
  nsDecls.set('', tns);
  const importedNs = new Set(root.find('xs:import/@namespace', XS).map((a) => nodeText(a)));

  let head = ''; // root's children, an include replaced by the imports it brings
  let bodies = ''; // the included components, appended after the root's own
  for (const child of root.childNodes()) {
    if (child.type() !== 'element') continue;
    const el = child as Element;
    if (!isXs(el, 'include')) {
      head += el.toString(false);
      continue;
    }
    const loc = el.attr('schemaLocation')?.value();
    if (!loc || isUrl(loc)) return null;
    const file = path.resolve(path.dirname(abs), loc);
    let inc: Element | null;
    try {
      inc = libxml.parseXml(fs.readFileSync(file, 'utf8'), { baseUrl: file, nonet: true }).root();
    } catch {
      return null;
    }
    if (!inc || !isXs(inc, 'schema') || inc.attr('targetNamespace')) return null;
    for (const [a, dflt] of SCHEMA_DEFAULTS) if ((inc.attr(a)?.value() ?? dflt) !== (root.attr(a)?.value() ?? dflt)) return null;
    for (const ns of inc.namespaces(true)) {
      const prefix = ns.prefix() ?? '';
      if (prefix === '' || (nsDecls.has(prefix) && nsDecls.get(prefix) !== ns.href())) return null;
      nsDecls.set(prefix, ns.href());
    }
    for (const c of inc.childNodes()) {
      if (c.type() !== 'element') continue;
      const ce = c as Element;
      if (isXs(ce, 'include') || isXs(ce, 'redefine') || isXs(ce, 'override')) return null;
      if (isXs(ce, 'annotation')) continue;
      if (isXs(ce, 'import')) {
        const ins = ce.attr('namespace')?.value();
        const iloc = ce.attr('schemaLocation')?.value();
        if (!ins || !iloc) return null;
        if (importedNs.has(ins)) continue; // libxml2 would skip it too
        importedNs.add(ins);
        const target = isUrl(iloc) ? iloc : path.resolve(path.dirname(file), iloc);
        head += `<${qname(ce)} namespace="${escapeAttr(ins)}" schemaLocation="${escapeAttr(target)}"/>`;
        continue;
      }
      bodies += ce.toString(false);
    }
  }

  let text = `<${qname(root)}`;
  for (const a of root.attrs()) text += ` ${a.name()}="${escapeAttr(a.value())}"`;
  for (const [prefix, uri] of nsDecls) text += ` ${prefix === '' ? 'xmlns' : `xmlns:${prefix}`}="${escapeAttr(uri)}"`;
  text += `>${head}${bodies}</${qname(root)}>`;
  let merged: LibxmlDocument;
  try {
    merged = libxml.parseXml(text, { baseUrl: abs, nonet: true });
  } catch {
    return null;
  }
  return parseErrors(merged).length === 0 && compileError(merged) === null ? merged : null;
}

const SCHEMA_DEFAULTS: ReadonlyArray<[string, string]> = [
  ['elementFormDefault', 'unqualified'],
  ['attributeFormDefault', 'unqualified'],
  ['blockDefault', ''],
  ['finalDefault', ''],
];

function isXs(el: Element, localName: string): boolean {
  return el.name() === localName && el.namespace()?.href() === XS_NS;
}

function qname(el: Element): string {
  const prefix = el.namespace()?.prefix();
  return prefix ? `${prefix}:${el.name()}` : el.name();
}

const DOCTYPE_RE = /<!doctype/i;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parse XML received from outside (an acknowledgment). Refused before libxml2 sees it: more than
 * opts.maxBytes bytes, not UTF-8, or any DOCTYPE declaration (no DTDs, no entities, so no XXE or
 * entity expansion). libxml2 is never given noent/dtdload/dtdvalid, and gets nonet.
 * Never throws for bad input: a refused or not-well-formed document gives doc null and issues.
 * XPaths on the returned doc use the prefixes of opts.namespaces.
 */
export function parseUntrusted(
  xml: Buffer | string,
  opts: { maxBytes: number; namespaces: Record<string, string> },
): { doc: XmlDoc | null; issues: XmlIssue[] } {
  const size = typeof xml === 'string' ? Buffer.byteLength(xml, 'utf8') : xml.length;
  if (size > opts.maxBytes) {
    return { doc: null, issues: [{ line: null, message: `document refused: ${size} bytes, more than the limit of ${opts.maxBytes}` }] };
  }
  let text: string;
  if (typeof xml === 'string') {
    text = xml.charCodeAt(0) === 0xfeff ? xml.slice(1) : xml;
  } else {
    try {
      text = utf8.decode(xml); // drops a UTF-8 BOM
    } catch {
      return { doc: null, issues: [{ line: null, message: 'document refused: not valid UTF-8' }] };
    }
  }
  if (DOCTYPE_RE.test(text)) {
    return { doc: null, issues: [{ line: null, message: 'document refused: it contains a DOCTYPE declaration, which is not accepted' }] };
  }
  if (text.trim() === '') return { doc: null, issues: [{ line: null, message: 'document refused: it is empty' }] };

  let doc: LibxmlDocument;
  try {
    doc = libxml.parseXml(text, UNTRUSTED_PARSE_OPTIONS);
  } catch (e) {
    return { doc: null, issues: [toIssue(e as LibxmlError)] };
  }
  const issues = parseErrors(doc);
  if (issues.length > 0) return { doc: null, issues };
  return { doc: new LibxmlDoc(doc, { ...opts.namespaces }), issues: [] };
}

/** Validate a document obtained from parseUntrusted against a schema from loadSchema; [] = valid. */
export function validateDoc(schema: XsdSchema, doc: XmlDoc): XmlIssue[] {
  if (!(schema instanceof LibxmlSchema)) throw new TypeError('validateDoc: schema must come from loadSchema');
  if (!(doc instanceof LibxmlDoc)) throw new TypeError('validateDoc: doc must come from parseUntrusted');
  return schema.validateParsed(doc.doc);
}
