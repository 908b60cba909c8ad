// What the plain JavaScript in dist/ was built from (scripts/build-js.mjs): one sha256 over
// the path and bytes of every file under src/ and of the build script itself. Content, not
// mtimes: a checkout, a copy with preserved times or a clock step cannot make a stale build
// look current. Reading the ~120 sources takes a few milliseconds.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SRC = path.join(ROOT, 'src');
export const DIST = path.join(ROOT, 'dist');
export const STAMP = path.join(DIST, '.stamp');
const BUILD_SCRIPT = path.join(ROOT, 'scripts', 'build-js.mjs');

function files(dir, out) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) files(p, out);
    else out.push(p);
  }
  return out;
}

/** The hash src/ (and the build script) has now. */
export function sourceStamp() {
  const h = crypto.createHash('sha256');
  for (const f of [...files(SRC, []).sort(), BUILD_SCRIPT]) {
    h.update(path.relative(ROOT, f)).update('\0').update(fs.readFileSync(f)).update('\0');
  }
  return h.digest('hex');
}

/** dist/ was built from exactly the src/ there is now. */
export function distIsCurrent() {
  let built;
  try {
    built = fs.readFileSync(STAMP, 'utf8').trim();
  } catch {
    return false;
  }
  return built === sourceStamp();
}
