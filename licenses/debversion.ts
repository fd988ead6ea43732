// Debian version comparison, dpkg's algorithm (lib/dpkg/version.c, deb-version(7)):
// [epoch:]upstream[-revision]; upstream and revision compare part by part, non-digit runs
// by a modified ASCII order in which letters sort before non-letters and '~' before
// everything, even the end of the string; digit runs numerically.

export interface DebVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

export class DebVersionError extends Error {}

export function parseDebVersion(text: string): DebVersion {
  const v = text.trim();
  if (v === '' || /\s/.test(v)) throw new DebVersionError(`"${text}": not a Debian version (empty or has spaces)`);
  const colon = v.indexOf(':');
  let epoch = 0;
  if (colon >= 0) {
    const e = v.slice(0, colon);
    if (!/^\d+$/.test(e)) throw new DebVersionError(`"${text}": the epoch must be a number`);
    epoch = Number(e);
  }
  const rest = v.slice(colon + 1);
  const dash = rest.lastIndexOf('-');
  const upstream = dash >= 0 ? rest.slice(0, dash) : rest;
  const revision = dash >= 0 ? rest.slice(dash + 1) : '';
  if (!/^[0-9]/.test(upstream)) throw new DebVersionError(`"${text}": the upstream version must start with a digit`);
  if (!/^[A-Za-z0-9.+~:-]*$/.test(upstream) || !/^[A-Za-z0-9.+~]*$/.test(revision)) throw new DebVersionError(`"${text}": invalid character in the version`);
  return { epoch, upstream, revision };
}

/** dpkg's order of one character: '~' first, then the end, digits, letters, other characters. */
function order(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === '~') return -1;
  if (/[0-9]/.test(c)) return 0;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

function compareString(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !/[0-9]/.test(a[i]!)) || (j < b.length && !/[0-9]/.test(b[j]!))) {
      const ac = order(a[i]);
      const bc = order(b[j]);
      if (ac !== bc) return ac - bc;
      i += 1;
      j += 1;
    }
    while (a[i] === '0') i += 1;
    while (b[j] === '0') j += 1;
    while (i < a.length && /[0-9]/.test(a[i]!) && j < b.length && /[0-9]/.test(b[j]!)) {
      if (firstDiff === 0) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i += 1;
      j += 1;
    }
    if (i < a.length && /[0-9]/.test(a[i]!)) return 1;
    if (j < b.length && /[0-9]/.test(b[j]!)) return -1;
    if (firstDiff !== 0) return firstDiff;
  }
  return 0;
}

/** <0, 0, >0 as dpkg --compare-versions a lt/eq/gt b. */
export function compareDebVersions(a: string, b: string): number {
  const x = parseDebVersion(a);
  const y = parseDebVersion(b);
  if (x.epoch !== y.epoch) return x.epoch - y.epoch;
  return compareString(x.upstream, y.upstream) || compareString(x.revision, y.revision);
}
