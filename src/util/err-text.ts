// The text of whatever was thrown, for log fields and ledger columns.
export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
