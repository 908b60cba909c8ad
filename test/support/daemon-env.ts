// A throwaway data folder and config for tests that run intake or the daemon for real
// (real files, real SQLite ledger).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config/load.js';
import type { Logger } from '../../src/log.js';

export interface TestEnv {
  dir: string;
  inbound: string;
  config: Config;
  configPath: string;
  logs: { level: string; msg: string; fields?: Record<string, unknown> }[];
  logger: Logger;
  dispose(): void;
}

export function makeEnv(opts: { partnerSftp?: string; stableMs?: number; extraYaml?: string } = {}): TestEnv {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-env-'));
  const configPath = path.join(dir, 'tlbridge.yaml');
  fs.writeFileSync(
    configPath,
    `sender: { id: "0614141000005", controlNumberPrefix: "T" }
timezone: UTC
dataDir: ./var
inbound:
  - { path: ./var/inbound, layout: erp-delimited, stableMs: ${opts.stableMs ?? 300} }
rescanSeconds: 1
partners:
  ACME-PHARMA:
    receiverId: "0312345000001"
    usage: TEST
    schedule: "0 0 1 1 *"
    ackPoll: "0 0 1 1 *"
    sftp: ${opts.partnerSftp ?? '{ host: embedded }'}
${opts.extraYaml ?? ''}`,
  );
  const config = loadConfig(configPath);
  const logs: TestEnv['logs'] = [];
  const rec = (level: string) => (msg: string, fields?: Record<string, unknown>) => void logs.push({ level, msg, fields });
  const logger = { info: rec('info'), warn: rec('warn'), error: rec('error'), debug: rec('debug') } as unknown as Logger;
  return {
    dir,
    inbound: path.join(dir, 'var', 'inbound'),
    config,
    configPath,
    logs,
    logger,
    dispose: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export async function waitFor<T>(what: string, fn: () => T | undefined | false, timeoutMs = 20000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
