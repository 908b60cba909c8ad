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

export interface PageWidths {
  /** the layout viewport's width */
  viewport: number;
  /** the document's scrollWidth: above viewport, something sticks out to the right */
  scrollWidth: number;
  /** the elements whose right edge is past the viewport (tag.class and their text's start), at most 10 */
  overflowing: string[];
}

/**
 * How wide `htmlFile` lays out in a 1280x900 window: a copy of it gets a measuring script at the
 * end of its body (the page itself has none) and Chromium's DOM dump after it ran is read back.
 */
export function pageWidths(chromium: string, htmlFile: string): Promise<PageWidths> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-chromium-'));
  const copy = path.join(profile, 'measure.html');
  const measure = `<script>(function () {
  var vw = document.documentElement.clientWidth, out = [];
  var all = document.body.getElementsByTagName('*');
  for (var i = 0; i < all.length && out.length < 10; i++) {
    var e = all[i], r = e.getBoundingClientRect();
    if (r.right > vw + 0.5 && !e.querySelector('*')) out.push(e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ' ' + (e.textContent || '').slice(0, 40));
  }
  var p = document.createElement('pre');
  p.id = 'tlbridge-widths';
  p.textContent = JSON.stringify({ viewport: vw, scrollWidth: document.documentElement.scrollWidth, overflowing: out });
  document.body.appendChild(p);
})();</script>`;
  const html = fs.readFileSync(htmlFile, 'utf8');
  const at = html.lastIndexOf('</body>');
  fs.writeFileSync(copy, at < 0 ? html + measure : html.slice(0, at) + measure + html.slice(at));
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--no-first-run', `--user-data-dir=${profile}`, '--window-size=1280,900', '--dump-dom', pathToFileURL(copy).href];
  return new Promise<PageWidths>((resolve, reject) => {
    execFile(chromium, args, { timeout: 90_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, HOME: profile } }, (err, stdout, stderr) => {
      fs.rmSync(profile, { recursive: true, force: true });
      const m = /<pre id="tlbridge-widths">([^<]*)<\/pre>/.exec(stdout);
      if (err || !m) reject(new Error(`chromium failed: ${err?.message ?? 'no measurement in the DOM'}\n${stderr.slice(-2000)}`));
      else resolve(JSON.parse(m[1]!.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')) as PageWidths);
    });
  });
}
