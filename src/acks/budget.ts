// The limits of one ack poll (product.md 6: acks are untrusted, a server may hold any number of
// them): at most maxAcksPerPoll files read and maxAckBytesPerPoll bytes downloaded. The first
// file is always taken (maxAckBytes caps its size); once a limit is reached the rest of the
// poll waits for the next one, in order (oldest first): no smaller later file jumps the queue.
export interface PollLimits {
  maxAcksPerPoll: number;
  maxAckBytesPerPoll: number;
}

export class PollBudget {
  files = 0;
  bytes = 0;
  /** files that were over a limit this poll */
  deferred = 0;

  constructor(private readonly limits: PollLimits) {}

  /** Takes one file that downloads `bytes` (0: recorded without a download); false: it waits. */
  take(bytes: number): boolean {
    const { maxAcksPerPoll, maxAckBytesPerPoll } = this.limits;
    if (this.deferred > 0 || this.files >= maxAcksPerPoll || (this.files > 0 && this.bytes + bytes > maxAckBytesPerPoll)) {
      this.deferred++;
      return false;
    }
    this.files++;
    this.bytes += bytes;
    return true;
  }
}
