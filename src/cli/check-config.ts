// `tlbridge check-config`: every problem of the configuration, by key path.
import { loadConfig } from '../config/load.js';
import { loadSchema } from '../xml/schema.js';
import { ACK_SCHEMA } from '../messages/registry.js';
import { EXIT, type Io } from './io.js';

export function checkConfig(configPath: string | undefined, io: Io): number {
  const config = loadConfig(configPath); // a ConfigError is reported by main with exit 2
  const problems: string[] = [];
  // A schema that exists but does not compile would only fail at the first conversion.
  for (const t of Object.values(config.messageTypes)) {
    try {
      loadSchema(t.schema);
    } catch (e) {
      problems.push(`messageTypes.${t.name}.schema: ${(e as Error).message}`);
    }
  }
  try {
    loadSchema(ACK_SCHEMA);
  } catch (e) {
    problems.push(`ack schema: ${(e as Error).message}`);
  }
  if (problems.length) {
    io.err(`invalid configuration ${config.file}:`);
    for (const p of problems) io.err(`  - ${p}`);
    return EXIT.USAGE;
  }
  io.out(
    `${config.file}: valid (${Object.keys(config.partners).length} partner(s): ${Object.keys(config.partners).join(', ')}; ` +
      `${config.inbound.length} drop folder(s); layouts: ${[...config.layouts.keys()].join(', ')})`,
  );
  return EXIT.OK;
}
