// `metrics.listen` (product.md 2, 9): where /metrics and /healthz are served. "9464" alone is
// 127.0.0.1:9464, so the short form is loopback; any other address must be written out as an IP
// literal (a host name could resolve anywhere, and an empty host would bind every interface).
import net from 'node:net';

export interface ListenAddress {
  host: string;
  port: number;
}

/** The address of `spec` ("PORT", "HOST:PORT", "[IPv6]:PORT"), or a problem text. */
export function parseListen(spec: string): ListenAddress | string {
  const m = /^(?:(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):)?(\d{1,5})$/.exec(spec.trim());
  if (!m) return 'must be PORT, HOST:PORT or [IPv6]:PORT';
  const port = Number(m[3]);
  if (port > 65535) return `port ${port} is out of range (0-65535; 0 picks a free one)`;
  const v6 = m[1];
  const host = v6 ?? m[2] ?? '127.0.0.1';
  if (v6 !== undefined && net.isIPv6(v6)) return { host: v6, port };
  if (v6 === undefined && (host === 'localhost' || net.isIPv4(host))) return { host, port };
  return `"${host}" is not an IP address (write the address to listen on, e.g. 127.0.0.1 or [::1])`;
}

/** Whether `host` is a loopback address (for the start log line). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
