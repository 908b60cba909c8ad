// The daemon's Prometheus metrics (product.md 9, libraries.md prom-client): a Registry of its
// own (tests start several daemons in one process), the default process metrics, and gauges
// whose collect() reads the ledger at scrape time, so every figure is right after a restart.
// Only the two *_total counters and the duration histogram count within this process.
import fs from 'node:fs';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectStatus, countErrorFiles } from './status.js';
import type { Config } from '../config/load.js';
import type { Db } from '../ledger/db.js';
import { FILE_STATES, MESSAGE_STATES, VISIBLE } from '../ledger/ledger.js';
import { lastOkAt } from '../ledger/runs.js';

export const BATCH_DURATION_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600];

export interface MetricsDeps {
  db: Db;
  /** the config in force (it changes at a reload) */
  config(): Config;
}

export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly uploadedBytes: Counter<'partner'>;
  private readonly intakeFiles: Counter<'outcome'>;
  private readonly batchDuration: Histogram<'partner'>;

  constructor(private readonly deps: MetricsDeps) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const { db } = deps;
    const partners = (): string[] => Object.keys(deps.config().partners);

    new Gauge({
      name: 'tlbridge_messages',
      help: 'Messages in the ledger by state and partner (every state of every configured partner, zeros included).',
      labelNames: ['state', 'partner'] as const,
      registers,
      collect() {
        this.reset();
        const all = new Set(partners());
        const rows = db.prepare(`SELECT m.partner, m.state, COUNT(*) AS n FROM messages m WHERE ${VISIBLE} GROUP BY m.partner, m.state`).all() as {
          partner: string;
          state: string;
          n: number;
        }[];
        // a removed partner's messages still count (they may wait for acks)
        for (const r of rows) all.add(r.partner);
        for (const partner of all) for (const state of MESSAGE_STATES) this.set({ state, partner }, 0);
        for (const r of rows) this.set({ state: r.state, partner: r.partner }, r.n);
      },
    });
    new Gauge({
      name: 'tlbridge_files',
      help: 'Input files in the ledger by state.',
      labelNames: ['state'] as const,
      registers,
      collect() {
        for (const state of FILE_STATES) this.set({ state }, 0);
        for (const r of db.prepare('SELECT state, COUNT(*) AS n FROM files GROUP BY state').all() as { state: string; n: number }[]) this.set({ state: r.state }, r.n);
      },
    });
    new Gauge({
      name: 'tlbridge_error_files',
      help: 'Input files waiting in error/.',
      registers,
      collect() {
        this.set(countErrorFiles(deps.config()));
      },
    });
    new Gauge({
      name: 'tlbridge_overdue_messages',
      help: 'SENT messages past their partner’s ack deadline.',
      labelNames: ['partner'] as const,
      registers,
      collect() {
        this.reset();
        for (const p of collectStatus(deps.config(), db).status.partners) this.set({ partner: p.partner }, p.overdue);
      },
    });
    for (const [kind, name, what] of [
      ['batch', 'tlbridge_last_batch_success_timestamp_seconds', 'batch cycle'],
      ['acks', 'tlbridge_last_ack_poll_success_timestamp_seconds', 'ack poll'],
    ] as const) {
      new Gauge({
        name,
        help: `Unix time of the partner's last successful ${what} (daemon or CLI); 0 when there was none.`,
        labelNames: ['partner'] as const,
        registers,
        collect() {
          this.reset();
          for (const partner of partners()) {
            const at = lastOkAt(db, kind, partner);
            this.set({ partner }, at ? Date.parse(at) / 1000 : 0);
          }
        },
      });
    }
    new Gauge({
      name: 'tlbridge_data_dir_free_bytes',
      help: 'Free bytes (available to the service user) on the file system of dataDir.',
      registers,
      collect() {
        const s = fs.statfsSync(deps.config().dataDir);
        this.set(s.bavail * s.bsize);
      },
    });

    this.uploadedBytes = new Counter({ name: 'tlbridge_uploaded_bytes_total', help: 'Bytes uploaded by this process, by partner.', labelNames: ['partner'] as const, registers });
    this.intakeFiles = new Counter({
      name: 'tlbridge_intake_files_total',
      help: 'Input files this process finished, by outcome (CONVERTED, FAILED, DUPLICATE, error).',
      labelNames: ['outcome'] as const,
      registers,
    });
    this.batchDuration = new Histogram({
      name: 'tlbridge_batch_duration_seconds',
      help: 'Duration of the batch cycles this process ran, by partner.',
      labelNames: ['partner'] as const,
      buckets: BATCH_DURATION_BUCKETS,
      registers,
    });
    this.partnersChanged();
  }

  /** Series of every configured partner exist from the start (and after a reload adds one). */
  partnersChanged(): void {
    for (const partner of Object.keys(this.deps.config().partners)) {
      this.batchDuration.zero({ partner });
      this.uploadedBytes.inc({ partner }, 0);
    }
  }

  uploaded(partner: string, bytes: number): void {
    this.uploadedBytes.inc({ partner }, bytes);
  }

  intakeFile(outcome: string): void {
    this.intakeFiles.inc({ outcome });
  }

  batchCycle(partner: string, seconds: number): void {
    this.batchDuration.observe({ partner }, seconds);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
