// One problem found in an input file. `line` and `field` are null for whole-file problems.
// The report line format is fixed by product.md 3: `line 12, field QTY: "12,5" is not a decimal number`.
export interface InputError {
  line: number | null;
  field: string | null;
  value: string | null;
  message: string;
  /** absent = invalid input; `duplicate` and `rule` come from the rules that need history */
  kind?: 'duplicate' | 'rule';
  /** for a duplicate: the message it duplicates */
  original?: { file: string; receivedAt: string; fileControlNumber: string };
}

export function inputError(line: number | null, field: string | null, value: string | null, message: string): InputError {
  return { line, field, value, message };
}

export function formatInputError(e: InputError): string {
  const where = [e.line != null ? `line ${e.line}` : null, e.field != null ? `field ${e.field}` : null]
    .filter(Boolean)
    .join(', ');
  const what = e.value != null ? `${JSON.stringify(e.value)} ${e.message}` : e.message;
  return where ? `${where}: ${what}` : `file: ${what}`;
}

/** Collects every problem of a file, up to a cap so that a binary or runaway file cannot
 * exhaust memory; the overflow is counted and reported as one more line. */
export class ErrorList {
  readonly items: InputError[] = [];
  dropped = 0;
  constructor(readonly cap = 1000) {}

  add(e: InputError): void {
    if (this.items.length < this.cap) this.items.push(e);
    else this.dropped++;
  }

  /** Adds `es` as if they had been added when the list counted `at` problems (at <= count):
   * a judgement that arrives late keeps its place in the report. Kept and dropped stay what
   * adding everything in that order would have made them. */
  insertAt(at: number, es: readonly InputError[]): void {
    if (!es.length) return;
    if (at >= this.items.length) {
      for (const e of es) this.add(e);
      return;
    }
    this.items.splice(at, 0, ...es);
    const over = this.items.length - this.cap;
    if (over > 0) {
      this.items.length = this.cap;
      this.dropped += over;
    }
  }

  get count(): number {
    return this.items.length + this.dropped;
  }

  /** The list to report: the kept errors, plus one whole-file line naming how many were left out. */
  report(): InputError[] {
    if (!this.dropped) return this.items;
    return [...this.items, inputError(null, null, null, `${this.dropped} more problems not listed (only the first ${this.cap} are)`)];
  }
}

export function isInputError<T extends object>(x: T | InputError): x is InputError {
  return typeof (x as InputError).message === 'string' && 'field' in x;
}
