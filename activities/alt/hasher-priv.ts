// hasher-priv's configuration, read the way hasher-priv 2.0.14 reads it: /etc/hasher-priv/
// system, then user.d/UID or user.d/USER, then user.d/UID:N or USER:N (caller_config.c
// 431-479); `name=value` lines, `#` comments, a line without `=` a syntax error
// (file_config.c 27-73), names case-insensitive and from a fixed set (caller_config.c
// 338-374), and a later file's setting replaces an earlier one's. Pure: the caller reads
// the files.

export interface ConfigFile {
  path: string;
  /** undefined when the file does not exist. */
  text: string | undefined;
}

interface Setting {
  value: string;
  file: string;
  /** 1-based */
  line: number;
  raw: string;
}

export type PrivSettings = Map<string, Setting>;

/** The names a caller config may set (caller_config.c 344-373). */
const NAMES = /^(user1|user2|prefix|umask|nice|nproc|allowed_devices|allowed_mountpoints|allow_ttydev|rlimit_.+|wlimit_.+)$/;

/** Settings in force after reading the files in order; `errors` are what hasher-priv dies of. */
export function readPrivSettings(files: readonly ConfigFile[], errors: string[] = []): PrivSettings {
  const settings: PrivSettings = new Map();
  for (const f of files) {
    if (f.text === undefined) continue;
    f.text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith('#')) return;
      const eq = line.indexOf('=');
      const name = eq < 0 ? '' : line.slice(0, eq).trim().toLowerCase();
      if (!name) {
        errors.push(`${f.path} line ${i + 1} has no "name=value" (hasher-priv: "syntax error at line ${i + 1}"): fix or remove "${line}"`);
        return;
      }
      if (!NAMES.test(name)) {
        errors.push(`${f.path} line ${i + 1}: hasher-priv knows no option "${name}" (it stops with "unrecognized option"): remove the line`);
        return;
      }
      settings.set(name, { value: line.slice(eq + 1).trim(), file: f.path, line: i + 1, raw });
    });
  }
  return settings;
}

/** The prefix list in force: "~" is the caller's home (caller_config.c 279-300); undefined: no prefix, any directory. */
export function privPrefixes(settings: PrivSettings, home: string): string[] | undefined {
  const p = settings.get('prefix');
  if (!p) return undefined;
  return p.value.split(':').filter(Boolean).map((e) => (e === '~' ? home : e).replace(/(.)\/+$/, '$1'));
}

/** Whether hasher-priv's chdiruid.c (is_prefix, 29-36) lets it work in dir. */
export function underPrefix(dir: string, prefixes: readonly string[] | undefined): boolean {
  return prefixes === undefined || prefixes.some((p) => dir === p || dir.startsWith(p.endsWith('/') ? p : `${p}/`));
}

/** hasher-priv splits lists on spaces, tabs and commas. */
export function privList(value: string | undefined): string[] {
  return (value ?? '').split(/[ \t,]+/).filter(Boolean);
}

export interface PrivNeeds {
  /** Plain mount points (/proc, /dev/pts). */
  mountpoints: readonly string[];
  /** Device nodes (/dev/kvm). */
  devices: readonly string[];
  /** Directories hasher will make chroots in (the step's hasher workdir, mkimage-profiles' BUILDDIR). */
  workdirs?: readonly string[];
  /** The caller's home, hasher-priv's "~". */
  home?: string;
}

/**
 * What is missing for a step, each as a sentence naming the file and line to change.
 * /dev and /dev/shm are always mounted by hasher-priv and need nothing.
 */
export function privProblems(files: readonly ConfigFile[], needs: PrivNeeds): string[] {
  const errors: string[] = [];
  const settings = readPrivSettings(files, errors);
  const system = files[0]?.path ?? '/etc/hasher-priv/system';
  const problems: string[] = [...errors];
  const prefixes = privPrefixes(settings, needs.home ?? '~');
  const outside = (needs.workdirs ?? []).filter((d) => !underPrefix(d, prefixes));
  if (outside.length) {
    const p = settings.get('prefix')!;
    problems.push(
      `hasher-priv works only under its prefix "${p.value}" (${p.file} line ${p.line}), and ${outside.join(', ')} ${outside.length > 1 ? 'are' : 'is'} outside it ` +
        `("prefix mismatch"): set SBORKA_ALT_HASHER_DIR to a directory under ${prefixes!.join(' or ')}, or change that line to "prefix=${[p.value, ...new Set(outside.map((d) => d.split('/').slice(0, 3).join('/')))].join(':')}"`,
    );
  }
  const check = (key: 'allowed_mountpoints' | 'allowed_devices', wanted: readonly string[], other: 'allowed_mountpoints' | 'allowed_devices') => {
    const current = settings.get(key);
    const have = privList(current?.value);
    const otherHave = privList(settings.get(other)?.value);
    const missing = wanted.filter((w) => w !== '/dev' && w !== '/dev/shm' && !have.includes(w));
    for (const m of missing) {
      if (otherHave.includes(m)) {
        const o = settings.get(other)!;
        problems.push(`${m} is listed in ${other} (${o.file} line ${o.line}) but must be in ${key}: move it there`);
      }
    }
    if (missing.length === 0) return;
    if (current) {
      const fixed = `${key}=${[...have, ...missing].join(',')}`;
      problems.push(
        `hasher-priv does not allow ${missing.join(', ')}: change line ${current.line} of ${current.file} from "${current.raw.trim()}" to "${fixed}"`,
      );
    } else {
      problems.push(`hasher-priv does not allow ${missing.join(', ')}: add the line "${key}=${missing.join(',')}" to ${system}`);
    }
  };
  check('allowed_mountpoints', needs.mountpoints, 'allowed_devices');
  check('allowed_devices', needs.devices, 'allowed_mountpoints');
  return problems;
}

/** Subconfig numbers a user has: user.d/USER:N files (hasher's list_user_subconfig_numbers); 0 is the user's main config. */
export function subconfigNumbers(user: string, uid: number, fileNames: readonly string[]): number[] {
  const numbers = new Set<number>();
  for (const f of fileNames) {
    const m = /^([^:]+):([1-9][0-9]*)$/.exec(f);
    if (m && (m[1] === user || m[1] === String(uid))) numbers.add(Number(m[2]));
  }
  return [...numbers].sort((a, b) => a - b);
}
