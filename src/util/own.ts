// A lookup in a record keyed by an input value (a partner code from an HDR, a name from a
// file): only the record's own entries count, never what its prototype inherits
// (`constructor`, `__proto__`, `toString`).
export function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
