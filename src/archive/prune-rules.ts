// What retention may remove (product.md 9), as a pure decision over facts read from the ledger
// and the manifests. A folder goes when it is older than the cutoff and every message it names
// is final and last changed before the cutoff; a message's ledger rows go with the folders that
// name it, so a message goes only when EVERY folder naming it goes (its intake, each upload's
// batch, each ack, each operator action): otherwise a kept folder would name a message the
// ledger forgot. The two conditions feed each other, so the decision is the largest set that
// satisfies both (start from every candidate, drop what breaks a rule until nothing changes).

export const FINAL_STATES: ReadonlySet<string> = new Set(['ACCEPTED', 'REJECTED', 'CANCELLED']);

export interface FolderFacts {
  /** the folder, relative to archive/ */
  dir: string;
  kind: string;
  createdAt: string;
  /** the manifest is on disk with the hash the chain recorded (a changed one is never pruned:
   * audit verify has to be able to name it) */
  intact: boolean;
  /** the messages it names (an intake's messages, a batch's, an ack's, an operator action's) */
  messageIds: number[];
  /** an intake's rejected file: whether it still sits in error/ and whether it was dismissed */
  errorFile?: { inErrorDir: boolean; dismissed: boolean } | null;
  /** it names the newest row of a ledger table (see NEWEST_ROW) */
  newestRow?: string | null;
}

/** SQLite hands the highest id of a table out again once that row is deleted, and a reused id
 * would be a new message that an old dismissal or operator manifest names: so the newest row of
 * files, messages, batches and acks stays, with its folders, until a newer one exists. */
export const NEWEST_ROW = (table: string): string => `it holds the newest ${table} row (its id must never be handed out again); a later prune takes it`;

export interface MessageFacts {
  id: number;
  state: string;
  updatedAt: string;
  /** folders the ledger knows to name it, of any age (its intake, its acks, operator actions) */
  folders: string[];
  /** the newest row of messages (see NEWEST_ROW) */
  newest?: boolean;
}

export interface PruneDecision {
  /** the folders to remove, in the order given */
  folders: FolderFacts[];
  /** the messages whose ledger rows and outbox files go with them */
  messageIds: number[];
  /** why each candidate older than the cutoff stays */
  kept: Map<string, string>;
}

/** `messages`: the facts of every message a folder names that the ledger still has (one it no
 * longer has went with an earlier prune and holds nothing back). */
export function decidePrune(input: { cutoff: string; folders: FolderFacts[]; messages: ReadonlyMap<number, MessageFacts> }): PruneDecision {
  const { cutoff, messages } = input;
  const kept = new Map<string, string>();
  const ok = new Set<string>();
  const namers = new Map<number, Set<string>>();
  for (const f of input.folders) {
    for (const id of f.messageIds) {
      let s = namers.get(id);
      if (!s) namers.set(id, (s = new Set(messages.get(id)?.folders ?? [])));
      s.add(f.dir);
    }
    if (!(f.createdAt < cutoff)) kept.set(f.dir, 'younger than the cutoff');
    else if (!f.intact) kept.set(f.dir, 'its manifest is missing or changed (audit verify names it)');
    else if (f.errorFile?.inErrorDir && !f.errorFile.dismissed) kept.set(f.dir, 'its file is still in error/ and not dismissed');
    else if (f.newestRow) kept.set(f.dir, NEWEST_ROW(f.newestRow));
    else ok.add(f.dir);
  }
  const messageBlock = (id: number): string | null => {
    const m = messages.get(id);
    if (!m) return null;
    if (!FINAL_STATES.has(m.state)) return `message ${id} is ${m.state}`;
    if (!(m.updatedAt < cutoff)) return `message ${id} changed after the cutoff`;
    if (m.newest) return `message ${id}: ${NEWEST_ROW('messages')}`;
    for (const d of namers.get(id) ?? []) if (!ok.has(d)) return `message ${id} is also named by ${d}, which stays`;
    return null;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (const f of input.folders) {
      if (!ok.has(f.dir)) continue;
      for (const id of f.messageIds) {
        const why = messageBlock(id);
        if (why === null) continue;
        ok.delete(f.dir);
        kept.set(f.dir, why);
        changed = true;
        break;
      }
    }
  }
  const folders = input.folders.filter((f) => ok.has(f.dir));
  const ids = new Set<number>();
  for (const f of folders) for (const id of f.messageIds) if (messages.has(id)) ids.add(id);
  return { folders, messageIds: [...ids].sort((a, b) => a - b), kept };
}

export interface ConfigFolder {
  dir: string;
  createdAt: string;
  intact: boolean;
}

/** The config manifests (the rules in force, product.md 6) that may go: one goes once the next
 * one took over before the cutoff and no message the ledger keeps was staged under it.
 * `oldestKeptMessage`: the earliest created_at of the messages that stay (null: none). */
export function decideConfigPrune(configs: ConfigFolder[], cutoff: string, oldestKeptMessage: string | null): ConfigFolder[] {
  const sorted = [...configs].sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  const out: ConfigFolder[] = [];
  for (let i = 0; i + 1 < sorted.length; i++) {
    const c = sorted[i]!;
    const supersededAt = sorted[i + 1]!.createdAt;
    if (!c.intact || !(supersededAt < cutoff)) continue;
    if (oldestKeptMessage !== null && oldestKeptMessage < supersededAt) continue;
    out.push(c);
  }
  return out;
}
