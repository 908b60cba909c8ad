// The cheap rendering path: the same bytes xmlbuilder2 writes with { prettyPrint: true,
// wellFormed: true } for our messages, written straight into a string instead of through
// xmlbuilder2's DOM and serializer (about 80% of rendering time, measured with --cpu-prof).
//
// It only takes the easy case: no character xmlbuilder2's wellFormed check could refuse, no
// attribute value to escape (text is escaped as xmlbuilder2 does), every element holds either text
// or elements, and every namespace is the one its name implies. Anything else throws
// NotPlain and render.ts renders the message with xmlbuilder2, so escaping, the refusal of
// control characters and their error texts stay xmlbuilder2's own. test/render.test.ts
// compares both paths byte for byte.
import type { BodyBuilder } from '../messages/types.js';

/** Characters xmlbuilder2 writes unchanged or escapes as below: no control characters, no
 * surrogates (astral characters are rare in ERP data: they take the xmlbuilder2 path), no
 * non-characters. In attribute values, no markup character either. */
const PLAIN_TEXT = /^[^\u0000-\u001f\u007f\ud800-\udfff\ufffe\uffff]*$/;
const PLAIN_ATTRIBUTE = /^[^&<>"\u0000-\u001f\u007f\ud800-\udfff\ufffe\uffff]*$/;
/** xmlbuilder2's own (lib/constants.js): an '&' that does not already start an entity */
const NON_ENTITY_AMPERSAND = /&(?![A-Za-z]+;|#\d+;)/g;

export function isPlain(s: string): boolean {
  return PLAIN_ATTRIBUTE.test(s);
}

/** Text as xmlbuilder2's serializer escapes it (BaseWriter._serializeText); undefined if it would check it. */
export function plainText(s: string): string | undefined {
  if (!PLAIN_TEXT.test(s)) return undefined;
  if (!/[&<>]/.test(s)) return s;
  return s.replace(NON_ENTITY_AMPERSAND, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The message needs xmlbuilder2's own path. */
export class NotPlain extends Error {}
/** thrown as the one instance: a fresh Error's stack trace would cost more than the fallback saves */
export const NOT_PLAIN = new NotPlain('needs xmlbuilder2');

const INDENT: string[] = [''];
function indent(depth: number): string {
  while (INDENT.length <= depth) INDENT.push(INDENT[INDENT.length - 1] + '  ');
  return INDENT[depth]!;
}

const enum State {
  /** `<name` written, attributes may follow */
  Open,
  /** `>text` written */
  Text,
  /** `>` and at least one child element written */
  Children,
  Closed,
}

/** One element being written; the subset of xmlbuilder2's XMLBuilder that message modules use. */
class PlainElement implements BodyBuilder {
  private state = State.Open;
  /** the child written last, still open: it is closed when its next sibling begins */
  private openChild: PlainElement | undefined;
  readonly node: { readonly namespaceURI: string };

  constructor(
    private readonly out: string[],
    private readonly parent: PlainElement | undefined,
    private readonly name: string,
    namespaceURI: string,
    private readonly depth: number,
    /** its start is already in `out` (resumeDocument): the state it is in, as its parent's open child */
    resumed?: State,
  ) {
    this.node = { namespaceURI };
    if (resumed === undefined) out.push(depth === 0 ? `<${name}` : `\n${indent(depth)}<${name}`);
    else {
      this.state = resumed;
      if (parent) parent.openChild = this;
    }
  }

  ele(namespace: string | null, name: string): PlainElement {
    // an unprefixed child stays in the default namespace only if it is ours; anything else
    // would make xmlbuilder2 declare a namespace
    if (namespace !== this.node.namespaceURI || name.includes(':')) throw NOT_PLAIN;
    if (this.state === State.Text || this.state === State.Closed) throw NOT_PLAIN;
    this.beginChild();
    const c = new PlainElement(this.out, this, name, namespace, this.depth + 1);
    this.openChild = c;
    return c;
  }

  att(name: string, value: string): PlainElement {
    if (this.state !== State.Open || name.includes(':') || !isPlain(value)) throw NOT_PLAIN;
    this.out.push(` ${name}="${value}"`);
    return this;
  }

  txt(content: string): PlainElement {
    // '' would leave no text node in xmlbuilder2's DOM: an empty element, not worth a branch here
    const text = this.state === State.Open && content !== '' ? plainText(content) : undefined;
    if (text === undefined) throw NOT_PLAIN;
    this.out.push('>', text);
    this.state = State.Text;
    return this;
  }

  up(): PlainElement {
    this.close();
    if (!this.parent) throw NOT_PLAIN;
    return this.parent;
  }

  private beginChild(): void {
    if (this.state === State.Open) this.out.push('>');
    this.state = State.Children;
    this.openChild?.close();
    this.openChild = undefined;
  }

  close(): void {
    if (this.state === State.Closed) return;
    this.openChild?.close();
    this.openChild = undefined;
    if (this.state === State.Open) this.out.push('/>');
    else if (this.state === State.Text) this.out.push(`</${this.name}>`);
    else if (this.state === State.Children) this.out.push(`\n${indent(this.depth)}</${this.name}>`);
    this.state = State.Closed;
  }

  /** `<name>text</name>` in this element's namespace: what ele(ns, name).txt(text).up() writes, without the child's object */
  leaf(name: string, content: string): void {
    if (name.includes(':')) throw NOT_PLAIN;
    this.textChild(name, content);
  }

  /** a child in another namespace under a prefix the root declares (the envelope's cmn: elements) */
  prefixed(prefixedName: string, value: string): void {
    this.textChild(prefixedName, value);
  }

  private textChild(name: string, value: string): void {
    const text = value !== '' ? plainText(value) : undefined;
    if (this.state === State.Text || this.state === State.Closed || text === undefined) throw NOT_PLAIN;
    this.beginChild();
    this.out.push(`\n${indent(this.depth + 1)}<${name}>`, text, `</${name}>`);
  }
}

export interface PlainDocument {
  root: PlainElement;
  /** closes every element and returns the document, as xmlbuilder2's end() would */
  end(): string;
  /** what is written so far, nothing closed */
  written(): string;
}

/**
 * A document whose root element is `rootName` in the default namespace `namespace`, declaring
 * `prefix` for `prefixNamespace`. Throws NotPlain when a URI would need escaping.
 */
export function plainDocument(namespace: string, rootName: string, prefix: string, prefixNamespace: string): PlainDocument {
  if (!isPlain(namespace) || !isPlain(prefixNamespace) || namespace === prefixNamespace || namespace === '') throw NOT_PLAIN;
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>\n'];
  const root = new PlainElement(out, undefined, rootName, namespace, 0);
  out.push(` xmlns="${namespace}" xmlns:${prefix}="${prefixNamespace}"`);
  return {
    root,
    end() {
      root.close();
      return out.join('');
    },
    written: () => out.join(''),
  };
}

/**
 * Goes on with a document whose start is `parts`: everything up to and including the open tag
 * (`<bodyName`, nothing after) of `bodyName`, the root's last child so far. The caller writes
 * the body element, then end() closes it and the root. (render.ts writes a file's envelope once
 * and its messages from there.)
 */
export function resumeDocument(parts: string[], namespace: string, rootName: string, bodyName: string): { body: PlainElement; end(): string } {
  const out = parts;
  const root = new PlainElement(out, undefined, rootName, namespace, 0, State.Children);
  const body = new PlainElement(out, root, bodyName, namespace, 1, State.Open);
  return {
    body,
    end() {
      root.close();
      return out.join('');
    },
  };
}

export type { PlainElement };
