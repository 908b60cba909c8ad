// Fallback peak-RSS probe for machines without GNU /usr/bin/time (see bench/measure.ts):
// `node --import tsx bench/rss-wrapper.ts <tlbridge args...>` runs the CLI exactly as
// bin/tlbridge.js does, in this process, and prints the process's peak RSS (KiB) to stderr
// on exit.
import { main } from '../src/cli/main.js';
import { RSS_MARKER } from './measure.js';

process.on('exit', () => {
  process.stderr.write(`\n${RSS_MARKER}${process.resourceUsage().maxRSS}\n`);
});
process.exitCode = await main(process.argv.slice(2));
