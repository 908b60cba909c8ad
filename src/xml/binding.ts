// The one place that imports the XML binding, libxml2-wasm (libxml2 compiled to WebAssembly;
// libraries.md): parsing with fixed options and libxml2's diagnostics turned into XmlIssues.
// schema.ts and untrusted.ts build on it; nothing of libxml2-wasm leaves src/xml/.
//
// WebAssembly memory is not garbage-collected: every XmlDocument parsed here must be dispose()d
// by whoever holds it (a finalizer would free it eventually, but only after a GC that the
// JavaScript heap, which never sees the wasm memory, has no reason to run). libxml2-wasm also
// keeps a WeakRef to each document's wrapper, and a WeakRef holds its target until the current
// job ends: a caller parsing many documents must yield to the event loop now and then (translate
// does, between chunks) or those wrappers pile up, about 80 bytes each.
import { ParseOption, XmlDocument, XmlLibError, XmlValidateError, XsdValidator, type ErrorDetail, type NamespaceMap, type XmlNode } from 'libxml2-wasm';
import { xmlRegisterFsInputProviders } from 'libxml2-wasm/lib/nodejs.mjs';

export { XmlDocument, XsdValidator, type NamespaceMap, type XmlNode };

export interface XmlIssue {
  line: number | null;
  /** libxml2's text, trimmed, on one line */
  message: string;
}

// libxml2 inside WebAssembly reads no file by itself: the file input providers let xs:include
// and xs:import resolve from the schema's own folder (its URL is its absolute path). Nothing
// else is registered, so no document can reach the network; libxml2 2.15 has no HTTP client.
xmlRegisterFsInputProviders();

const XML_ERR_ERROR = 2; // xmlerror.h levels: 1 warning, 2 error, 3 fatal

/**
 * Our own documents and the XSDs: no entity substitution (no NOENT), no external DTD or entity
 * (NO_XXE), no network. BIG_LINES: a line past 65535 is reported as itself, not as 65535.
 */
export const TRUSTED = ParseOption.XML_PARSE_NONET | ParseOption.XML_PARSE_NO_XXE | ParseOption.XML_PARSE_BIG_LINES;
/**
 * Untrusted documents arrive already decoded to a JS string (handed to libxml2 as UTF-8);
 * IGNORE_ENC stops libxml2 from re-decoding them by their declared encoding, so it parses
 * exactly the text that the DOCTYPE check saw.
 */
export const UNTRUSTED = TRUSTED | ParseOption.XML_PARSE_IGNORE_ENC;

export function toIssue(d: { message?: string; line?: number | null }): XmlIssue {
  const message = String(d.message ?? 'unknown libxml2 error').replace(/\s+/g, ' ').trim();
  const line = typeof d.line === 'number' && d.line > 0 ? d.line : null;
  return { line, message };
}

/** The issues a libxml2-wasm exception carries (errors and fatal errors; warnings dropped). */
export function issuesOf(e: unknown): XmlIssue[] {
  if (e instanceof XmlLibError) {
    const details: ErrorDetail[] = e.details.filter((d) => d.level >= XML_ERR_ERROR);
    if (details.length > 0) return details.map(toIssue);
  }
  return [toIssue({ message: e instanceof Error ? e.message : String(e) })];
}

/** A parsed document (dispose() it), or the parse errors when it is not well-formed. */
export function parse(source: string | Uint8Array, option: ParseOption, url?: string): XmlDocument | XmlIssue[] {
  try {
    return typeof source === 'string' ? XmlDocument.fromString(source, { option, url }) : XmlDocument.fromBuffer(source, { option, url });
  } catch (e) {
    return issuesOf(e);
  }
}

/** Schema-validation issues of a parsed document; [] = valid. Throws only when libxml2 cannot validate at all. */
export function validateWith(validator: XsdValidator, doc: XmlDocument): XmlIssue[] {
  try {
    validator.validate(doc);
    return [];
  } catch (e) {
    if (!(e instanceof XmlValidateError)) throw e; // a disposed document, an internal error
    if (e.details.length === 0) return [{ line: null, message: 'document is not valid against the schema' }];
    return e.details.map(toIssue);
  }
}
