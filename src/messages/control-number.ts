// FileControlNumber = prefix (at most 8 characters) + 12-digit sequence: at most 20 characters,
// the envelope's limit (messages.md 1.1).
export function formatControlNumber(prefix: string, seq: number): string {
  if (!Number.isSafeInteger(seq) || seq < 1 || seq >= 1e12) throw new RangeError(`control number sequence out of range: ${seq}`);
  return `${prefix}${String(seq).padStart(12, '0')}`;
}
