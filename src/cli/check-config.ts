// `tlbridge check-config`: every problem of the configuration at once, by key path: its
// shape, what the parts that parsed resolve to (layouts, partners, files), every XSD compiled,
// and the secret files. A relative secret this user cannot read outside the service is a note,
// not a problem (product.md 6): operators run this with `sudo -u tlbridge`.
import { checkConfigFile } from '../config/check.js';
import { EXIT, type Io } from './io.js';

export function checkConfig(configPath: string | undefined, io: Io): number {
  const r = checkConfigFile(configPath);
  for (const n of r.notes) io.out(`note: ${n}`);
  if (!r.config) {
    io.err(`invalid configuration ${r.file}:`);
    for (const p of r.problems) io.err(`  - ${p}`);
    return EXIT.USAGE;
  }
  const config = r.config;
  const partners = Object.keys(config.partners);
  io.out(
    `${config.file}: valid (${partners.length} partner(s): ${partners.join(', ')}; ` +
      `${config.inbound.length} drop folder(s); layouts: ${[...config.layouts.keys()].join(', ')})`,
  );
  return EXIT.OK;
}
