// The guarded parse of XML received from outside (acknowledgments from the partner, uploads to
// the sandbox), and read access to the parsed document by XPath.
import { parse, UNTRUSTED, type NamespaceMap, type XmlDocument, type XmlIssue, type XmlNode } from './binding.js';

export interface XmlDoc {
  /** text content of the first node the xpath selects (element text, attribute value), null when nothing matches */
  text(xpath: string): string | null;
  /** text content of every node the xpath selects, in document order */
  texts(xpath: string): string[];
  /** number of nodes the xpath selects */
  count(xpath: string): number;
  /** frees the parsed document (WebAssembly memory); the doc cannot be used afterwards. Idempotent. */
  dispose(): void;
}

export class ParsedDoc implements XmlDoc {
  #doc: XmlDocument | null;

  constructor(
    doc: XmlDocument,
    private readonly namespaces: NamespaceMap,
  ) {
    this.#doc = doc;
  }

  /** the libxml2-wasm document, for validateDoc */
  get document(): XmlDocument {
    if (!this.#doc) throw new Error('the XML document was already disposed');
    return this.#doc;
  }

  text(xpath: string): string | null {
    const first = this.nodes(xpath)[0];
    return first === undefined ? null : first.content;
  }

  texts(xpath: string): string[] {
    return this.nodes(xpath).map((n) => n.content);
  }

  count(xpath: string): number {
    return this.nodes(xpath).length;
  }

  dispose(): void {
    this.#doc?.dispose();
    this.#doc = null;
  }

  private nodes(xpath: string): XmlNode[] {
    return this.document.find(xpath, this.namespaces);
  }
}

const DOCTYPE_RE = /<!doctype/i;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function refused(why: string): { doc: null; issues: XmlIssue[] } {
  return { doc: null, issues: [{ line: null, message: `document refused: ${why}` }] };
}

/**
 * Parse XML received from outside (an acknowledgment). Refused before libxml2 sees it: more than
 * opts.maxBytes bytes, not UTF-8, or any DOCTYPE declaration (no DTDs, no entities, so no XXE or
 * entity expansion). libxml2 is never given NOENT/DTDLOAD/DTDVALID, and gets NONET and NO_XXE.
 * Never throws for bad input: a refused or not-well-formed document gives doc null and issues.
 * XPaths on the returned doc use the prefixes of opts.namespaces. The caller dispose()s the doc.
 */
export function parseUntrusted(
  xml: Buffer | string,
  opts: { maxBytes: number; namespaces: Record<string, string> },
): { doc: XmlDoc | null; issues: XmlIssue[] } {
  const size = typeof xml === 'string' ? Buffer.byteLength(xml, 'utf8') : xml.length;
  if (size > opts.maxBytes) return refused(`${size} bytes, more than the limit of ${opts.maxBytes}`);
  let text: string;
  if (typeof xml === 'string') {
    text = xml.charCodeAt(0) === 0xfeff ? xml.slice(1) : xml;
  } else {
    try {
      text = utf8.decode(xml); // drops a UTF-8 BOM
    } catch {
      return refused('not valid UTF-8');
    }
  }
  if (DOCTYPE_RE.test(text)) return refused('it contains a DOCTYPE declaration, which is not accepted');
  if (text.trim() === '') return refused('it is empty');

  const doc = parse(text, UNTRUSTED);
  if (Array.isArray(doc)) return { doc: null, issues: doc };
  return { doc: new ParsedDoc(doc, { ...opts.namespaces }), issues: [] };
}
