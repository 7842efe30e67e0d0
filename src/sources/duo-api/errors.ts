/**
 * Turns every way a Duo call can fail into one coded DuoApiError whose message names the host, the
 * call, Duo's own code and message, and what the operator should do. Retry logic reads `code`.
 */
import { RelayError, ErrorCodes, type ErrorCode, systemCode, errorMessage } from '../../errors.js';

export class DuoApiError extends RelayError {
  /** HTTP status, when Duo answered at all. */
  readonly status: number | undefined;
  /** Duo's five-digit code (42901, 40301…), when the body carried one. */
  readonly duoCode: number | undefined;
  readonly duoMessage: string | undefined;
  /** Duo's clock minus ours, from the response Date (clock errors only). */
  readonly skewMs: number | undefined;
  constructor(code: ErrorCode, message: string, extra: { status?: number; duoCode?: number; duoMessage?: string; skewMs?: number; cause?: unknown } = {}) {
    super(code, message, extra.cause !== undefined ? { cause: extra.cause } : undefined);
    this.name = 'DuoApiError';
    this.status = extra.status;
    this.duoCode = extra.duoCode;
    this.duoMessage = extra.duoMessage;
    this.skewMs = extra.skewMs;
  }
}

/** What the call was, for messages: `GET /admin/v2/logs/authentication on api-x.duosecurity.com`. */
export interface CallLabel {
  method: string;
  path: string;
  host: string;
}

function label(c: CallLabel): string {
  return `${c.method} ${c.path} on ${c.host}`;
}

/** Duo's failure envelope `{stat:"FAIL", code, message, message_detail}`, read defensively. */
export function failEnvelope(body: unknown): { code?: number; message?: string } {
  if (typeof body !== 'object' || body === null) return {};
  const out: { code?: number; message?: string } = {};
  const rec = body as Record<string, unknown>;
  if (typeof rec.code === 'number') out.code = rec.code;
  else if (typeof rec.code === 'string' && /^\d+$/.test(rec.code)) out.code = Number(rec.code);
  const parts = [rec.message, rec.message_detail].filter((p): p is string => typeof p === 'string' && p !== '');
  if (parts.length > 0) out.message = parts.join(': ').slice(0, 300);
  return out;
}

function formatSkew(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  const text = s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
  return ms >= 0 ? `${text} behind Duo's` : `${text} ahead of Duo's`;
}

/** A non-2xx answer (or a 2xx whose stat is not OK) → coded error. */
export function httpError(c: CallLabel, status: number, body: unknown, skewMs: number | undefined): DuoApiError {
  const env = failEnvelope(body);
  const duo = env.code !== undefined || env.message !== undefined ? ` (Duo code ${env.code ?? 'none'}: ${env.message ?? 'no message'})` : '';
  const extra = { status, ...(env.code !== undefined ? { duoCode: env.code } : {}), ...(env.message !== undefined ? { duoMessage: env.message } : {}) };
  if (status === 429 || env.code === 42901) {
    return new DuoApiError(ErrorCodes.DUO_RATE_LIMIT, `Duo rate-limited ${label(c)} (HTTP ${status}${duo}); this endpoint waits out a backoff and skips its cycle.`, extra);
  }
  if (status === 401 && (env.code === 40103 || env.code === 40105)) {
    const skew = skewMs !== undefined ? `this host's clock is ${formatSkew(skewMs)} (measured from the response Date)` : 'the response carried no Date to measure the skew';
    const extraSkew = skewMs !== undefined ? { skewMs } : {};
    // 40103 with clocks in step is a bad signature, not a bad clock: point at the keys first.
    if (env.code === 40103 && skewMs !== undefined && Math.abs(skewMs) < 60_000) {
      return new DuoApiError(ErrorCodes.DUO_AUTH, `Duo refused the signature of ${label(c)} (HTTP 401${duo}): ${skew}, so check the ikey and skey first, then the clock.`, { ...extra, ...extraSkew });
    }
    return new DuoApiError(ErrorCodes.DUO_CLOCK, `Duo refused the signed request time for ${label(c)} (HTTP 401${duo}): ${skew}. Check the clock (NTP/chrony) on this host.`, { ...extra, ...extraSkew });
  }
  if (status === 401) {
    return new DuoApiError(ErrorCodes.DUO_AUTH, `Duo refused the credentials for ${label(c)} (HTTP 401${duo}): check the ikey, the skey and that the host is this Admin API application's API hostname.`, extra);
  }
  if (status === 403) {
    return new DuoApiError(
      ErrorCodes.DUO_AUTH,
      `Duo forbade ${label(c)} (HTTP 403${duo}): give the Admin API application the "Grant read log" permission in the Duo Admin Panel, and make sure its IP allow-list ("Networks for API access") includes this host.`,
      extra,
    );
  }
  if (status === 200) {
    return new DuoApiError(ErrorCodes.DUO_RESPONSE, `Duo answered ${label(c)} with HTTP 200 but stat is not OK${duo}; retrying next cycle.`, extra);
  }
  const what = status >= 500 ? 'a server error' : 'an error';
  return new DuoApiError(ErrorCodes.DUO_API, `Duo answered ${label(c)} with ${what}: HTTP ${status}${duo}; retrying next cycle.`, extra);
}

/** A body that is not Duo's JSON (an HTML 502 from a load balancer, a cut-off body). */
export function bodyError(c: CallLabel, status: number, contentType: string | undefined, text: string, cause?: unknown): DuoApiError {
  const title = /<title>([^<]{1,120})<\/title>/i.exec(text)?.[1]?.trim();
  const kind = title !== undefined ? `an HTML page "${title}"` : text.trim() === '' ? 'an empty body' : `a body that is not valid JSON (${text.length} bytes, ${contentType ?? 'no content-type'}; truncated?)`;
  return new DuoApiError(ErrorCodes.DUO_RESPONSE, `Duo answered ${label(c)} with HTTP ${status} and ${kind}; retrying next cycle.`, {
    status,
    ...(cause !== undefined ? { cause } : {}),
  });
}

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|HOSTNAME_MISMATCH)/;

/** A transport failure (DNS, connect, TLS, timeout, reset) → coded error. `phase` tells body from headers. */
export function transportError(c: CallLabel, err: unknown, phase: 'request' | 'body'): DuoApiError {
  const sys = systemCode(err) ?? '';
  const msg = errorMessage(err);
  if (sys === 'UND_ERR_CONNECT_TIMEOUT') {
    return new DuoApiError(ErrorCodes.CONNECT_TIMEOUT, `Connecting to ${c.host} timed out for ${label(c)}; check the network path or proxy to Duo (connect_timeout_ms).`, { cause: err });
  }
  if (sys === 'UND_ERR_HEADERS_TIMEOUT' || sys === 'UND_ERR_BODY_TIMEOUT' || sys === 'DR_ERR_HTTP_TIMEOUT') {
    const which = sys === 'UND_ERR_HEADERS_TIMEOUT' ? 'response headers (headers_timeout_ms)' : 'the response body (body_timeout_ms)';
    return new DuoApiError(ErrorCodes.HTTP_TIMEOUT, `Timed out waiting for ${which} of ${label(c)}; retrying next cycle.`, { cause: err });
  }
  if (sys === 'ENOTFOUND' || sys === 'EAI_AGAIN') {
    return new DuoApiError(ErrorCodes.CONNECT, `Cannot resolve ${c.host} (${sys}) for ${label(c)}; check DNS and the host setting.`, { cause: err });
  }
  if (TLS_CODE.test(sys) || /certificate|self.signed|altnames/i.test(msg)) {
    return new DuoApiError(ErrorCodes.TLS, `TLS verification of ${c.host} failed (${sys || msg}); if a TLS-inspecting proxy sits in between, set ca to its CA file.`, { cause: err });
  }
  if (phase === 'body') {
    return new DuoApiError(ErrorCodes.DUO_RESPONSE, `The response body of ${label(c)} was cut off (${sys || msg}); retrying next cycle.`, { cause: err });
  }
  return new DuoApiError(ErrorCodes.CONNECT, `Request ${label(c)} failed: ${sys !== '' ? `${sys}: ` : ''}${msg}; retrying next cycle.`, { cause: err });
}
