// What one client may take of the sandbox: connections (in all and per address), time to log
// in, open handles per SFTP session, bytes per upload, and from what size a file is examined in
// the worker instead of on the event loop. Enforced at the TCP accept, before ssh2 sees the
// socket, so a client that opens sockets and never speaks still counts and is dropped.
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { Logger } from '../log.js';
import { MAX_FILE_BYTES } from './rules.js';

export interface SandboxLimits {
  /** connections open at once, all clients together */
  maxConnections: number;
  /** connections open at once from one IP address */
  maxConnectionsPerAddress: number;
  /** a connection not authenticated within this many seconds is dropped */
  loginTimeoutSeconds: number;
  /** SSH sessions (channels: one SFTP subsystem each) open at once on one connection */
  maxSessionsPerConnection: number;
  /** files and folders open at once in one SFTP session */
  maxHandlesPerSession: number;
  /** a write past this offset is refused; a larger file is judged XML_MALFORMED unread */
  maxUploadBytes: number;
  /** files larger than this are examined in the worker thread */
  workerThresholdBytes: number;
}

export const DEFAULT_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  maxConnections: 64,
  maxConnectionsPerAddress: 16,
  loginTimeoutSeconds: 30,
  maxSessionsPerConnection: 10,
  maxHandlesPerSession: 64,
  maxUploadBytes: MAX_FILE_BYTES,
  workerThresholdBytes: 1024 * 1024,
});

/** The defaults with `over` on top; throws naming the first value that is not a positive number. */
export function resolveLimits(over: Partial<SandboxLimits> = {}): SandboxLimits {
  const out: SandboxLimits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof SandboxLimits)[]) {
    const v = over[key];
    if (v === undefined) continue;
    const integer = key !== 'loginTimeoutSeconds';
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
      throw new Error(`sandbox: limit ${key} ${String(v)} must be a positive ${integer ? 'integer' : 'number'}`);
    }
    out[key] = v;
  }
  return out;
}

/** One line for the start-up output. */
export function describeLimits(l: SandboxLimits): string {
  return (
    `limits: ${l.maxConnections} connections (${l.maxConnectionsPerAddress} per address), login within ${l.loginTimeoutSeconds} s, ` +
    `${l.maxSessionsPerConnection} sessions per connection, ${l.maxHandlesPerSession} open handles per session, uploads up to ${l.maxUploadBytes} bytes (over ${l.workerThresholdBytes} judged in a worker)`
  );
}

export interface ConnectionGate {
  server: NetServer;
  /** the connection from remote ip:port authenticated: its login timer stops */
  authenticated(ip: string | undefined, port: number | undefined): void;
  /** destroys every socket still open */
  destroyAll(): void;
}

/**
 * A TCP server that admits a socket within the limits and hands it to `admit` (ssh2's
 * injectSocket), refuses the others (closed at once, logged), and drops a socket that has not
 * authenticated within loginTimeoutSeconds.
 */
export function connectionGate(limits: SandboxLimits, log: Logger, admit: (s: Socket) => void): ConnectionGate {
  const open = new Map<string, { socket: Socket; timer: NodeJS.Timeout | null }>();
  const perAddress = new Map<string, number>();
  const key = (ip: string | undefined, port: number | undefined) => `${ip ?? '?'}:${port ?? 0}`;

  const server = createServer((socket) => {
    if (!socket.remoteAddress) {
      socket.destroy(); // closed before it was accepted
      return;
    }
    const ip = socket.remoteAddress;
    const remote = key(socket.remoteAddress, socket.remotePort);
    const fromHere = perAddress.get(ip) ?? 0;
    if (open.size >= limits.maxConnections || fromHere >= limits.maxConnectionsPerAddress) {
      const which = open.size >= limits.maxConnections ? `${limits.maxConnections} in all` : `${limits.maxConnectionsPerAddress} from ${ip}`;
      log.warn(`sandbox: connection from ${remote} refused: already ${which} (the connection limit)`, { remote, open: open.size, fromAddress: fromHere });
      socket.destroy();
      return;
    }
    const timer = setTimeout(() => {
      log.warn(`sandbox: connection from ${remote} dropped: not authenticated within ${limits.loginTimeoutSeconds} s`, { remote });
      socket.destroy();
    }, limits.loginTimeoutSeconds * 1000);
    timer.unref();
    open.set(remote, { socket, timer });
    perAddress.set(ip, fromHere + 1);
    socket.once('close', () => {
      const entry = open.get(remote);
      if (entry?.timer) clearTimeout(entry.timer);
      open.delete(remote);
      const left = (perAddress.get(ip) ?? 1) - 1;
      if (left > 0) perAddress.set(ip, left);
      else perAddress.delete(ip);
    });
    admit(socket);
  });

  return {
    server,
    authenticated(ip, port) {
      const entry = open.get(key(ip, port));
      if (entry?.timer) {
        clearTimeout(entry.timer);
        entry.timer = null;
      }
    },
    destroyAll() {
      for (const { socket } of open.values()) socket.destroy();
    },
  };
}
