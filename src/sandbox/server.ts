// The sandbox (product.md 7): an SFTP server on ssh2's Server that plays the manufacturer. It
// listens on 127.0.0.1 only, accepts public-key authentication only (any user name), serves the
// SFTP subsystem only (no shell, exec or forwarding), jails every path under `dir`, judges each
// file that arrives under /inbox/<MESSAGE_TYPE>/ and answers with an IE_PROCESSING_RESPONSE in
// /outbox/IE_PROCESSING_RESPONSE (processor.ts).
//
// Layout of `dir`:
//   hostkey, hostkey.pub        the host key (0600), made at first start, reused afterwards
//   authorized_keys             OpenSSH public key lines it accepts (read at every login)
//   client_key, client_key.pub  the embedded client's key (ensureClientKey), if used
//   inbox/<MESSAGE_TYPE>/       where files arrive, and stay          (SFTP: /inbox/...)
//   outbox/IE_PROCESSING_RESPONSE/  the acks                          (SFTP: /outbox/...)
//   pending-acks/               acks waiting for ackDelaySeconds
//   seen-fcn.jsonl, ack-counter.json, processed.jsonl   its memory and its judgements
// Only inbox/ and outbox/ are visible over SFTP.
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { AuthContext, Connection } from 'ssh2';
import { nullLogger, type Logger } from '../log.js';
import type { MessageTypeInfo } from '../messages/registry.js';
import { examineFile, type Examination } from './examine.js';
import { ExaminePool } from './examine-pool.js';
import { Jail, type Resolved } from './jail.js';
import { AUTHORIZED_KEYS_FILE, loadOrCreateHostKey, parseAuthorizedKeys, parseOneKey, publicKeyBlob } from './keys.js';
import { Processor, type ProcessedRecord } from './processor.js';
import { connectionGate, resolveLimits, type SandboxLimits } from './limits.js';
import { serveSftp } from './sftp-handler.js';

export interface SandboxOptions {
  /** the sandbox folder: SFTP "/" (inbox/, outbox/) plus its keys and state */
  dir: string;
  /** 0 (default): a free port */
  port?: number;
  /** only 127.0.0.1 is accepted */
  host?: '127.0.0.1';
  /** 0..1: the share of otherwise valid files answered with ERROR REJECTED_BY_SANDBOX; default 0 */
  rejectRate?: number;
  /** the ack is put into the ack folder this long after the file arrived; default 0 */
  ackDelaySeconds?: number;
  /** config.messageTypes: a file's folder name is its type's `code` */
  messageTypes: Record<string, MessageTypeInfo>;
  namespaces: { commontypes: string; ack: string };
  /** the manufacturer's id (the partner's receiverId): expected FileReceiverNumber, and the acks' sender */
  receiverId: string;
  /** the expected FileSenderNumber; when given, another sender is an ERROR */
  senderId?: string;
  /** OpenSSH public key lines accepted besides <dir>/authorized_keys */
  authorizedKeys?: string[];
  /** one more accepted key: an OpenSSH public key line, a private key (its public half) or a key blob */
  clientPublicKey?: Buffer;
  /** what one client may take (limits.ts); each left out is its default, DEFAULT_LIMITS */
  limits?: Partial<SandboxLimits>;
  /** tests only: the examine worker waits before each job until examineGate[0] is not 0 */
  examineGate?: Int32Array;
  logger?: Logger;
}

export interface Sandbox {
  port: number;
  /** "SHA256:..." of the host key, as `ssh-keygen -lf` prints it */
  hostKeySha256: string;
  /** the host key as an OpenSSH public key line */
  hostPublicKey: string;
  /** the sandbox folder (absolute) */
  dir: string;
  /** local folder of the acks: <dir>/outbox/IE_PROCESSING_RESPONSE */
  ackDir: string;
  /** the limits in force */
  limits: SandboxLimits;
  /** Stops listening, ends every connection, stops the ack timers (pending acks are kept). */
  close(): Promise<void>;
}

const LOOPBACK = '127.0.0.1';

export async function startSandbox(opts: SandboxOptions): Promise<Sandbox> {
  const host = opts.host ?? LOOPBACK;
  if (host !== LOOPBACK) throw new Error(`sandbox: listens on ${LOOPBACK} only, not ${String(host)}`);
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`sandbox: port ${port} is not 0..65535`);
  const rejectRate = opts.rejectRate ?? 0;
  if (!(rejectRate >= 0 && rejectRate <= 1)) throw new Error(`sandbox: rejectRate ${rejectRate} is not 0..1`);
  const ackDelaySeconds = opts.ackDelaySeconds ?? 0;
  if (!(ackDelaySeconds >= 0) || !Number.isFinite(ackDelaySeconds)) throw new Error(`sandbox: ackDelaySeconds ${ackDelaySeconds} must be >= 0`);
  if (!opts.receiverId) throw new Error('sandbox: receiverId is required');
  const limits = resolveLimits(opts.limits);
  const log = opts.logger ?? nullLogger;

  const dir = path.resolve(opts.dir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
  const hostKey = loadOrCreateHostKey(dir);

  const extraKeys: Buffer[] = [];
  for (const [i, line] of (opts.authorizedKeys ?? []).entries()) {
    const blob = publicKeyBlob(line);
    if (!blob) throw new Error(`sandbox: authorizedKeys[${i}] is not an OpenSSH public key line`);
    extraKeys.push(blob);
  }
  if (opts.clientPublicKey) {
    const blob = publicKeyBlob(opts.clientPublicKey);
    if (!blob) throw new Error('sandbox: clientPublicKey is not a public key');
    extraKeys.push(blob);
  }

  const processor = new Processor({
    dir,
    messageTypes: opts.messageTypes,
    namespaces: opts.namespaces,
    receiverId: opts.receiverId,
    ...(opts.senderId !== undefined ? { senderId: opts.senderId } : {}),
    rejectRate,
    ackDelaySeconds,
    maxFileBytes: limits.maxUploadBytes,
    logger: log,
  });
  const jail = new Jail(dir);
  const late = processor.judgeUnjudged();
  if (late.length) log.warn('sandbox: judged files that had arrived before a stop without being judged', { paths: late });

  // Judge arrivals after the client had its answer to the rename or close: small files one at
  // a time on this thread, large ones one at a time in the worker, so a large file holds up
  // neither the sessions nor the small files' acks. The conclusion (seen numbers, the ack) is
  // always made here, whole, so a FileControlNumber judged first is the one that counts.
  const pool = new ExaminePool(log, opts.examineGate);
  let inline: Promise<void> = Promise.resolve();
  let large: Promise<void> = Promise.resolve();
  let stopping = false;
  // whatever throws in examining or concluding (libxml2 out of memory, a full disk) is logged
  const conclude = (res: Resolved, examine: () => Examination): void => {
    if (stopping) return;
    try {
      processor.conclude(res.virt, examine());
    } catch (e) {
      log.error('sandbox: judging an arrived file failed', { path: res.virt, error: (e as Error).message });
    }
  };
  const onArrival = (res: Resolved): void => {
    let size = 0;
    try {
      size = fs.lstatSync(res.local).size;
    } catch {
      /* gone: examineFile says so */
    }
    if (size > limits.workerThresholdBytes) {
      large = large.then(async () => {
        if (stopping) return;
        const job = processor.jobFor(res.virt, res.local);
        const exam = await pool.examine(job).catch((e: Error) => {
          log.error('sandbox: the examine worker failed; judging on the main thread instead', { path: res.virt, error: e.message });
          return null;
        });
        conclude(res, () => exam ?? examineFile(job));
      });
      return;
    }
    inline = inline.then(
      () =>
        new Promise<void>((resolve) => {
          setImmediate(() => {
            conclude(res, () => examineFile(processor.jobFor(res.virt, res.local)));
            resolve();
          });
        }),
    );
  };

  const allowedKeys = (): Buffer[] => {
    const file = path.join(dir, AUTHORIZED_KEYS_FILE);
    let fromFile: Buffer[] = [];
    try {
      const parsed = parseAuthorizedKeys(fs.readFileSync(file, 'utf8'));
      if (parsed.bad.length) log.warn('sandbox: unreadable lines in authorized_keys ignored', { file, lines: parsed.bad });
      fromFile = parsed.keys;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.warn('sandbox: cannot read authorized_keys', { file, error: (e as Error).message });
    }
    return [...fromFile, ...extraKeys];
  };

  const connections = new Set<Connection>();
  const server = new ssh2.Server({ hostKeys: [hostKey.privateKey], ident: 'tlbridge-sandbox' }, (client, info) => {
    connections.add(client);
    const who = { remote: `${info.ip}:${info.port}` };
    client.on('error', (e: Error) => log.debug('sandbox: connection error', { ...who, error: e.message }));
    client.on('close', () => connections.delete(client));
    client.on('authentication', (ctx: AuthContext) => authenticate(ctx, allowedKeys(), log, who));
    client.on('ready', () => {
      gate.authenticated(info.ip, info.port);
      log.debug('sandbox: client authenticated', who);
      let sessions = 0;
      client.on('session', (accept, reject) => {
        // handles are counted per session: without this, more channels would mean more handles
        if (sessions >= limits.maxSessionsPerConnection) {
          log.warn(`sandbox: session refused: ${limits.maxSessionsPerConnection} already open on this connection (the session limit)`, who);
          reject();
          return;
        }
        sessions++;
        const session = accept();
        session.once('close', () => sessions--);
        session.on('sftp', (acceptSftp) => {
          const sftp = acceptSftp();
          serveSftp(sftp, { jail, logger: log, onArrival, maxHandles: limits.maxHandlesPerSession, maxUploadBytes: limits.maxUploadBytes });
        });
      });
    });
  });
  server.on('error', (e: Error) => log.error('sandbox: server error', { error: e.message }));
  // the TCP side is ours, so the limits apply before a socket reaches ssh2
  const gate = connectionGate(limits, log, (socket) => server.injectSocket(socket));
  const listener = gate.server;
  listener.on('error', (e: Error) => log.error('sandbox: server error', { error: e.message }));

  const bound = await new Promise<number>((resolve, reject) => {
    const onError = (e: Error) => reject(new Error(`sandbox: cannot listen on ${LOOPBACK}:${port}: ${e.message}`));
    listener.once('error', onError);
    listener.listen(port, LOOPBACK, () => {
      listener.off('error', onError);
      resolve((listener.address() as AddressInfo).port);
    });
  }).catch((e: unknown) => {
    processor.close();
    void pool.close();
    throw e;
  });
  log.info('sandbox listening', { host: LOOPBACK, port: bound, dir, hostKeySha256: hostKey.fingerprint });

  let closing: Promise<void> | null = null;
  return {
    port: bound,
    hostKeySha256: hostKey.fingerprint,
    hostPublicKey: hostKey.publicKey,
    dir,
    ackDir: processor.ackDir,
    limits,
    close() {
      if (closing) return closing;
      closing = (async () => {
        const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
        for (const c of connections) {
          try {
            c.end();
          } catch {
            /* already gone */
          }
        }
        // a client that does not answer the disconnect must not hold the stop up
        const forced = setTimeout(() => gate.destroyAll(), 1000);
        await Promise.race([closed, new Promise<void>((r) => setTimeout(r, 3000).unref())]);
        clearTimeout(forced);
        gate.destroyAll(); // sockets that never logged in have no ssh2 connection to end
        await Promise.all([inline, large]); // a judgement already started finishes
        stopping = true;
        await pool.close();
        processor.close();
        log.info('sandbox stopped', { port: bound });
      })();
      return closing;
    },
  };
}

function authenticate(ctx: AuthContext, allowed: Buffer[], log: Logger, who: Record<string, string>): void {
  if (ctx.method !== 'publickey') {
    ctx.reject(['publickey']);
    return;
  }
  const blob = ctx.key.data;
  if (!allowed.some((k) => k.equals(blob))) {
    log.info('sandbox: public key not authorized', { ...who, user: ctx.username, algo: ctx.key.algo });
    ctx.reject(['publickey']);
    return;
  }
  if (!ctx.signature || !ctx.blob) {
    ctx.accept(); // the client only asks whether this key would do: it would
    return;
  }
  const key = parseOneKey(blob);
  if (!key || key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) {
    log.info('sandbox: bad public key signature', { ...who, user: ctx.username });
    ctx.reject(['publickey']);
    return;
  }
  ctx.accept();
}

export type { ProcessedRecord };
