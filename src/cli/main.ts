// The command line: `tlbridge <command> [options]` (product.md 4). Each command's module is
// loaded when it runs: `convert` need not pay for the daemon's SSH, SQLite and watcher code.
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { EXIT, processIo, UsageError, type Io } from './io.js';

const USAGE = `usage: tlbridge <command> [--config PATH] [options]
commands:
  run                                   the daemon, in the foreground
  check-config                          validate the configuration
  convert FILE... [--layout L] [--out DIR]
                                        flat file to validated XML, offline
  status [--json]                       counts by state, partners, overdue acks
  messages [--state S] [--partner P] [--json]
                                        one row per message, with its ack
  send-now [--partner P]                run a batch cycle now
  poll-acks [--partner P]               run an ack poll now
  resend MESSAGE_ID --reason TEXT       a SENT message back to STAGED, same FileControlNumber
  reprocess ERROR_FILE --reason TEXT [--force]
  audit verify                          recompute archive hashes and the manifest chain
  sandbox [--port N] [--dir D] [--reject-rate R] [--ack-delay S]
                                        an SFTP server playing the manufacturer`;

type Handler = (args: string[], io: Io) => Promise<number> | number;

type Options = NonNullable<import('node:util').ParseArgsConfig['options']>;

/** Parses a command's options; values come back as string | boolean | undefined by name. */
function parse(args: string[], options: Options = {}) {
  try {
    const r = parseArgs({ args, allowPositionals: true, strict: true, options: { config: { type: 'string' }, ...options } });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

const COMMANDS: Record<string, Handler> = {
  'check-config': async (args, io) => {
    const { values, positionals } = parse(args);
    if (positionals.length) throw new UsageError(`check-config takes no arguments`);
    return (await import('./check-config.js')).checkConfig(values.config as string | undefined, io);
  },
  convert: async (args, io) => {
    const { values, positionals } = parse(args, { layout: { type: 'string' }, out: { type: 'string' } });
    const config = loadConfig(values.config as string | undefined);
    return (await import('./convert.js')).convert(config, { files: positionals, layout: values.layout as string | undefined, out: (values.out as string | undefined) ?? '.' }, io);
  },
  status: async (args, io) => {
    const { values, positionals } = parse(args, { json: { type: 'boolean' } });
    if (positionals.length) throw new UsageError(`status takes no arguments`);
    return (await import('./status.js')).status(loadConfig(values.config as string | undefined), { json: values.json === true }, io);
  },
  messages: async (args, io) => {
    const { values, positionals } = parse(args, { state: { type: 'string' }, partner: { type: 'string' }, json: { type: 'boolean' } });
    if (positionals.length) throw new UsageError(`messages takes no arguments`);
    const opts = { state: values.state as string | undefined, partner: values.partner as string | undefined, json: values.json === true };
    return (await import('./messages.js')).messages(loadConfig(values.config as string | undefined), opts, io);
  },
  'poll-acks': async (args, io) => {
    const { values, positionals } = parse(args, { partner: { type: 'string' } });
    if (positionals.length) throw new UsageError(`poll-acks takes no arguments`);
    return (await import('./poll-acks.js')).pollAcksCommand(loadConfig(values.config as string | undefined), { partner: values.partner as string | undefined }, io);
  },
  resend: async (args, io) => {
    const { values, positionals } = parse(args, { reason: { type: 'string' } });
    if (positionals.length > 1) throw new UsageError(`resend takes one MESSAGE_ID`);
    return (await import('./resend.js')).resend(loadConfig(values.config as string | undefined), { id: positionals[0], reason: values.reason as string | undefined }, io);
  },
  reprocess: async (args, io) => {
    const { values, positionals } = parse(args, { reason: { type: 'string' }, force: { type: 'boolean' } });
    if (positionals.length !== 1) throw new UsageError(`reprocess takes one ERROR_FILE`);
    return (await import('./reprocess.js')).reprocess(loadConfig(values.config as string | undefined), { file: positionals[0], reason: values.reason as string | undefined, force: values.force === true }, io);
  },
  'send-now': async (args, io) => {
    const { values, positionals } = parse(args, { partner: { type: 'string' } });
    if (positionals.length) throw new UsageError(`send-now takes no arguments`);
    return (await import('./send-now.js')).sendNow(loadConfig(values.config as string | undefined), { partner: values.partner as string | undefined }, io);
  },
  run: async (args) => {
    const { values, positionals } = parse(args);
    if (positionals.length) throw new UsageError(`run takes no arguments`);
    return (await import('./run.js')).run(loadConfig(values.config as string | undefined));
  },
  audit: async (args, io) => {
    const { values, positionals } = parse(args);
    const [sub, ...rest] = positionals;
    return (await import('./audit.js')).audit(loadConfig(values.config as string | undefined), { sub, rest }, io);
  },
  sandbox: async (args, io) => {
    const { values, positionals } = parse(args, {
      port: { type: 'string' },
      dir: { type: 'string' },
      'reject-rate': { type: 'string' },
      'ack-delay': { type: 'string' },
    });
    if (positionals.length) throw new UsageError(`sandbox takes no arguments`);
    const str = (k: string) => values[k] as string | undefined;
    return (await import('./sandbox.js')).sandbox(loadConfig(str('config')), { port: str('port'), dir: str('dir'), rejectRate: str('reject-rate'), ackDelay: str('ack-delay') }, io);
  },
};

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    io.out(USAGE);
    return command ? EXIT.OK : EXIT.USAGE;
  }
  const handler = COMMANDS[command];
  if (!handler) {
    io.err(`tlbridge: unknown command "${command}"\n${USAGE}`);
    return EXIT.USAGE;
  }
  try {
    return await handler(rest, io);
  } catch (e) {
    // by name, not instanceof: a command module loaded with import() may see its own copy of
    // these classes under some loaders (tsx inside mocha does)
    if ((e as Error)?.name === 'UsageError') {
      io.err(`tlbridge ${command}: ${(e as Error).message}`);
      return EXIT.USAGE;
    }
    if ((e as Error)?.name === 'ConfigError') {
      io.err((e as Error).message);
      return EXIT.USAGE;
    }
    throw e;
  }
}
