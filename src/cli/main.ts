// The command line: `tlbridge <command> [options]` (product.md 4), on commander. The tree is
// built from the command list in commands.ts; commander parses, answers --help and --version
// (neither reads the config) and reports usage errors, all through `io`, and never exits the
// process itself: main() returns the exit code, so tests run the CLI in-process.
import fs from 'node:fs';
import { Command, CommanderError } from 'commander';
import { COMMANDS, CONFIG_OPTION, GROUPS, type CommandSpec, type OptionValues } from './commands.js';
import { EXIT, processIo, type Io } from './io.js';

export interface ProgramOptions {
  /** fixed help width (the README's reference); default: the terminal's, else 80 */
  helpWidth?: number;
}

/** The bare version of package.json. */
export function version(): string {
  return (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

function helpAfter(spec: CommandSpec): string {
  return `\nExample:\n  $ ${spec.example}\n\nExit status: ${spec.exit}`;
}

/** What ran: the command's name (for the prefix of its usage errors) and its exit code. */
export interface Outcome {
  command: string;
  code: number;
}

/** The whole command tree; `outcome` receives what ran. */
export function buildProgram(io: Io, outcome: Outcome, opts: ProgramOptions = {}): Command {
  const width = (s?: NodeJS.WriteStream) => opts.helpWidth ?? (s?.isTTY && s.columns ? s.columns : 80);
  const program = new Command('tlbridge')
    .description('legacy ERP flat files to XSD-validated TraceLink XML, sent in batches over SFTP, with acknowledgment reconciliation')
    .usage('<command> [options]')
    .version(version(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show this help')
    .helpCommand('help [command]', 'show the help of a command')
    // inherited by every command created below: output through io, errors thrown, never process.exit
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
      getOutHelpWidth: () => width(io.stdout),
      getErrHelpWidth: () => width(io.stderr),
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    })
    .exitOverride()
    .showHelpAfterError()
    .showSuggestionAfterError();
  program.addHelpText('after', '\nExample:\n  $ tlbridge status --help');

  // a group goes into the list where its first sub-command stands
  const groups = new Map<string, Command>();
  const groupOf = (name: string): Command => {
    let g = groups.get(name);
    if (!g) {
      const spec = GROUPS.find((x) => x.name === name)!;
      g = program.command(name).description(spec.summary).helpOption('-h, --help', 'show this help');
      g.addHelpText('after', `\nExample:\n  $ ${spec.example}`);
      groups.set(name, g);
    }
    return g;
  };

  for (const spec of COMMANDS) {
    const words = spec.name.split(' ');
    const parent = words.length > 1 ? groupOf(words[0]!) : program;
    const cmd = parent.command(words[words.length - 1]!).summary(spec.summary);
    cmd.description(spec.summary + (spec.details ? `\n\n${spec.details}` : ''));
    for (const a of spec.args ?? []) cmd.argument(a.name, a.description);
    for (const o of [...(spec.options ?? []), CONFIG_OPTION]) cmd.option(o.flags, o.description);
    cmd.helpOption('-h, --help', 'show this help');
    cmd.addHelpText('after', helpAfter(spec));
    cmd.action(async (...params: unknown[]) => {
      const self = params[params.length - 1] as Command;
      const values = self.opts<OptionValues>();
      const config = async () => (await import('../config/load.js')).loadConfig(typeof values.config === 'string' ? values.config : undefined);
      outcome.command = spec.name;
      outcome.code = await spec.run({ args: self.processedArgs as Array<string | string[]>, opts: values, io, config });
    });
  }
  return program;
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const outcome: Outcome = { command: '', code: EXIT.OK };
  const program = buildProgram(io, outcome);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return outcome.code;
  } catch (e) {
    // --help, --version and `help` end in a CommanderError of exit code 0; every other one is
    // a wrong command line, already reported with that command's help: exit 2 (product.md 4)
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    // by name, not instanceof: a command module loaded with import() may see its own copy of
    // these classes under some loaders (tsx inside mocha does)
    if ((e as Error)?.name === 'UsageError') {
      io.err(`tlbridge ${outcome.command}: ${(e as Error).message}`);
      return EXIT.USAGE;
    }
    if ((e as Error)?.name === 'ConfigError') {
      io.err((e as Error).message);
      return EXIT.USAGE;
    }
    throw e;
  }
}
