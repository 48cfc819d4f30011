// Errors from the API server, classified for the reflector's decisions.

/** A metav1.Status the server returned, as an HTTP error or an in-stream ERROR event. */
export interface KubeStatus {
  code?: number;
  reason?: string;
  message?: string;
  details?: { causes?: Array<{ reason?: string; message?: string }>; retryAfterSeconds?: number };
}

export type ApiErrorKind =
  /** 410: the resourceVersion or continue token is too old; relist from scratch. */
  | "expired"
  /** The resourceVersion asked for is ahead of the server (e.g. a restored etcd); relist. */
  | "too-large-rv"
  | "forbidden"
  | "unauthorized"
  /** 404 on a LIST or WATCH: the apiserver does not serve the resource (a CRD that is
   *  not installed, a group or version it does not have, a wrong plural). */
  | "not-found"
  | "throttled"
  | "server"
  | "network"
  | "stalled"
  /** Not the server's: the agent could not take a batch the observer read (a WAL append
   *  failed); the observer relists once it can, so nothing read is lost. */
  | "delivery"
  | "other";

export class ApiError extends Error {
  constructor(
    readonly kind: ApiErrorKind,
    message: string,
    readonly status?: number,
    /** Seconds the server asked us to wait (Retry-After header or Status details). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/**
 * The seconds a server asked us to wait, or undefined: the Retry-After header (delay
 * seconds, or an HTTP-date) first, else the Status's details.retryAfterSeconds. Anything
 * else — negative, fractional garbage, NaN, "soon", a non-number in the Status — is no
 * request at all. A huge value is kept as it is: the backoff caps it
 * (observer.backoff.maxRetryAfterMs).
 */
export function parseRetryAfter(header: string | string[] | null | undefined, status?: KubeStatus, now: () => number = Date.now): number | undefined {
  const text = (Array.isArray(header) ? header[0] : header)?.trim();
  if (text) {
    if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
    // RFC 9110's other form; only a real date with a weekday and GMT, not any text Date.parse takes.
    if (/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(text)) {
      const at = Date.parse(text);
      if (Number.isFinite(at)) return Math.max(0, Math.ceil((at - now()) / 1000));
    }
  }
  const fromStatus = status?.details?.retryAfterSeconds;
  return typeof fromStatus === "number" && Number.isFinite(fromStatus) && fromStatus >= 0 ? fromStatus : undefined;
}

export function classifyStatus(httpStatus: number, status: KubeStatus | undefined, retryAfterHeader?: string | string[] | null): ApiError {
  // Fields of the wrong type (a body that only looks like a Status) are not used.
  const code = typeof status?.code === "number" ? status.code : httpStatus;
  const message = typeof status?.message === "string" ? status.message : `HTTP ${httpStatus}`;
  const retryAfter = parseRetryAfter(retryAfterHeader, status);
  const causes = Array.isArray(status?.details?.causes) ? status.details.causes.filter((c) => c !== null && typeof c === "object") : [];
  if (code === 410 || status?.reason === "Expired" || status?.reason === "Gone") return new ApiError("expired", message, code, retryAfter);
  if (causes.some((c) => c.reason === "ResourceVersionTooLarge") || /too large resource version/i.test(message)) {
    return new ApiError("too-large-rv", message, code, retryAfter);
  }
  if (code === 403) return new ApiError("forbidden", message, code, retryAfter);
  if (code === 401) return new ApiError("unauthorized", message, code, retryAfter);
  if (code === 404) return new ApiError("not-found", message, code, retryAfter);
  if (code === 429) return new ApiError("throttled", message, code, retryAfter);
  if (code >= 500) return new ApiError("server", message, code, retryAfter);
  return new ApiError("other", message, code, retryAfter);
}
