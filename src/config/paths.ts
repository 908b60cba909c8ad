// Where everything lives under dataDir (product.md 3): the one place that names these folders.
import path from 'node:path';
import type { Config } from './load.js';

export interface DataPaths {
  /** claimed input being processed */
  work: string;
  /** rejected inputs with their reports */
  error: string;
  /** outbox/<partner>/<FileControlNumber>.xml */
  outbox: string;
  archive: string;
  ledger: string;
  /** acks downloaded before they are archived; not under work/, which holds only claimed inputs */
  ackWork: string;
  /** the embedded sandbox's state (product.md 7) */
  sandbox: string;
}

export function dataPaths(config: Pick<Config, 'dataDir'>): DataPaths {
  const at = (name: string) => path.join(config.dataDir, name);
  return {
    work: at('work'),
    error: at('error'),
    outbox: at('outbox'),
    archive: at('archive'),
    ledger: at('ledger.sqlite'),
    ackWork: at('ack-work'),
    sandbox: at('sandbox'),
  };
}
