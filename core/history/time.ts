// The times the history commands take: an ISO 8601 date or date-time (2026-12-01,
// 2026-12-01T09:30:00Z; no zone: UTC), "now", or a time before now ("now-90m", "2h ago", "now-7d", or
// "-90m" written --at=-90m, since a leading "-" reads as an option; units s, m, h, d, w).
const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function parseTime(text: string, nowMs = Date.now()): number {
  const t = text.trim();
  if (t === "now") return nowMs;
  const relative = /^(?:now\s*-\s*|-\s*)?(\d+(?:\.\d+)?)\s*([smhdw])(?:\s+ago)?$/i.exec(t);
  if (relative && (t.startsWith("-") || /ago$/i.test(t) || /^now/i.test(t))) return nowMs - Number(relative[1]) * UNIT_MS[relative[2]!.toLowerCase()]!;
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.test(t)) {
    const zoned = /(Z|[+-]\d{2}:?\d{2})$/i.test(t) || t.length === 10 ? t : `${t}Z`;
    const ms = Date.parse(zoned.replace(" ", "T"));
    if (Number.isFinite(ms)) return ms;
  }
  throw new Error(
    `cannot read the time "${text}": give an ISO 8601 time (2026-12-01T09:30:00Z; no zone means UTC), "now", or a time before now ("now-90m", "2h ago", "now-7d")`,
  );
}

export function formatTime(ms: number | null): string {
  return ms === null ? "now" : new Date(ms).toISOString();
}
