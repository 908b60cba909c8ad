#!/usr/bin/env node
// Plain JavaScript of src/ for start-up speed, built by `npm ci` (the `prepare` script) and by
// `npm run build`: every src/**/*.ts transpiled by esbuild (installed with tsx, a runtime
// dependency, so `npm ci --omit=dev` has it too) into dist/, one file per source, same tree,
// so that relative URLs such as '../../package.json' still resolve from dist/<folder>/.
// dist/.stamp records the hash of the sources it was built from; bin/tlbridge.js runs dist/
// only while src/ still hashes to it, and falls back to tsx otherwise: never stale code.
// Nothing is built at run time (the service runs with ProtectSystem=strict).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DIST, sourceStamp, SRC, STAMP } from '../bin/stamp.js';

const started = Date.now();
let esbuild;
try {
  esbuild = await import('esbuild');
} catch (e) {
  // not fatal: bin/tlbridge.js runs the TypeScript through tsx when dist/ is missing
  console.error(`tlbridge build: esbuild is not installed (${e.message}); bin/tlbridge.js will run src/ through tsx`);
  process.exit(0);
}

const sources = [];
// plain JavaScript entry files (worker boots, the libxml2-wasm preload) are copied as they are:
// dist/ code finds them by relative URL, as src/ code does
const copies = [];
const walk = (dir) => {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) sources.push(p);
    else if (e.isFile() && e.name.endsWith('.mjs')) copies.push(p);
  }
};
walk(SRC);

// the stamp is taken before the build: a source changed meanwhile makes it stale, not wrong
const stamp = sourceStamp();
const tmp = `${DIST}.tmp-${process.pid}`;
fs.rmSync(tmp, { recursive: true, force: true });
await esbuild.build({
  entryPoints: sources,
  outdir: tmp,
  outbase: SRC,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  bundle: false,
  sourcemap: 'linked',
  logLevel: 'warning',
});
for (const f of copies) {
  const to = path.join(tmp, path.relative(SRC, f));
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(f, to);
}
fs.writeFileSync(path.join(tmp, path.basename(STAMP)), stamp + '\n');
// replace the old build in one rename, so a concurrent start sees the old or the new one
const old = `${DIST}.old-${process.pid}`;
if (fs.existsSync(DIST)) fs.renameSync(DIST, old);
fs.renameSync(tmp, DIST);
fs.rmSync(old, { recursive: true, force: true });
if (process.argv.includes('--verbose') || !process.env.npm_lifecycle_event)
  console.log(`tlbridge build: ${sources.length} files into ${path.relative(process.cwd(), DIST) || DIST} in ${Date.now() - started} ms (${fileURLToPath(import.meta.url)})`);
