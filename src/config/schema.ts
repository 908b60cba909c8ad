// The configuration file's shape (product.md 2), validated with zod. Every key is listed here
// with its default; load.ts resolves paths, layouts and message types on top of it.
import { z } from 'zod';
import cron from 'node-cron';
import { ENCODINGS, RECORD_ROLES } from '../flatfile/layout.js';
import { LOG_FORMATS } from '../log-format.js';
import { DEFAULT_NAMESPACES, MESSAGE_TYPE_NAMES } from '../messages/registry.js';
import { isValidTimeZone } from '../flatfile/values.js';
import { parseListen } from './listen.js';

const cronExpr = z.string().refine((s) => s.trim().split(/\s+/).length >= 5 && cron.validate(s), {
  message: 'is not a cron expression (5 fields, or 6 with seconds first)',
});
/** Also the deadline of messages whose partner is no longer configured. */
export const DEFAULT_ACK_DEADLINE_MINUTES = 240;

const nonEmpty = z.string().min(1);

const fieldDef = z.union([
  nonEmpty.transform((name) => ({ name })),
  z
    .object({
      name: nonEmpty,
      position: z.number().int().min(1).optional(),
      from: z.number().int().min(1).optional(),
      to: z.number().int().min(1).optional(),
      format: nonEmpty.optional(),
      impliedDecimals: z.number().int().min(0).max(6).optional(),
    })
    .strict()
    .refine((f) => f.from == null || f.to == null || f.to >= f.from, { message: '`to` must not be before `from`' }),
]);

const recordDef = z.object({ code: nonEmpty.optional(), fields: z.array(fieldDef).min(1) }).strict();

export const layoutSchema = z
  .object({
    extends: nonEmpty.optional(),
    kind: z.enum(['delimited', 'fixed']).optional(),
    encoding: z.enum(ENCODINGS).optional(),
    decimalSeparator: z.enum(['.', ',']).optional(),
    delimiter: nonEmpty.optional(),
    quote: z.string().max(1).optional(),
    recordType: z.object({ from: z.number().int().min(1), to: z.number().int().min(1) }).strict().optional(),
    dateFormat: nonEmpty.optional(),
    timeFormat: nonEmpty.optional(),
    records: z.partialRecord(z.enum(RECORD_ROLES), recordDef).optional(),
  })
  .strict();
export type LayoutConfig = z.infer<typeof layoutSchema>;

const messageTypeOverride = z
  .object({
    code: z.string().regex(/^[A-Z0-9_]{1,64}$/, 'must be upper-case letters, digits and _').optional(),
    transactionType: z.string().min(1).max(30).optional(),
    version: z.string().min(1).max(20).optional(),
    namespace: nonEmpty.optional(),
    schema: nonEmpty.optional(),
  })
  .strict()
  .refine((o) => !o.namespace || o.schema, { message: 'a namespace override needs a schema override too', path: ['schema'] });

const sftpSchema = z
  .object({
    host: nonEmpty,
    port: z.number().int().min(1).max(65535).default(22),
    username: nonEmpty.optional(),
    privateKeyFile: nonEmpty.optional(),
    passwordFile: nonEmpty.optional(),
    passphraseFile: nonEmpty.optional(),
    hostKeySha256: z
      .union([nonEmpty, z.array(nonEmpty).min(1)])
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .pipe(z.array(z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'must look like SHA256:<43 base64 characters>, as ssh-keygen -lf prints it')))
      .optional(),
    inboxDir: nonEmpty.default('/inbox'),
    ackDir: nonEmpty.default('/outbox/IE_PROCESSING_RESPONSE'),
    ackAfterRead: z
      .string()
      .regex(/^(delete|keep|move:.+)$/, 'must be delete, keep or move:<dir>')
      .default('delete'),
    tempSuffix: z.string().regex(/^\.[A-Za-z0-9._-]+$/, 'must start with a dot').default('.part'),
    connections: z.number().int().min(1).max(16).default(4),
    timeoutMs: z.number().int().min(1000).default(30000),
    maxAckBytes: z.number().int().min(1024).default(10 * 1024 * 1024),
    // per ack poll (product.md 6, acks are untrusted): what is over a limit waits for the next poll
    maxAckEntries: z.number().int().min(1).default(10_000),
    maxAcksPerPoll: z.number().int().min(1).default(1_000),
    maxAckBytesPerPoll: z.number().int().min(1024).default(256 * 1024 * 1024),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.host === 'embedded') return;
    if (!s.username) ctx.addIssue({ code: 'custom', path: ['username'], message: 'is required' });
    if (!s.privateKeyFile && !s.passwordFile) ctx.addIssue({ code: 'custom', path: ['privateKeyFile'], message: 'privateKeyFile or passwordFile is required' });
    // product.md 6: no silent trust-on-first-use; only the embedded sandbox hands its key over in-process
    if (!s.hostKeySha256) ctx.addIssue({ code: 'custom', path: ['hostKeySha256'], message: 'is required (the server host key fingerprint, as ssh-keygen -lf prints it)' });
  });

const partnerSchema = z
  .object({
    receiverId: z.string().min(1).max(20),
    usage: z.enum(['TEST', 'PRODUCTION']),
    defaults: z
      .object({
        customerNumber: z.string().max(80).default(''),
        supplierNumber: z.string().max(80).default(''),
        shipToNumber: z.string().max(80).default(''),
      })
      .strict()
      .default({ customerNumber: '', supplierNumber: '', shipToNumber: '' }),
    schedule: cronExpr.default('*/15 * * * *'),
    ackPoll: cronExpr.default('*/5 * * * *'),
    ackDeadlineMinutes: z.number().int().min(1).default(DEFAULT_ACK_DEADLINE_MINUTES),
    duplicateErrorCodes: z.array(nonEmpty).default(['DUPLICATE_FILE']),
    maxBatchMessages: z.number().int().min(1).max(100000).default(500),
    sftp: sftpSchema,
    sandbox: z
      .object({ rejectRate: z.number().min(0).max(1).default(0), ackDelaySeconds: z.number().min(0).default(0) })
      .strict()
      .optional(),
  })
  .strict();

const inboundSchema = z
  .object({
    path: nonEmpty,
    layout: nonEmpty.default('erp-delimited'),
    stableMs: z.number().int().min(0).default(2000),
    messageType: z.enum(MESSAGE_TYPE_NAMES).optional(),
    partner: nonEmpty.optional(),
  })
  .strict();

export const configSchema = z
  .object({
    sender: z
      .object({
        id: z.string().min(1).max(20),
        controlNumberPrefix: z.string().regex(/^[A-Za-z0-9]{0,8}$/, 'must be at most 8 letters or digits').default('C'),
      })
      .strict(),
    timezone: z.string().refine(isValidTimeZone, { message: 'is not an IANA time zone' }).default('UTC'),
    dataDir: nonEmpty.default('../var'),
    inbound: z.array(inboundSchema).min(1),
    rescanSeconds: z.number().int().min(1).default(60),
    maxLineBytes: z.number().int().min(256).default(65536),
    // product.md 6: a larger input is FAILED unread (reason too-large), hashed but not archived
    maxInputBytes: z.number().int().min(1).default(314572800),
    layouts: z.record(z.string().regex(/^[A-Za-z0-9._-]+$/, 'layout names are letters, digits, . _ -'), layoutSchema).default({}),
    messageTypes: z.partialRecord(z.enum(MESSAGE_TYPE_NAMES), messageTypeOverride).default({}),
    namespaces: z
      .object({
        commontypes: nonEmpty.default(DEFAULT_NAMESPACES.commontypes),
        ack: nonEmpty.default(DEFAULT_NAMESPACES.ack),
      })
      .strict()
      .default({ ...DEFAULT_NAMESPACES }),
    // a site's own ack XSD and common-types XSD (relative to the config file); a namespaces
    // override needs the matching one (load.ts checks that on the file as written)
    schemas: z.object({ ack: nonEmpty.optional(), commontypes: nonEmpty.optional() }).strict().default({}),
    reversals: z.object({ requireKnownOriginal: z.boolean().default(true) }).strict().default({ requireKnownOriginal: true }),
    partners: z.record(z.string().regex(/^[A-Za-z0-9._-]{1,20}$/, 'partner codes are 1-20 letters, digits, . _ -'), partnerSchema),
    // product.md 9: retentionDays 0 keeps everything; legalHold suspends pruning
    archive: z
      .object({ retentionDays: z.number().int().min(0).default(2555), pruneAt: cronExpr.default('30 3 * * *'), legalHold: z.boolean().default(false) })
      .strict()
      .default({ retentionDays: 2555, pruneAt: '30 3 * * *', legalHold: false }),
    log: z
      .object({
        level: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
        // auto: readable lines when stdout is a terminal, JSON lines otherwise (journald)
        format: z.enum(LOG_FORMATS).default('auto'),
      })
      .strict()
      .default({ level: 'info', format: 'auto' }),
    // "9464" means 127.0.0.1:9464; any other address is written out (listen.ts)
    metrics: z
      .object({
        listen: z.union([z.string(), z.number().int()]).transform((v, ctx) => {
          const a = parseListen(String(v));
          if (typeof a === 'string') ctx.addIssue({ code: 'custom', message: a });
          return String(v);
        }),
      })
      .strict()
      .optional(),
  })
  .strict();

export type RawConfig = z.infer<typeof configSchema>;
export type PartnerConfig = RawConfig['partners'][string];
export type SftpConfig = PartnerConfig['sftp'];
