// Headless Chromium for looking at a page as a person would (Debian's `chromium`; as root it
// needs --no-sandbox). Each run gets its own profile folder, so runs in parallel never share one.
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** The chromium binary on PATH, or null. */
export function chromiumPath(): string | null {
  for (const name of ['chromium', 'chromium-browser']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    const p = r.stdout.trim();
    if (r.status === 0 && p) return p;
  }
  return null;
}

/** A 1280x900 screenshot of `htmlFile` into `pngFile`. */
export function screenshot(chromium: string, htmlFile: string, pngFile: string): Promise<void> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-chromium-'));
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--hide-scrollbars',
    '--no-first-run',
    `--user-data-dir=${profile}`,
    `--screenshot=${pngFile}`,
    '--window-size=1280,900',
    pathToFileURL(htmlFile).href,
  ];
  return new Promise<void>((resolve, reject) => {
    execFile(chromium, args, { timeout: 90_000, env: { ...process.env, HOME: profile } }, (err, _stdout, stderr) => {
      fs.rmSync(profile, { recursive: true, force: true });
      if (err || !fs.existsSync(pngFile)) reject(new Error(`chromium failed: ${err?.message ?? 'no screenshot'}\n${stderr.slice(-2000)}`));
      else resolve();
    });
  });
}
