/**
 * The one source of config types (house style 2). YAML keys are snake_case, units are in the
 * names, every object is strict (an unknown key is an error that names its path).
 */
import { z } from 'zod';
import { LOG_KINDS } from '../event.js';
import { FACILITIES } from '../formats/facilities.js';

export { FACILITIES };

const port = z.number().int().min(1).max(65535);
const ms = (def: number) => z.number().int().min(0).max(86_400_000).default(def);
const nonEmpty = z.string().min(1);

/** A syslog facility by name or number. Default `auth` (4): these are authentication logs. */
const facility = z.union([z.enum(Object.keys(FACILITIES) as [keyof typeof FACILITIES]), z.number().int().min(0).max(23)]);

/** Jittered exponential backoff for reconnects and retries. */
export const backoffSchema = z
  .object({
    /** First delay. @default 500 */
    min_ms: z.number().int().min(1).default(500),
    /** Cap. @default 30000 */
    max_ms: z.number().int().min(1).default(30_000),
    /** Growth per attempt. @default 2 */
    factor: z.number().min(1).max(10).default(2),
    /** Random share of each delay, 0..1 (full jitter at 1). @default 0.5 */
    jitter: z.number().min(0).max(1).default(0.5),
  })
  .strict();
export type BackoffConfig = z.infer<typeof backoffSchema>;
const backoffDefault = { min_ms: 500, max_ms: 30_000, factor: 2, jitter: 0.5 };

// ---------------------------------------------------------------- sources

export const authproxySourceSchema = z
  .object({
    type: z.literal('authproxy'),
    /** Name in logs, metrics and the checkpoint file. @default "authproxy" */
    name: nonEmpty.default('authproxy'),
    /** The live log file; rotated siblings are `<path>.1…N`. */
    path: nonEmpty.default('/opt/duoauthproxy/log/authevents.log'),
    /**
     * Where to start on the very first run (no checkpoint yet): `beginning` = the live file from
     * byte 0 (rotated files present at first run are skipped as old history); `end` = after the
     * last complete line. @default "beginning"
     */
    start_at: z.enum(['beginning', 'end']).default('beginning'),
    /** HEADER hostname for these events. @default the machine's hostname */
    hostname: nonEmpty.optional(),
    /** stat() poll period; file-system events only wake the reader earlier. @default 500 */
    poll_interval_ms: z.number().int().min(10).max(60_000).default(500),
    /** Longer lines are dead-lettered with a preview; following lines keep flowing. @default 1048576 */
    max_line_bytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
    /** Emit a trailing fragment without newline after this idle time; 0 = never (rotated files flush theirs after 5 s regardless). @default 0 */
    partial_line_flush_ms: z.number().int().min(0).default(0),
    /** Bytes at the head of a file hashed for its identity. @default 256 */
    fingerprint_bytes: z.number().int().min(16).max(65536).default(256),
    /** Highest rotated sibling scanned at start (`.1`…`.N`). @default 10 */
    max_rotated_files: z.number().int().min(0).max(1000).default(10),
    /**
     * Lines per batch handed to the pipeline (a batch also ends at 4 MiB of lines). @default 1000
     * with the disk queue (one fsync per batch), 500 without it (the route thread formats one batch
     * while the previous one is written)
     */
    batch_lines: z.number().int().min(1).max(100_000).optional().describe('Default: 1000 with the disk queue, 500 without'),
    /**
     * Least time between two checkpoint writes that only move offsets (a new or vanished file is
     * written at once). A crash re-sends at most this much more; 0 writes after every batch. @default 250
     */
    checkpoint_interval_ms: z.number().int().min(0).max(60_000).default(250),
  })
  .strict();

export const DUO_API_LOGS = [
  'administrator',
  'authentication',
  'telephony',
  'offline-enrollment',
  'activity',
  'trust-monitor',
] as const;

export const duoApiSourceSchema = z
  .object({
    type: z.literal('duo-api'),
    /** @default the API host */
    name: nonEmpty.optional(),
    /** API hostname, optionally host:port. */
    host: z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'expected a hostname such as api-xxxxxxxx.duosecurity.com (optionally :port)'),
    /** Admin API integration key. */
    ikey: z.string().regex(/^[A-Za-z0-9]{10,40}$/, 'expected an integration key such as DIXXXXXXXXXXXXXXXXXX'),
    /** Secret key inline (prefer `${ENV}` or skey_file). Never logged. */
    skey: nonEmpty.optional(),
    /** File holding the secret key (mode 0600), e.g. a systemd credential. */
    skey_file: nonEmpty.optional(),
    /** Log endpoints to poll. @default all */
    logs: z.array(z.enum(DUO_API_LOGS)).min(1).default([...DUO_API_LOGS]),
    /** Telephony endpoint version (v1 for old accounts). @default 2 */
    telephony_version: z.union([z.literal(1), z.literal(2)]).default(2),
    /** Extra trusted CA file (TLS-inspecting proxy, test server). */
    ca: nonEmpty.optional(),
    /** HTTPS proxy URL; `HTTPS_PROXY` is honoured when unset. */
    proxy: z.string().url().optional(),
    /** First run: how far back to start, e.g. `1h`, `7d` (≤180d). @default "1d" */
    initial_window: z.string().regex(/^\d+[smhd]$/, 'expected a duration such as 30m, 12h or 7d').default('1d'),
    /** Minimum time between requests to one endpoint (Duo allows about 1/min). @default 60000 */
    request_interval_ms: z.number().int().min(0).max(3_600_000).default(60_000),
    /** Time between polling cycles per endpoint. @default 120000 */
    poll_interval_ms: z.number().int().min(1000).max(86_400_000).default(120_000),
    /** Backoff after 429 / 42901. */
    rate_limit_backoff: backoffSchema.default({ min_ms: 60_000, max_ms: 900_000, factor: 2, jitter: 0.5 }),
    connect_timeout_ms: ms(10_000),
    headers_timeout_ms: ms(30_000),
    body_timeout_ms: ms(60_000),
    /** MSP parent account: list child accounts and poll each. @default false */
    msp: z.boolean().default(false),
    /** Relist child accounts this often. @default 3600000 */
    msp_relist_interval_ms: z.number().int().min(60_000).default(3_600_000),
    /** HTTP signature version. @default 5 */
    sig_version: z.union([z.literal(2), z.literal(5)]).default(5),
  })
  .strict()
  .refine((s) => s.skey !== undefined || s.skey_file !== undefined, {
    message: 'set skey_file (recommended) or skey (e.g. ${DUO_SKEY}); the secret key is required',
    path: ['skey_file'],
  });

const listenSchema = z
  .object({
    transport: z.enum(['udp', 'tcp', 'tls']),
    host: nonEmpty.default('0.0.0.0'),
    port,
    cert: nonEmpty.optional(),
    key: nonEmpty.optional(),
    /** CA for client certificates (mutual TLS). */
    ca: nonEmpty.optional(),
    /** Require and verify a client certificate. @default false */
    require_client_cert: z.boolean().default(false),
  })
  .strict()
  .refine((l) => l.transport !== 'tls' || (l.cert !== undefined && l.key !== undefined), {
    message: 'a tls listener needs cert and key',
    path: ['cert'],
  });

export const syslogSourceSchema = z
  .object({
    type: z.literal('syslog'),
    name: nonEmpty.default('syslog'),
    listen: listenSchema,
    /** Larger frames are dead-lettered and the connection resynchronised or closed. @default 262144 */
    max_frame_bytes: z.number().int().min(480).max(16 * 1024 * 1024).default(256 * 1024),
    /** @default 1000 */
    max_connections: z.number().int().min(1).max(100_000).default(1000),
    /** Close a connection idle this long. @default 300000 */
    idle_timeout_ms: ms(300_000),
  })
  .strict();

export const sourceSchema = z.discriminatedUnion('type', [authproxySourceSchema, duoApiSourceSchema, syslogSourceSchema]);

// ---------------------------------------------------------------- destinations

/** How each event becomes a message. */
const formatFields = {
  /** Wire format. @default "rfc5424" */
  format: z.enum(['rfc5424', 'rfc3164', 'cef', 'leef', 'json']).default('rfc5424'),
  /** MSG body: flattened JSON, the original JSON, or ECS JSON. @default "flattened" */
  message: z.enum(['flattened', 'raw', 'ecs']).default('flattened'),
  /** Syslog facility. @default "auth" */
  facility: facility.default('auth'),
  /** Private SD-ID enterprise number (RFC 5424 §7.2.2); 32473 is the documentation PEN. @default 32473 */
  enterprise_id: z.number().int().min(1).default(32473),
  /** Prefix MSG with a UTF-8 BOM (RFC 5424 MSG-UTF8). Off: many SIEMs choke on it. @default false */
  bom: z.boolean().default(false),
  /** Longer messages are truncated at a UTF-8 boundary and counted. @default 65536 */
  max_message_bytes: z.number().int().min(480).max(16 * 1024 * 1024).default(65_536),
};

const tlsFields = {
  /** CA bundle to verify the SIEM (system CAs when unset). */
  ca: nonEmpty.optional(),
  /** Client certificate and key for mutual TLS. */
  cert: nonEmpty.optional(),
  key: nonEmpty.optional(),
  /** Name checked against the certificate. @default host */
  servername: nonEmpty.optional(),
  /** Pin the SIEM's end-entity certificate (SHA-256, hex with or without colons). */
  fingerprint_sha256: z
    .string()
    .regex(/^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$/, 'expected 32 hex bytes, e.g. AB:CD:… (openssl x509 -fingerprint -sha256)')
    .optional(),
  /** @default "TLSv1.2" */
  min_version: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
};

const hostPort = z.object({ host: nonEmpty, port }).strict();

export const syslogDestinationSchema = z
  .object({
    type: z.literal('syslog'),
    /** @default "<transport>://host:port" */
    name: nonEmpty.optional(),
    host: nonEmpty,
    port,
    /** Further hosts tried in order when the current one fails (failover). */
    failover: z.array(hostPort).default([]),
    transport: z.enum(['tcp', 'tls', 'udp', 'relp']).default('tls'),
    /** Stream framing: RFC 6587 octet counting, or LF for legacy receivers. @default "octet-counting" */
    framing: z.enum(['octet-counting', 'lf']).default('octet-counting'),
    ...formatFields,
    ...tlsFields,
    /** Use TLS for RELP. @default false */
    relp_tls: z.boolean().default(false),
    connect_timeout_ms: ms(10_000),
    handshake_timeout_ms: ms(10_000),
    write_timeout_ms: ms(30_000),
    /** A connection must stay healthy this long past the handshake before writes count as delivered. @default 300 */
    settle_ms: ms(300),
    /** Events per write batch. @default 500 */
    batch_events: z.number().int().min(1).max(100_000).default(500),
    backoff: backoffSchema.default(backoffDefault),
    /** TCP keepalive probe delay. @default 30000 */
    keepalive_ms: ms(30_000),
  })
  .strict();

export const stdoutDestinationSchema = z
  .object({
    type: z.literal('stdout'),
    name: nonEmpty.default('stdout'),
    ...formatFields,
    /** Framing on stdout: one message per line (raw LFs escaped) or octet counting. @default "lf" */
    framing: z.enum(['octet-counting', 'lf']).default('lf'),
  })
  .strict();

export const destinationSchema = z.discriminatedUnion('type', [syslogDestinationSchema, stdoutDestinationSchema]);

// ---------------------------------------------------------------- top level

/** Tag overrides (DESIGN §2), e.g. `authproxy: auth.duo.authenticationProxy.events`. */
export const tagsSchema = z
  .object({
    administrator_login: nonEmpty.optional(),
    administrator: nonEmpty.optional(),
    authentication: nonEmpty.optional(),
    telephony: nonEmpty.optional(),
    authproxy: nonEmpty.optional(),
    'offline-enrollment': nonEmpty.optional(),
    activity: nonEmpty.optional(),
    'trust-monitor': nonEmpty.optional(),
  })
  .strict();

export const queueSchema = z
  .object({
    /** Disk queue between router and destinations. @default true */
    enabled: z.boolean().default(true),
    /** Byte cap across segments. @default 1073741824 (1 GiB) */
    max_bytes: z.number().int().min(1024 * 1024).default(1024 * 1024 * 1024),
    /** When full: block the sources, or drop the oldest segment (counted and logged). @default "block" */
    overflow: z.enum(['block', 'drop_oldest']).default('block'),
    /** @default 16777216 */
    segment_bytes: z.number().int().min(64 * 1024).default(16 * 1024 * 1024),
  })
  .strict();

export const configSchema = z
  .object({
    /** Checkpoints, cursors, the disk queue and dead letters live here. @default "/var/lib/duo-relay" */
    state_dir: nonEmpty.default('/var/lib/duo-relay'),
    /** Dead-letter file for records that could not be parsed. @default "<state_dir>/dead-letter.jsonl" */
    dead_letter_path: nonEmpty.optional(),
    /** The relay's own log. */
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
        /** Log file; stderr when unset (journald under systemd). */
        file: nonEmpty.optional(),
      })
      .strict()
      .default({ level: 'info' }),
    tags: tagsSchema.default({}),
    queue: queueSchema.default({ enabled: true, max_bytes: 1024 * 1024 * 1024, overflow: 'block', segment_bytes: 16 * 1024 * 1024 }),
    /**
     * Route events on a second thread: with the disk queue it encodes them beside the queue's writing
     * and the destinations' sending; without it, it also formats and frames them when every
     * destination is tcp or tls syslog. About 10 MB more memory; false keeps the relay on one thread
     * (one-core hosts). @default true
     */
    route_thread: z.boolean().default(true),
    /** Prometheus /metrics and /healthz listener, e.g. `127.0.0.1:9464`; off when unset. */
    metrics_listen: z.string().regex(/^[^:]+:\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:9464').optional(),
    /** SIGTERM: stop reading, flush, checkpoint, then exit within this time. @default 10000 */
    shutdown_timeout_ms: ms(10_000),
    sources: z.array(sourceSchema).default([]),
    destinations: z.array(destinationSchema).min(1, 'at least one destination is needed'),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type SourceConfig = z.infer<typeof sourceSchema>;
export type AuthproxySourceConfig = z.infer<typeof authproxySourceSchema>;
export type DuoApiSourceConfig = z.infer<typeof duoApiSourceSchema>;
export type SyslogSourceConfig = z.infer<typeof syslogSourceSchema>;
export type DestinationConfig = z.infer<typeof destinationSchema>;
export type SyslogDestinationConfig = z.infer<typeof syslogDestinationSchema>;
export type StdoutDestinationConfig = z.infer<typeof stdoutDestinationSchema>;
export type TagOverrides = z.infer<typeof tagsSchema>;
export type QueueConfig = z.infer<typeof queueSchema>;
export type DuoApiLog = (typeof DUO_API_LOGS)[number];
/** The fields every formatting destination shares. */
export type FormatOptions = Pick<SyslogDestinationConfig, 'format' | 'message' | 'facility' | 'enterprise_id' | 'bom' | 'max_message_bytes'>;

export { LOG_KINDS };
