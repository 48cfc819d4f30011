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

export function classifyStatus(httpStatus: number, status: KubeStatus | undefined, retryAfterHeader?: string | null): ApiError {
  const code = status?.code ?? httpStatus;
  const message = status?.message ?? `HTTP ${httpStatus}`;
  const retryHeader = retryAfterHeader ? Number(retryAfterHeader) : NaN;
  const retryAfter = Number.isFinite(retryHeader) ? retryHeader : status?.details?.retryAfterSeconds;
  const causes = status?.details?.causes ?? [];
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
