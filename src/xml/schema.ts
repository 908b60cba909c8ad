// XSD schemas: loaded and compiled once per file (libxml2-wasm's XsdValidator), kept for the
// life of the process, and used for every document validated against that file.
import fs from 'node:fs';
import path from 'node:path';
import { issuesOf, parse, TRUSTED, validateWith, XsdValidator, type XmlDocument, type XmlIssue } from './binding.js';
import { ParsedDoc, type XmlDoc } from './untrusted.js';

export type { XmlIssue };

export interface XsdSchema {
  /** absolute path of the XSD */
  readonly file: string;
  /** validate a serialized document (a string, or its UTF-8); [] = valid. A document that is not well-formed gives its parse errors. */
  validate(xml: string | Uint8Array): XmlIssue[];
}

class CompiledSchema implements XsdSchema {
  constructor(
    readonly file: string,
    readonly validator: XsdValidator,
    // the parsed XSD stays alive as long as its compiled schema, which was built from it
    readonly xsd: XmlDocument,
  ) {}

  validate(xml: string | Uint8Array): XmlIssue[] {
    const doc = parse(xml, TRUSTED);
    if (Array.isArray(doc)) return doc;
    try {
      return validateWith(this.validator, doc);
    } finally {
      doc.dispose();
    }
  }
}

const XS = { xs: 'http://www.w3.org/2001/XMLSchema' };
const REFERENCES = '/xs:schema/xs:include/@schemaLocation | /xs:schema/xs:import/@schemaLocation | /xs:schema/xs:redefine/@schemaLocation';

function isUrl(loc: string): boolean {
  return /^[a-z][a-z0-9+.-]+:/i.test(loc); // two letters at least: a Windows drive is a path
}

const schemaCache = new Map<string, CompiledSchema>();

/**
 * Parse and compile an XSD once (its own path is its URL, so that relative xs:include/xs:import
 * resolve from its folder), and cache it by absolute path.
 * Throws an Error naming the file if the XSD is missing, unreadable, not well-formed or not a
 * compilable schema (including a missing included/imported file).
 */
export function loadSchema(file: string): XsdSchema {
  const abs = path.resolve(file);
  const cached = schemaCache.get(abs);
  if (cached) return cached;

  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(abs);
  } catch (e) {
    throw new Error(`XSD schema ${abs} cannot be read: ${(e as Error).message}`);
  }
  const xsd = parse(bytes, TRUSTED, abs);
  if (Array.isArray(xsd)) throw new Error(`XSD schema ${abs} is not well-formed XML: ${xsd[0]?.message ?? 'no document'}`);
  try {
    // Referenced files first, so that the message names the missing one plainly.
    for (const ref of xsd.find(REFERENCES, XS)) {
      const loc = ref.content;
      if (!loc || isUrl(loc)) continue; // a URL: no provider can fetch it, libxml2's compile error says so
      const target = path.resolve(path.dirname(abs), loc);
      if (!fs.existsSync(target)) throw new Error(`XSD schema ${abs} references ${loc}, which does not exist (${target})`);
    }
    let validator: XsdValidator;
    try {
      validator = XsdValidator.fromDoc(xsd);
    } catch (e) {
      const why = issuesOf(e).map((i) => i.message).join('; ');
      throw new Error(`XSD schema ${abs} cannot be compiled by libxml2 (${why}); check it, and the files it includes or imports, with xmllint --noout ${abs}`);
    }
    const schema = new CompiledSchema(abs, validator, xsd);
    schemaCache.set(abs, schema);
    return schema;
  } catch (e) {
    xsd.dispose();
    throw e;
  }
}

/** Validate a document obtained from parseUntrusted against a schema from loadSchema; [] = valid. */
export function validateDoc(schema: XsdSchema, doc: XmlDoc): XmlIssue[] {
  if (!(schema instanceof CompiledSchema)) throw new TypeError('validateDoc: schema must come from loadSchema');
  if (!(doc instanceof ParsedDoc)) throw new TypeError('validateDoc: doc must come from parseUntrusted');
  return validateWith(schema.validator, doc.document);
}

/**
 * Compiles every XSD given (cached as loadSchema does), so that one that does not compile is a
 * configuration problem at check-config and at start, not a failure at the first conversion.
 * Returns one problem per file that does not compile, prefixed with the key naming it.
 */
export function compileSchemas(files: ReadonlyArray<{ key: string; file: string }>): string[] {
  const problems: string[] = [];
  for (const { key, file } of files) {
    try {
      loadSchema(file);
    } catch (e) {
      problems.push(`${key}: ${(e as Error).message}`);
    }
  }
  return problems;
}
