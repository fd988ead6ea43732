// Human sizes and durations on the command line: "7d", "36h", "50G", "512M".
import { EXIT, UserError } from './command';

const DURATION_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_BYTES: Record<string, number> = { K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

export function parseDurationFlag(flag: string, text: string): number {
  const m = /^(\d+)([smhd])$/.exec(text);
  if (!m) throw new UserError(`--${flag} "${text}": expected a number with s, m, h or d (e.g. 7d)`, EXIT.usage);
  return Number(m[1]) * DURATION_MS[m[2]!]!;
}

export function parseSizeFlag(flag: string, text: string): number {
  const m = /^(\d+)([KMGT]?)$/.exec(text);
  if (!m) throw new UserError(`--${flag} "${text}": expected bytes or a number with K, M, G or T (e.g. 50G)`, EXIT.usage);
  return Number(m[1]) * (m[2] ? SIZE_BYTES[m[2]]! : 1);
}
