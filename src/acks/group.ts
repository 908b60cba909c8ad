// Several acks recorded at once (group commit): every ack's archive folder staged and fsynced
// together, then ONE transaction records their manifests, acks rows and message moves
// (Archive.addMany), where one ack at a time costs a transaction and its fsyncs each. Nothing is
// done on the server here: the caller removes a group's files only after this has returned.
//
// Each ack is decided as applyAck() decides it (apply.ts, decide.ts), on the ledger as it is
// inside that transaction:
// - the decision is made before the transaction, since the manifests that document it are
//   written first; inside it every ack's inputs (its message row, that message's earlier acks, a
//   row with the same content) are read again, and if any of them changed meanwhile (a batch
//   cycle, an operator) the group is rolled back and redone one ack at a time;
// - so that no ack of a group decides on what another one of it changes, a group holds one ack
//   per content and per InputFileControlNumber: a second one waits for the next group, in order;
// - one bad ack spoils nothing: whatever fails the group (a local failure, a stale decision) rolls
//   all of it back, then each ack is recorded on its own, and only what fails alone fails.
import { nowIso } from '../ledger/db.js';
import { nullLogger } from '../log.js';
import {
  applyAck,
  knownRow,
  logOutcome,
  planAck,
  prepareAck,
  readFacts,
  recordAck,
  recorded,
  type AckContext,
  type AckFacts,
  type AckFileInput,
  type ApplyOutcome,
  type PreparedAck,
} from './apply.js';

export type GroupOutcome = ApplyOutcome | { failed: unknown };

/** Thrown inside the group's transaction when the ledger moved under a decision: rolls it all back. */
class StaleDecision extends Error {}

/**
 * Records `inputs` (an ack file each), as one group where it can. One outcome per input, in
 * order: what applyAck() gives, or `failed` with the local error (disk, ledger) of that ack.
 */
export async function applyAcks(ctx: AckContext, inputs: readonly AckFileInput[]): Promise<GroupOutcome[]> {
  const out: GroupOutcome[] = new Array(inputs.length);
  const alone = (i: number): void => {
    try {
      out[i] = applyAck(ctx, inputs[i]!);
    } catch (e) {
      out[i] = { failed: e };
    }
  };
  // a later ack of the same content or message waits for the next group (their order is kept)
  let pending = inputs.map((_, i) => i);
  while (pending.length) {
    const group: { i: number; p: PreparedAck }[] = [];
    const wait: number[] = [];
    const keys = new Set<string>();
    const fcns = new Set<string>();
    for (const i of pending) {
      let p: ReturnType<typeof prepareAck>;
      try {
        p = prepareAck(ctx, inputs[i]!);
      } catch (e) {
        out[i] = { failed: e };
        continue;
      }
      if (p.kind === 'already') {
        out[i] = p.outcome;
        continue;
      }
      const fcn = p.parsed.ok ? p.parsed.ack.inputFcn : null;
      if (keys.has(p.key) || (fcn !== null && fcns.has(fcn))) {
        wait.push(i);
        continue;
      }
      keys.add(p.key);
      if (fcn !== null) fcns.add(fcn);
      group.push({ i, p });
    }
    pending = wait;
    if (group.length === 1) alone(group[0]!.i);
    else if (group.length > 1) {
      let done: ApplyOutcome[] | null = null;
      try {
        done = await recordGroup(ctx, group.map((g) => g.p));
      } catch {
        done = null; // redone one by one below: each reports its own failure
      }
      if (done) {
        const log = ctx.logger ?? nullLogger;
        group.forEach((g, k) => {
          const o = done![k]!;
          out[g.i] = o;
          if (!o.already) logOutcome(log, ctx.partner, g.p.input.remoteName, o);
        });
      } else for (const g of group) alone(g.i);
    }
  }
  return out;
}

async function recordGroup(ctx: AckContext, group: PreparedAck[]): Promise<ApplyOutcome[]> {
  const at = nowIso();
  const facts = group.map((p) => readFacts(ctx, p));
  const plans = group.map((p, k) => planAck(ctx, p, facts[k]!, at));
  const same = (a: AckFacts, b: AckFacts): boolean => JSON.stringify(a) === JSON.stringify(b);
  const { dirs, result: ids } = await ctx.archive.addMany(
    'acks',
    group.map((p, k) => ({ id: p.archiveId, files: p.files, extra: plans[k]!.extra })),
    (dirs) =>
      group.map((p, k) => {
        if (knownRow(ctx, p.key) || !same(readFacts(ctx, p), facts[k]!)) throw new StaleDecision(`the ledger changed under the decision of ${p.input.remoteName}`);
        return recordAck(ctx, p, plans[k]!, dirs[k]!, at);
      }),
  );
  return group.map((_, k) => recorded(plans[k]!, ids[k]!, dirs[k]!));
}
