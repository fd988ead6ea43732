// Size (20G) and duration (15m) literals, and their limits.

const SIZE_UNITS: Record<string, number> = { K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Bytes of `20G`, or undefined when the text is not a size. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)([KMGT])$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * (SIZE_UNITS[m[2] as string] as number);
}

/** Milliseconds of `15m`, or undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * (DURATION_UNITS[m[2] as string] as number);
}

/** `ms` as a duration literal in its largest exact unit (1800000 → `30m`); the inverse of parseDuration. */
export function durationLiteral(ms: number): string {
  const units = Object.entries(DURATION_UNITS).sort((a, b) => b[1] - a[1]);
  const [unit, size] = units.find(([, n]) => ms > 0 && ms % n === 0) ?? ['ms', 1];
  return `${ms / size}${unit}`;
}

export const LIMITS = {
  /** A disk image smaller than this cannot hold a bootable system. */
  minImageBytes: 64 * 1024 ** 2,
  maxImageBytes: 16 * 1024 ** 4,
  minTestTimeoutMs: 1000,
  maxTestTimeoutMs: 24 * 3_600_000,
  /** How long `emulate after` may leave steps to native workers. */
  minEmulateAfterMs: 1000,
  maxEmulateAfterMs: 24 * 3_600_000,
} as const;

/** `2026-12-31`: YYYY-MM-DD naming a day that exists (Date.parse takes 2025-02-30 as March 2nd). */
export function isCalendarDate(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(Date.UTC(y, mo - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d;
}
