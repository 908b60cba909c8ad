// What the figures were measured on, printed at the top of every report.
import os from 'node:os';
import { spawnSync } from 'node:child_process';

export interface MachineInfo {
  cpu: string;
  cores: number;
  ramGiB: number;
  os: string;
  node: string;
  /** first line of `xmllint --version`, or undefined when xmllint is missing */
  xmllint?: string;
  libxml2?: string;
  date: string;
}

/** `xmllint --version` prints to stderr, e.g. "xmllint: using libxml version 20914". */
export function xmllintVersion(): { line: string; libxml2: string } | undefined {
  const r = spawnSync('xmllint', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return undefined;
  const line = `${r.stderr}${r.stdout}`.split('\n').find((l) => l.trim()) ?? '';
  const m = /libxml version (\d+)/.exec(line);
  let libxml2 = m?.[1] ?? 'unknown';
  if (m) {
    // 20914 -> 2.9.14
    const n = Number(m[1]);
    libxml2 = `${Math.floor(n / 10000)}.${Math.floor(n / 100) % 100}.${n % 100} (${m[1]})`;
  }
  return { line: line.trim(), libxml2 };
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  const x = xmllintVersion();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism?.() ?? cpus.length,
    ramGiB: os.totalmem() / 2 ** 30,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    ...(x ? { xmllint: x.line, libxml2: x.libxml2 } : {}),
    date: new Date().toISOString(),
  };
}

export function formatMachine(m: MachineInfo): string[] {
  return [
    `CPU      ${m.cpu}`,
    `cores    ${m.cores}`,
    `RAM      ${m.ramGiB.toFixed(1)} GiB`,
    `OS       ${m.os}`,
    `node     ${m.node}`,
    `libxml2  ${m.libxml2 ?? 'n/a'}, used by xmllint ("${m.xmllint ?? 'xmllint missing'}")`,
    `date     ${m.date}`,
  ];
}

/** The machine on one line, for the head of the table. */
export function machineLine(m: MachineInfo): string {
  return `${m.cpu}, ${m.cores} cores, ${m.ramGiB.toFixed(1)} GiB RAM, ${m.os}, node ${m.node}, xmllint with libxml2 ${m.libxml2 ?? 'n/a'}`;
}
