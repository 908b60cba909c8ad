// The README's command reference, rendered from the same command tree the CLI answers
// `--help` with, so the two cannot drift: `npm run docs` rewrites the README section between
// the markers, and test/cli-help.test.ts fails when the README holds anything else.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { buildProgram } from './main.js';

export const README_START = '<!-- commands:start: generated from the help texts by `npm run docs`; edit src/cli/commands.ts instead -->';
export const README_END = '<!-- commands:end -->';
/** fixed, so the README does not depend on the terminal that ran `npm run docs` */
const WIDTH = 100;

/** Every command's full help (what `tlbridge <command> --help` prints), as Markdown. */
export function renderCommandReference(): string {
  const lines: string[] = [];
  const program = buildProgram({ out: (l) => void lines.push(l), err: (l) => void lines.push(l) }, { command: '', code: 0 }, { helpWidth: WIDTH });
  const sections: string[] = [];
  const walk = (cmd: Command, words: string[]) => {
    lines.length = 0;
    cmd.outputHelp();
    const title = ['tlbridge', ...words].join(' ');
    sections.push(`### \`${title}\`\n\n\`\`\`text\n${lines.join('\n').trimEnd()}\n\`\`\``);
    for (const sub of cmd.commands) walk(sub, [...words, sub.name()]);
  };
  walk(program, []);
  return sections.join('\n\n');
}

/** `readme` with the text between the markers replaced by the current reference. */
export function withCommandReference(readme: string): string {
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start < 0 || end < start) throw new Error(`the README has no command reference markers (${README_START} ... ${README_END})`);
  return `${readme.slice(0, start + README_START.length)}\n\n${renderCommandReference()}\n\n${readme.slice(end)}`;
}

export const README_PATH = fileURLToPath(new URL('../../README.md', import.meta.url));

// `npm run docs`
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  fs.writeFileSync(README_PATH, withCommandReference(fs.readFileSync(README_PATH, 'utf8')));
  console.log(`${README_PATH}: command reference updated`);
}
