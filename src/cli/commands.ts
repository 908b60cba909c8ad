// Every command's help text and what runs it, as data (product.md 4). main.ts builds the
// command tree from this list; the README's command reference is rendered from the same
// tree (help-doc.ts), so the two cannot drift. A command's module is imported when it runs:
// `convert` need not pay for the daemon's SSH, SQLite and watcher code, and `--help` reads
// neither a module nor the config.
import type { Config } from '../config/load.js';
import type { Io } from './io.js';

export interface ArgSpec {
  /** commander's notation: <NAME> required, <NAME...> one or more */
  name: string;
  description: string;
}

export interface OptionSpec {
  /** commander's notation: '--partner <code>', '--json' */
  flags: string;
  description: string;
}

export type OptionValues = Record<string, string | boolean | undefined>;

export interface CommandCall {
  /** positional arguments in order (a variadic one as string[]) */
  args: Array<string | string[] | undefined>;
  /** options by camelCase name (--reject-rate: rejectRate) */
  opts: OptionValues;
  io: Io;
  /** the configuration named by --config (else $TLBRIDGE_CONFIG, else config/tlbridge.yaml) */
  config(): Promise<Config>;
}

export interface CommandSpec {
  /** 'status', or 'audit verify' for a sub-command of a group */
  name: string;
  /** one line: the command list and the first line of its help */
  summary: string;
  /** more about it, under the summary */
  details?: string;
  args?: ArgSpec[];
  /** --config is added to every command */
  options?: OptionSpec[];
  example: string;
  exit: string;
  run(call: CommandCall): Promise<number> | number;
}

/** Commands that only hold sub-commands. */
export const GROUPS: ReadonlyArray<{ name: string; summary: string; example: string }> = [
  { name: 'audit', summary: 'the archive and its manifest chain', example: 'tlbridge audit verify' },
];

export const CONFIG_OPTION: OptionSpec = {
  flags: '--config <path>',
  description: 'the configuration file (default: $TLBRIDGE_CONFIG, else config/tlbridge.yaml)',
};

const str = (v: string | boolean | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
const partnerOption = (what: string): OptionSpec => ({ flags: '--partner <code>', description: `only this partner (default: ${what})` });

const REASON_OPTION: OptionSpec = { flags: '--reason <text>', description: 'why (required)' };
const REASON_RECORDED = 'Your user name (and the login user behind it), the time and the reason are recorded in the ledger and the archive.';
const MESSAGE_ARG: ArgSpec = { name: '<MESSAGE_ID>', description: 'the id shown by `tlbridge messages` (or its FileControlNumber)' };
const PARTNER_ARG: ArgSpec = { name: '<PARTNER>', description: 'a partner code of the configuration' };

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'run',
    summary: 'the daemon, in the foreground',
    details:
      'Watches the drop folders, converts and stages what arrives, sends batches on each partner\'s schedule and polls for acks. ' +
      'Log lines go to stdout: readable text on a terminal, JSON lines otherwise (log.format: auto | json | text). ' +
      'Stops cleanly on SIGTERM or SIGINT.',
    example: 'tlbridge run --config /etc/tlbridge/tlbridge.yaml',
    exit: '0 after SIGTERM/SIGINT and a clean stop, 2 invalid config',
    run: async (c) => (await import('./run.js')).run(await c.config()),
  },
  {
    name: 'check-config',
    summary: 'validate the configuration, listing every problem by key path',
    example: 'tlbridge check-config --config /etc/tlbridge/tlbridge.yaml',
    exit: '0 valid, 2 invalid',
    run: async (c) => (await import('./check-config.js')).checkConfig(str(c.opts.config), c.io),
  },
  {
    name: 'convert',
    summary: 'flat file to validated XML files, offline',
    details:
      'Writes one <FileControlNumber>.xml per message, each validated against its XSD; FileControlNumbers are the prefix ' +
      'plus a per-run sequence. Never overwrites a file, sends nothing, writes no ledger. A file with any problem writes ' +
      'nothing (the file is the unit); its problems go to stderr by line and field. On a terminal, progress shows on stderr.',
    args: [{ name: '<FILE...>', description: 'the flat files to convert' }],
    options: [
      { flags: '--layout <name>', description: "the input layout (default: the first inbound entry's)" },
      { flags: '--out <dir>', description: 'where the XML files go (default: the current folder)' },
    ],
    example: 'tlbridge convert export.txt --layout erp-fixed --out /tmp/out',
    exit: '0 ok, 1 input errors, 2 usage',
    run: async (c) => {
      const opts = { files: c.args[0] as string[], layout: str(c.opts.layout), out: str(c.opts.out) ?? '.' };
      // the validation worker boots on the other core while this thread loads the rest
      (await import('../xml/validate-pool.js')).warmValidationWorker();
      return (await import('./convert.js')).convert(await c.config(), opts, c.io);
    },
  },
  {
    name: 'status',
    summary: 'counts by state, per partner last and next batch, overdue acks, error files',
    details:
      'With --check, for monitoring (the Nagios/Icinga plugin habit): the first line is TLBRIDGE OK or TLBRIDGE PROBLEM: N problem(s), ' +
      'then one line per problem (error files, acks and REJECTED messages not dismissed, overdue messages, blocked reversals, paused ' +
      'partners, failed or missing batch cycles and ack polls, low disk space under dataDir).',
    options: [
      { flags: '--json', description: 'one JSON object (stable fields)' },
      { flags: '--check', description: 'health check: exit 0 healthy, 1 problems (with --json: {healthy, problems})' },
    ],
    example: 'tlbridge status --check',
    exit: '0; with --check 0 healthy, 1 problems',
    run: async (c) => {
      const json = c.opts.json === true;
      if (c.opts.check === true) return (await import('./status-check.js')).statusCheck(await c.config(), { json }, c.io);
      return (await import('./status.js')).status(await c.config(), { json }, c.io);
    },
  },
  {
    name: 'messages',
    summary: 'one row per message, with its ack',
    details:
      'Filters combine (all must match). --since and --until are on the time the source file was received: an ISO date ' +
      '(the whole day) or date-time; without an offset they are in the configuration\'s timezone. Times shown are UTC.',
    options: [
      { flags: '--state <state>', description: 'only messages in this state (STAGED, SENT, ACCEPTED, ...)' },
      { flags: '--partner <code>', description: 'only this partner' },
      { flags: '--type <type>', description: 'only this message type (MATERIALS_PRODUCED, ...)' },
      { flags: '--file <name>', description: 'only messages of this source file (its name as dropped; * matches any text, ? one character)' },
      { flags: '--reference <ref>', description: 'only this reference document or work order number' },
      { flags: '--since <time>', description: 'source file received at or after (2026-12-02, 2026-12-02T14:00)' },
      { flags: '--until <time>', description: 'source file received at or before (a date: up to its end)' },
      { flags: '--limit <n>', description: 'only the newest n, shown oldest first' },
      { flags: '--json', description: 'a JSON array (stable fields)' },
    ],
    example: 'tlbridge messages --since 2026-12-02T14:00 --until 2026-12-02T14:10 --partner ACME-PHARMA',
    exit: '0',
    run: async (c) => {
      const o = c.opts;
      const filters = { state: str(o.state), partner: str(o.partner), type: str(o.type), file: str(o.file), reference: str(o.reference) };
      const opts = { ...filters, since: str(o.since), until: str(o.until), limit: str(o.limit), json: o.json === true };
      return (await import('./messages.js')).messages(await c.config(), opts, c.io);
    },
  },
  {
    name: 'send-now',
    summary: 'run batch cycles now until what was uploadable is sent, and wait for them',
    details:
      'Batches of at most maxBatchMessages, one after another, until what was uploadable when it started is sent; it stops after a cycle with a failure. ' +
      "Works whether or not the daemon runs: cycles of one partner take turns through the ledger's partner lock, and a cycle the daemon is running is waited for. " +
      "When this process cannot read the partner's key (the service holds it as a credential), the running daemon runs the cycles on request and the summary is the same. " +
      'A paused partner is skipped. On a terminal, progress shows on stderr.',
    options: [partnerOption('every partner')],
    example: 'tlbridge send-now --partner ACME-PHARMA',
    exit: '0 all uploadable sent, 1 otherwise or when the partner named with --partner is paused',
    run: async (c) => (await import('./send-now.js')).sendNow(await c.config(), { partner: str(c.opts.partner) }, c.io),
  },
  {
    name: 'poll-acks',
    summary: 'run an ack poll now',
    details:
      "A paused partner is skipped. When this process cannot read the partner's key, the running daemon polls on request. " +
      'On a fresh install (no ledger yet) it connects to nothing and creates nothing.',
    options: [partnerOption('every partner')],
    example: 'tlbridge poll-acks --partner ACME-PHARMA',
    exit: '0 (also on a fresh install with no ledger), 1 if a poll failed or the partner named with --partner is paused',
    run: async (c) => (await import('./poll-acks.js')).pollAcksCommand(await c.config(), { partner: str(c.opts.partner) }, c.io),
  },
  {
    name: 'resend',
    summary: 'a SENT message back to STAGED, same FileControlNumber',
    details: 'The next batch cycle uploads it again, byte-identical. Your user name, the time and the reason are recorded in the ledger and the archive.',
    args: [{ name: '<MESSAGE_ID>', description: 'the id shown by `tlbridge messages`' }],
    options: [{ flags: '--reason <text>', description: 'why (required)' }],
    example: 'tlbridge resend 42 --reason "partner lost the file (ticket 1234)"',
    exit: '0 done, 1 refused',
    run: async (c) => (await import('./resend.js')).resend(await c.config(), { id: c.args[0] as string, reason: str(c.opts.reason) }, c.io),
  },
  {
    name: 'reprocess',
    summary: 'an error/ file back through intake',
    details: 'Your user name, the time and the reason are recorded in the ledger and the archive.',
    args: [{ name: '<ERROR_FILE>', description: 'the file in error/ (its name or path)' }],
    options: [
      { flags: '--reason <text>', description: 'why (required)' },
      { flags: '--force', description: 'pass the duplicate check' },
    ],
    example: 'tlbridge reprocess export-0412.txt --reason "ERP corrected the lot numbers"',
    exit: '0 done, 1 refused',
    run: async (c) => {
      const opts = { file: c.args[0] as string, reason: str(c.opts.reason), force: c.opts.force === true };
      return (await import('./reprocess.js')).reprocess(await c.config(), opts, c.io);
    },
  },
  {
    name: 'hold',
    summary: 'a STAGED message to HELD: it is not uploaded until released',
    details: REASON_RECORDED,
    args: [MESSAGE_ARG],
    options: [REASON_OPTION],
    example: 'tlbridge hold 42 --reason "wrong lot, ERP is checking (ticket 1235)"',
    exit: '0 done, 1 wrong state or unknown id',
    run: async (c) => (await import('./message-actions.js')).messageAction(await c.config(), 'hold', { id: c.args[0] as string, reason: str(c.opts.reason) }, c.io),
  },
  {
    name: 'release',
    summary: 'a HELD message back to STAGED: the next batch cycle uploads it',
    details: REASON_RECORDED,
    args: [MESSAGE_ARG],
    options: [REASON_OPTION],
    example: 'tlbridge release 42 --reason "ERP confirmed the lot"',
    exit: '0 done, 1 wrong state or unknown id',
    run: async (c) => (await import('./message-actions.js')).messageAction(await c.config(), 'release', { id: c.args[0] as string, reason: str(c.opts.reason) }, c.io),
  },
  {
    name: 'cancel',
    summary: 'a STAGED or HELD message to CANCELLED (final): it is never uploaded',
    details: `Its staged reversals are never uploaded either; status and status --check list them. ${REASON_RECORDED}`,
    args: [MESSAGE_ARG],
    options: [REASON_OPTION],
    example: 'tlbridge cancel 42 --reason "duplicate export, the ERP re-sent it as 57"',
    exit: '0 done, 1 wrong state or unknown id',
    run: async (c) => (await import('./message-actions.js')).messageAction(await c.config(), 'cancel', { id: c.args[0] as string, reason: str(c.opts.reason) }, c.io),
  },
  {
    name: 'confirm',
    summary: 'a SENT message with no ack, to ACCEPTED or REJECTED',
    details: `For when the partner answered another way (mail, phone). ${REASON_RECORDED}`,
    args: [MESSAGE_ARG],
    options: [
      { flags: '--accepted', description: 'the partner accepted it' },
      { flags: '--rejected', description: 'the partner rejected it' },
      REASON_OPTION,
    ],
    example: 'tlbridge confirm 42 --accepted --reason "partner confirmed by mail (ticket 1236)"',
    exit: '0 done, 1 not SENT or unknown id, 2 neither or both of --accepted/--rejected',
    run: async (c) => {
      const opts = { id: c.args[0] as string, reason: str(c.opts.reason), accepted: c.opts.accepted === true, rejected: c.opts.rejected === true };
      return (await import('./message-actions.js')).messageAction(await c.config(), 'confirm', opts, c.io);
    },
  },
  {
    name: 'dismiss',
    summary: 'an error file, an ack or a REJECTED message no longer needs attention',
    details:
      'An error file (by its name in error/; the file stays there and in the archive), an unmatched or invalid ack or an ack for a ' +
      'HELD/CANCELLED message (by ack id), or a REJECTED message (by id): status --check no longer reports it. A number that is both ' +
      `an ack id and a message id is refused; write ack:N or message:N. ${REASON_RECORDED}`,
    args: [{ name: '<TARGET>', description: 'ERROR_FILE, ACK_ID or MESSAGE_ID (ack:N, message:N)' }],
    options: [REASON_OPTION],
    example: 'tlbridge dismiss export-0412.txt --reason "ERP re-exported it as export-0413.txt"',
    exit: '0 done, 1 nothing to dismiss under that name',
    run: async (c) => (await import('./dismiss.js')).dismiss(await c.config(), { target: c.args[0] as string, reason: str(c.opts.reason) }, c.io),
  },
  {
    name: 'pause',
    summary: 'no batch cycle and no ack poll for a partner until resumed',
    details: `Across restarts; a cycle already running finishes; send-now and poll-acks skip the partner. ${REASON_RECORDED}`,
    args: [PARTNER_ARG],
    options: [REASON_OPTION],
    example: 'tlbridge pause ACME-PHARMA --reason "partner SFTP maintenance until 18:00"',
    exit: '0 done, 1 already paused or unknown partner',
    run: async (c) => (await import('./pause.js')).pauseCommand(await c.config(), 'pause', { partner: c.args[0] as string, reason: str(c.opts.reason) }, c.io),
  },
  {
    name: 'resume',
    summary: 'a paused partner gets its batch cycles and ack polls again',
    details: REASON_RECORDED,
    args: [PARTNER_ARG],
    options: [REASON_OPTION],
    example: 'tlbridge resume ACME-PHARMA --reason "maintenance over"',
    exit: '0 done, 1 not paused or unknown partner',
    run: async (c) => (await import('./pause.js')).pauseCommand(await c.config(), 'resume', { partner: c.args[0] as string, reason: str(c.opts.reason) }, c.io),
  },
  {
    name: 'audit verify',
    summary: 'recompute every archive hash and the manifest chain',
    details: 'Any change, removal or addition in the archive is named.',
    example: 'tlbridge audit verify',
    exit: '0 intact, 1 names what differs',
    run: async (c) => (await import('./audit.js')).audit(await c.config(), { sub: 'verify', rest: [] }, c.io),
  },
  {
    name: 'audit report',
    summary: 'the uploads of a period with their outcome, as HTML, CSV or JSON',
    details:
      'With the operator actions of the period and the state of the archive chain. One row per upload (a resent message has a ' +
      'row per upload; totals count messages), in batch order. Dates are inclusive, ' +
      "in the configuration's timezone (a date or date-time, as for messages --since). HTML (the default) is one self-contained, " +
      'printable page with who generated it, totals, the rows, the operator actions and the chain; above 50,000 rows it holds the ' +
      'totals and points to the CSV. CSV is RFC 4180 with a header row; JSON is one object for tools. On a terminal, progress shows on stderr.',
    options: [
      { flags: '--from <date>', description: 'batches from this date or date-time on (default: the first)' },
      { flags: '--to <date>', description: 'batches up to this date or date-time (a date: up to its end; default: now)' },
      { flags: '--partner <code>', description: 'only this partner' },
      { flags: '--format <format>', description: 'html, csv or json (default: html)' },
      { flags: '--out <file>', description: 'write it to FILE (must not exist; default: stdout)' },
    ],
    example: 'tlbridge audit report --from 2026-01-01 --to 2026-12-31 --format html --out audit-2026.html',
    exit: '0 written, 1 the output file exists or cannot be written, 2 usage',
    run: async (c) => {
      const o = c.opts;
      const opts = { from: str(o.from), to: str(o.to), partner: str(o.partner), format: str(o.format), out: str(o.out) };
      return (await import('./audit-report.js')).auditReport(await c.config(), opts, c.io);
    },
  },
  {
    name: 'audit trace',
    summary: 'the whole history of a message: transitions, uploads, acks',
    details:
      'Every message matching the ID (a message id, a FileControlNumber or a reference document number), with its source file and line, ' +
      'its XML (path, sha256), every state transition with its time and operator, every upload (batch, remote path), every ack ' +
      '(archived path, sha256, codes) and the config and schema sha256 in force when it was staged.',
    args: [{ name: '<ID>', description: 'a message id, FileControlNumber or reference document number' }],
    options: [{ flags: '--json', description: 'a JSON array (stable fields)' }],
    example: 'tlbridge audit trace C00000000042',
    exit: '0 found, 1 nothing matches',
    run: async (c) => (await import('./audit-trace.js')).auditTrace(await c.config(), { id: c.args[0] as string, json: c.opts.json === true }, c.io),
  },
  {
    name: 'backup',
    summary: 'an online copy of the ledger, integrity-checked',
    details:
      "SQLite's online backup: consistent while the daemon runs. The copy is checked with pragma integrity_check before it " +
      'gets its name; an existing file is never overwritten. Restore: README, "Backup, restore and reload". On a terminal, progress shows on stderr.',
    options: [{ flags: '--out <file>', description: 'where the copy goes (must not exist; written mode 0640)' }],
    example: 'tlbridge backup --out /var/backups/tlbridge/ledger-2026-12-02.sqlite',
    exit: '0 written and checked, 1 failed (nothing left under FILE), 2 usage',
    run: async (c) => (await import('./backup.js')).backup(await c.config(), { out: str(c.opts.out) }, c.io),
  },
  {
    name: 'prune',
    summary: 'a retention run now: remove archive folders past archive.retentionDays',
    details:
      'What may go (README, "Retention"): folders older than the cutoff whose messages are all final and last changed before it, with ' +
      'their ledger rows and outbox files; never an error file that was not dismissed. A pruning manifest in the chain names every ' +
      'removed manifest, so audit verify stays clean. archive.legalHold: true suspends it; archive.retentionDays: 0 keeps everything.',
    options: [
      { flags: '--dry-run', description: 'only print what would be removed' },
      { flags: '--json', description: 'the result as JSON' },
    ],
    example: 'tlbridge prune --dry-run',
    exit: '0 done (or nothing to do), 1 failed',
    run: async (c) => (await import('./prune.js')).prune(await c.config(), { dryRun: c.opts.dryRun === true, json: c.opts.json === true }, c.io),
  },
  {
    name: 'sandbox',
    summary: 'an SFTP server that plays the manufacturer',
    details: "For rehearsing a site's ERP exports before going live. Runs until SIGTERM or SIGINT.",
    options: [
      { flags: '--port <n>', description: 'the port on 127.0.0.1 (default: 2222; 0 picks a free one)' },
      { flags: '--dir <dir>', description: 'its folder (default: var/sandbox)' },
      { flags: '--reject-rate <r>', description: "share of files answered with an error ack, 0 to 1 (default: the first partner's sandbox setting, else 0)" },
      { flags: '--ack-delay <s>', description: "seconds before an ack appears (default: the first partner's sandbox setting, else 0)" },
    ],
    example: 'tlbridge sandbox --port 2222 --reject-rate 0.1',
    exit: '0 on stop',
    run: async (c) => {
      const o = c.opts;
      const opts = { port: str(o.port), dir: str(o.dir), rejectRate: str(o.rejectRate), ackDelay: str(o.ackDelay) };
      return (await import('./sandbox.js')).sandbox(await c.config(), opts, c.io);
    },
  },
];
