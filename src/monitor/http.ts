// /metrics and /healthz on `metrics.listen` (product.md 9) with node:http, no framework.
// /healthz answers 200 with {healthy: true, problems: []} or 503 with the problems: for
// alerting and readiness, not for a liveness probe that restarts the service.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseListen } from '../config/listen.js';
import type { Logger } from '../log.js';
import { errText } from '../util/err-text.js';
import type { Health } from './health.js';

export interface MonitorServerDeps {
  listen: string;
  metrics(): Promise<string>;
  contentType: string;
  health(): Health;
  logger: Logger;
}

export interface MonitorServer {
  /** the bound address (port 0 gives a free one) */
  address: { host: string; port: number };
  close(): Promise<void>;
}

export async function startMonitorServer(deps: MonitorServerDeps): Promise<MonitorServer> {
  const at = parseListen(deps.listen);
  if (typeof at === 'string') throw new Error(`metrics.listen: ${at}`);
  const server = http.createServer((req, res) => {
    void answer(deps, req, res);
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => deps.logger.error('metrics server error', { error: errText(e) }));
  const bound = server.address() as AddressInfo;
  return {
    address: { host: bound.address, port: bound.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function answer(deps: MonitorServerDeps, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = (req.url ?? '/').split('?')[0];
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n', { allow: 'GET, HEAD' });
    if (url === '/metrics') return send(res, 200, deps.contentType, await deps.metrics());
    if (url === '/healthz') {
      const h = deps.health();
      return send(res, h.healthy ? 200 : 503, 'application/json', JSON.stringify(h) + '\n');
    }
    send(res, 404, 'text/plain', 'not found: /metrics or /healthz\n');
  } catch (e) {
    deps.logger.error('metrics request failed', { url, error: errText(e) });
    send(res, 500, 'text/plain', 'internal error; see the log\n');
  }
}

function send(res: http.ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
