// Checks of single values written in recipes. Each returns undefined when the value is fine,
// or the problem (and maybe a hint) in words for the diagnostic.
import spdxIds from 'spdx-license-ids/index.json';
import type { ToolchainName } from '../plan/arches';
import { closest } from './suggest';

export interface Problem {
  message: string;
  hint?: string;
}

const SPDX = new Set<string>(spdxIds as string[]);
const SPDX_LOWER = new Map<string, string>((spdxIds as string[]).map((id) => [id.toLowerCase(), id]));

export function checkLicenseId(id: string): Problem | undefined {
  if (SPDX.has(id)) return undefined;
  if (/^LicenseRef-[A-Za-z0-9.-]+$/.test(id)) return undefined;
  const exact = SPDX_LOWER.get(id.toLowerCase());
  const hint = exact ? `did you mean \`${exact}\`?` : suggestLicense(id);
  return { message: `\`${id}\` is neither an SPDX license id nor a \`LicenseRef-\` id`, hint };
}

/** Hints by id: a distance to each of ~600 SPDX ids is worth computing once per misspelling. */
const licenseHints = new Map<string, string>();

function suggestLicense(id: string): string {
  let hint = licenseHints.get(id);
  if (hint === undefined) {
    if (licenseHints.size >= 10_000) licenseHints.clear();
    hint = suggestLicenseUncached(id);
    licenseHints.set(id, hint);
  }
  return hint;
}

function suggestLicenseUncached(id: string): string {
  const c = closest(id, SPDX);
  return c ? `did you mean \`${c}\`? (or name your own as \`LicenseRef-${id.replace(/[^A-Za-z0-9.-]/g, '-')}\`)` : `name your own license as \`LicenseRef-${id.replace(/[^A-Za-z0-9.-]/g, '-')}\``;
}

/**
 * Package names as the distribution allows them: RPM names on ALT (letters of either case,
 * digits and . _ + -), Debian policy §5.6.1 on debian (lower case, digits, . + -, two or more).
 */
export function checkPackageName(toolchain: ToolchainName, name: string): Problem | undefined {
  if (toolchain === 'debian') {
    if (/^[a-z0-9][a-z0-9.+-]+$/.test(name)) return undefined;
    const lower = name.toLowerCase().replace(/_/g, '-');
    return {
      message: `\`${name}\` is not a valid Debian package name (lower-case letters, digits, \`.\`, \`+\`, \`-\`; two characters or more, starting with a letter or digit)`,
      hint: /^[a-z0-9][a-z0-9.+-]+$/.test(lower) ? `did you mean \`${lower}\`?` : undefined,
    };
  }
  if (/^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(name) && name.length <= 200) return undefined;
  return { message: `\`${name}\` is not a valid package name for ALT (letters, digits, \`.\`, \`_\`, \`+\`, \`-\`, starting with a letter or digit)` };
}

export const ALT_BRANCH = /^(sisyphus|p\d{1,2}|c\d{1,2}(f\d)?|t\d{1,2})$/;
export const DEBIAN_SUITES = ['bullseye', 'bookworm', 'trixie', 'forky', 'sid', 'oldstable', 'stable', 'testing', 'unstable'];

export function checkBranch(toolchain: ToolchainName, branch: string): Problem | undefined {
  if (toolchain === 'alt') {
    if (ALT_BRANCH.test(branch)) return undefined;
    return { message: `\`${branch}\` is not an ALT branch`, hint: 'ALT branches are sisyphus, p10, p11, c10f2 and the like' };
  }
  if (DEBIAN_SUITES.includes(branch)) return undefined;
  const c = closest(branch, DEBIAN_SUITES);
  return { message: `\`${branch}\` is not a Debian suite`, hint: c ? `did you mean \`${c}\`?` : `known suites: ${DEBIAN_SUITES.join(', ')}` };
}

export const TEMPLATE_VARS = ['product', 'variant', 'arch', 'branch', 'version', 'date'] as const;

/** Every `{name}` in a template, with its offset in the (decoded) string. */
export function templateRefs(text: string): { name: string; index: number; length: number }[] {
  const out: { name: string; index: number; length: number }[] = [];
  for (const m of text.matchAll(/\{([^{}]*)\}/g)) out.push({ name: m[1] ?? '', index: m.index ?? 0, length: m[0].length });
  return out;
}

/** A `{` or `}` that is not part of a `{name}`. */
export function unbalancedBrace(text: string): number | undefined {
  const stripped = text.replace(/\{[^{}]*\}/g, (m) => ' '.repeat(m.length));
  const i = stripped.search(/[{}]/);
  return i < 0 ? undefined : i;
}

const CRON_FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] },
  { name: 'day of week', min: 0, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
] as const;
const CRON_MACROS = ['@hourly', '@daily', '@weekly', '@monthly', '@yearly'];

/** Five-field cron (minute hour day-of-month month day-of-week) or one of the @macros. */
export function checkCron(expr: string): Problem | undefined {
  const text = expr.trim();
  if (text.startsWith('@')) {
    if (CRON_MACROS.includes(text)) return undefined;
    return { message: `\`${text}\` is not a cron macro`, hint: closest(text, CRON_MACROS) ? `did you mean \`${closest(text, CRON_MACROS)}\`?` : `known: ${CRON_MACROS.join(' ')}` };
  }
  const fields = text.split(/\s+/).filter(Boolean);
  if (fields.length !== 5) {
    return { message: `a cron expression has 5 fields (minute hour day-of-month month day-of-week), this one has ${fields.length}`, hint: 'for example "0 2 * * *" is every night at 02:00' };
  }
  for (let i = 0; i < 5; i++) {
    const spec = CRON_FIELDS[i] as (typeof CRON_FIELDS)[number];
    const problem = checkCronField(fields[i] as string, spec.min, spec.max, 'names' in spec ? spec.names : undefined);
    if (problem) return { message: `cron ${spec.name} field \`${fields[i]}\`: ${problem} (allowed ${spec.min}-${spec.max})` };
  }
  return undefined;
}

function checkCronField(field: string, min: number, max: number, names?: readonly string[]): string | undefined {
  for (const part of field.split(',')) {
    const [range, step, extra] = part.split('/');
    if (extra !== undefined) return 'more than one `/`';
    if (step !== undefined && !/^\d+$/.test(step)) return `step \`${step}\` is not a number`;
    if (step !== undefined && Number(step) === 0) return 'a step of 0';
    if (range === '*') continue;
    const bounds = (range ?? '').split('-');
    if (bounds.length > 2) return `\`${range}\` is not a range`;
    const values: number[] = [];
    for (const b of bounds) {
      const upper = b.toUpperCase();
      const named = names ? names.indexOf(upper) : -1;
      const v = named >= 0 ? named + (min === 1 ? 1 : 0) : /^\d+$/.test(b) ? Number(b) : NaN;
      if (Number.isNaN(v)) return `\`${b}\` is not a number`;
      if (v < min || v > max) return `${v} is out of range`;
      values.push(v);
    }
    if (values.length === 2 && (values[0] as number) > (values[1] as number)) return `range \`${range}\` runs backwards`;
  }
  return undefined;
}

let zones: Set<string> | undefined;
export function checkTimezone(tz: string): Problem | undefined {
  zones ??= new Set(Intl.supportedValuesOf('timeZone'));
  if (tz === 'UTC' || zones.has(tz)) return undefined;
  const c = closest(tz, zones);
  return { message: `\`${tz}\` is not a time zone`, hint: c ? `did you mean \`${c}\`?` : 'use an IANA name such as "Europe/Moscow" or "UTC"' };
}

export function checkLocale(locale: string): Problem | undefined {
  if (/^(C|POSIX|C\.UTF-8|[a-z]{2,3}(_[A-Z]{2})?(\.(UTF-8|utf8))?(@[a-z]+)?)$/.test(locale)) return undefined;
  return { message: `\`${locale}\` is not a locale name`, hint: 'for example "ru_RU.UTF-8" or "C.UTF-8"' };
}

/** A crypt(3) hash ($1$, $5$, $6$, $y$, $2b$, $gy$) or "!" / "*" for a locked password. */
export function checkPasswordHash(hash: string): Problem | undefined {
  if (hash === '!' || hash === '*') return undefined;
  if (/^\$(1|5|6|y|gy|2[aby]|7)\$[./A-Za-z0-9$=,]+$/.test(hash) && hash.split('$').length >= 4) return undefined;
  return {
    message: 'a password must be a crypt(3) hash ($6$..., $y$...) or "!" to lock it, never the password itself',
    hint: 'make one with `mkpasswd -m yescrypt` or `openssl passwd -6`',
  };
}

export function checkHostname(name: string): Problem | undefined {
  if (/^(?=.{1,253}$)[a-zA-Z0-9{}]([a-zA-Z0-9{}_-]{0,62})(\.[a-zA-Z0-9{}][a-zA-Z0-9{}_-]{0,62})*$/.test(name)) return undefined;
  return { message: `\`${name}\` is not a host name (letters, digits and \`-\`, dot-separated labels)` };
}

/** A path relative to the recipe's directory that stays inside it. */
export function checkRelativeSource(path: string): Problem | undefined {
  if (path.length === 0) return { message: 'the path is empty' };
  if (path.startsWith('/')) return { message: `\`${path}\` is absolute: sources are relative to the recipe's directory`, hint: 'copy the files next to the recipe and name them relative to it' };
  if (path.split('/').includes('..')) return { message: `\`${path}\` leaves the recipe's directory through \`..\``, hint: 'keep overlays and scripts in or under the recipe\'s directory' };
  return undefined;
}

/** An absolute path inside the image (or a publish root) without `..`. */
export function checkAbsoluteTarget(path: string, what: string): Problem | undefined {
  if (!path.startsWith('/')) return { message: `${what} \`${path}\` must be an absolute path`, hint: `write it as \`/${path}\`` };
  if (path.split('/').includes('..')) return { message: `${what} \`${path}\` escapes its root through \`..\`` };
  return undefined;
}

/** registry.example.org[:port]/path[:tag-template] */
export function checkRegistryRef(ref: string): Problem | undefined {
  if (/^[a-z0-9.-]+(:\d+)?(\/[a-z0-9{}._-]+)+(:[A-Za-z0-9{}._-]+)?$/.test(ref) && !ref.split('/').includes('..')) return undefined;
  return { message: `\`${ref}\` is not a registry repository (host[:port]/path, lower case)`, hint: 'for example "registry.example.org/alt/{product}"' };
}

const SHELL_META = /[|&;<>()$`\\*?[\]#~=%]/;

/**
 * Splits a `test run` command into argv. Quotes group words; anything a shell would
 * interpret is refused, because no shell ever runs it.
 */
export function splitCommand(text: string): { argv: string[] } | Problem {
  const argv: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (const c of text) {
    if (quote) {
      if (c === quote) quote = undefined;
      else cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) argv.push(cur);
      cur = '';
      inWord = false;
    } else if (SHELL_META.test(c)) {
      return { message: `\`${c}\` in a test command: it runs without a shell, so pipes, redirections, variables and globs do not work`, hint: 'give the program and its arguments only, or ship a script and run that' };
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) return { message: `unclosed ${quote} quote in the command` };
  if (inWord) argv.push(cur);
  if (argv.length === 0) return { message: 'the command is empty' };
  return { argv };
}

// Output formats, their options and compressions are rows of plan/formats.ts; the checker reads them from here.
export { COMPRESSIONS, OUTPUT_FORMATS, OUTPUT_OPTIONS, type OutputFormat } from '../plan/formats';

export const PROFILE_KINDS = ['distro', 've', 'vm', 'live', 'regular'];
export function checkProfile(profile: string): Problem | undefined {
  const m = /^([a-z]+)\/[a-z0-9][a-z0-9._+-]*$/.exec(profile);
  if (m && PROFILE_KINDS.includes(m[1] as string)) return undefined;
  return { message: `\`${profile}\` is not a mkimage-profiles target`, hint: 'targets look like distro/regular-xfce, ve/base or vm/cloud-systemd' };
}
