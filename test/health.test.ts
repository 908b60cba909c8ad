// The pure decisions of the health check (src/monitor/health.ts decideHealth) and the
// status --check lines, rule by rule, without a ledger or a server.
import { expect } from 'chai';
import { decideHealth, MISSED_FIRE_TIMES, type HealthFacts, type RunFacts } from '../src/monitor/health.js';
import { fireTimesAfter } from '../src/monitor/fire-times.js';
import { checkLines } from '../src/cli/status-check.js';

const NOW = new Date('2026-12-02T12:00:00.000Z');

function facts(over: Partial<HealthFacts> = {}): HealthFacts {
  return { errorFiles: [], acks: [], rejected: [], overdue: [], reversals: [], paused: [], runs: [], disk: { path: '/var/lib/tlbridge', freeBytes: 50, totalBytes: 100 }, unsafeInputs: [], ...over };
}

function run(over: Partial<RunFacts> = {}): RunFacts {
  return { kind: 'batch', partner: 'ACME', last: { outcome: 'ok', startedAt: '2026-12-02T11:00:00.000Z', error: null }, lastOkAt: '2026-12-02T11:00:05.000Z', since: '2026-12-02T11:00:05.000Z', deadline: '2026-12-02T14:00:00.000Z', ...over };
}

const kinds = (f: HealthFacts, now = NOW) => decideHealth(f, now).problems.map((p) => `${p.kind} ${p.partner ?? '-'} ${p.subject ?? '-'}`);

describe('health: decideHealth', () => {
  it('nothing wrong: healthy, no problems', () => {
    expect(decideHealth(facts({ runs: [run()], overdue: [{ partner: 'ACME', count: 0 }] }), NOW)).to.deep.equal({ healthy: true, problems: [] });
  });

  it('one problem per instance: error files by name, acks by id, REJECTED messages by id', () => {
    const f = facts({
      errorFiles: ['a.txt', 'b.txt'],
      acks: [
        { id: 7, partner: 'ACME', name: 'X.xml', effect: 'unmatched', problem: null, messageState: null },
        { id: 8, partner: 'ACME', name: 'Y.xml', effect: 'invalid', problem: 'not well-formed', messageState: null },
        { id: 9, partner: 'ACME', name: 'Z.xml', effect: 'alert', problem: null, messageState: 'CANCELLED' },
      ],
      rejected: [{ id: 3, fcn: 'T1', partner: 'ACME' }],
    });
    expect(kinds(f)).to.deep.equal([
      'error-file - a.txt',
      'error-file - b.txt',
      'unmatched-ack ACME 7',
      'invalid-ack ACME 8',
      'ack-alert ACME 9',
      'rejected ACME 3',
    ]);
    const h = decideHealth(f, NOW);
    expect(h.healthy).to.equal(false);
    expect(h.problems[3]!.message).to.include('not well-formed');
    expect(h.problems[4]!.message).to.include('CANCELLED message');
  });

  it('overdue messages per partner (none: no problem), blocked reversals by message', () => {
    const f = facts({
      overdue: [
        { partner: 'ACME', count: 2 },
        { partner: 'BETA', count: 0 },
      ],
      reversals: [{ id: 5, fcn: 'T5', partner: 'ACME', messageType: 'MATERIALS_PRODUCED_REVERSAL', originalRef: 'R1', originalState: 'CANCELLED' }],
    });
    expect(kinds(f)).to.deep.equal(['overdue ACME -', 'reversal-blocked ACME 5']);
    expect(decideHealth(f, NOW).problems[0]!.message).to.include('2 messages');
  });

  it('each drop-folder entry intake never opens is one unsafe-input problem, by its escaped name', () => {
    const f = facts({
      unsafeInputs: [
        { folder: '/in', shown: 'pipe', reason: 'a FIFO (named pipe), not a regular file' },
        { folder: '/in', shown: 'invoice\\u{202E}txt.exe', reason: 'its name contains an invisible format character (bidi or similar) (U+202E)' },
      ],
    });
    expect(kinds(f)).to.deep.equal(['unsafe-input - pipe', 'unsafe-input - invoice\\u{202E}txt.exe']);
    const h = decideHealth(f, NOW);
    expect(h.healthy).to.equal(false);
    expect(h.problems[0]!.message).to.include('/in').and.include('FIFO');
    expect(checkLines(h)[2]).to.match(/^unsafe-input: \/in: invoice\\u\{202E\}txt\.exe is never opened/);
  });

  it('a failed last cycle or poll is a problem; an ok one is not', () => {
    const failed = run({ kind: 'acks', last: { outcome: 'failed', startedAt: '2026-12-02T11:00:00.000Z', error: 'ECONNREFUSED' } });
    expect(kinds(facts({ runs: [run(), failed] }))).to.deep.equal(['acks-failed ACME ACME']);
    expect(decideHealth(facts({ runs: [failed] }), NOW).problems[0]!.message).to.include('ECONNREFUSED');
  });

  it(`no completed cycle for ${MISSED_FIRE_TIMES} fire times: a problem from the deadline on, not before; never measured: none`, () => {
    const r = run({ deadline: '2026-12-02T12:00:00.000Z' });
    expect(kinds(facts({ runs: [r] }), new Date('2026-12-02T11:59:59.999Z'))).to.deep.equal([]);
    expect(kinds(facts({ runs: [r] }), NOW)).to.deep.equal(['batch-missed ACME ACME']);
    expect(kinds(facts({ runs: [run({ since: null, deadline: null, lastOkAt: null, last: null })] }))).to.deep.equal([]);
  });

  it('a paused partner is one problem, and its missing cycles are not reported on top', () => {
    const f = facts({ paused: [{ partner: 'ACME', pausedAt: '2026-12-02T08:00:00.000Z', pausedBy: 'alice', reason: 'maintenance' }], runs: [run({ deadline: '2026-12-02T09:00:00.000Z' })] });
    expect(kinds(f)).to.deep.equal(['paused ACME ACME']);
    expect(decideHealth(f, NOW).problems[0]!.message).to.include('alice').and.include('maintenance');
  });

  it('free space under dataDir below 5% is a problem; 5% is not; unknown is not', () => {
    expect(kinds(facts({ disk: { path: '/d', freeBytes: 49, totalBytes: 1000 } }))).to.deep.equal(['disk-space - /d']);
    expect(kinds(facts({ disk: { path: '/d', freeBytes: 50, totalBytes: 1000 } }))).to.deep.equal([]);
    expect(kinds(facts({ disk: null }))).to.deep.equal([]);
  });
});

describe('health: the status --check lines', () => {
  it('OK, or the count and one line per problem, at most 50 then "... and N more"', () => {
    expect(checkLines({ healthy: true, problems: [] })).to.deep.equal(['TLBRIDGE OK']);
    const problems = Array.from({ length: 53 }, (_, i) => ({ kind: 'error-file', partner: null, subject: `f${i}`, message: `error file f${i}` }));
    const lines = checkLines({ healthy: false, problems });
    expect(lines[0]).to.equal('TLBRIDGE PROBLEM: 53 problem(s)');
    expect(lines).to.have.length(1 + 50 + 1);
    expect(lines[1]).to.equal('error-file: error file f0');
    expect(lines[50]).to.equal('error-file: error file f49');
    expect(lines[51]).to.equal('... and 3 more');
  });
});

describe('health: fireTimesAfter', () => {
  it("counts the schedule's fire times after a time, in its timezone", () => {
    expect(fireTimesAfter('*/15 * * * *', 'UTC', new Date('2026-01-01T00:07:00Z'), 3).map((d) => d.toISOString())).to.deep.equal([
      '2026-01-01T00:15:00.000Z',
      '2026-01-01T00:30:00.000Z',
      '2026-01-01T00:45:00.000Z',
    ]);
    expect(fireTimesAfter('0 2 * * *', 'Europe/Berlin', new Date('2026-01-01T00:07:00Z'), 2).map((d) => d.toISOString())).to.deep.equal([
      '2026-01-01T01:00:00.000Z',
      '2026-01-02T01:00:00.000Z',
    ]);
    expect(fireTimesAfter('not a cron', 'UTC', NOW, 3)).to.deep.equal([]);
  });
});
