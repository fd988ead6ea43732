// hasher-priv's configuration, read the way hasher-priv reads it: /etc/hasher-priv/system,
// then user.d/USER, then user.d/USER:NUMBER; `option=value` lines, `#` comments, names
// case-insensitive, and a later file's allowed_* list replaces an earlier one's. Pure:
// the caller reads the files.

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

/** Settings in force after reading the files in order. */
export function readPrivSettings(files: readonly ConfigFile[]): PrivSettings {
  const settings: PrivSettings = new Map();
  for (const f of files) {
    if (f.text === undefined) continue;
    f.text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith('#')) return;
      const eq = line.indexOf('=');
      if (eq < 0) return;
      settings.set(line.slice(0, eq).trim().toLowerCase(), { value: line.slice(eq + 1).trim(), file: f.path, line: i + 1, raw });
    });
  }
  return settings;
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
}

/**
 * What is missing for a step, each as a sentence naming the file and line to change.
 * /dev and /dev/shm are always mounted by hasher-priv and need nothing.
 */
export function privProblems(files: readonly ConfigFile[], needs: PrivNeeds): string[] {
  const settings = readPrivSettings(files);
  const system = files[0]?.path ?? '/etc/hasher-priv/system';
  const problems: string[] = [];
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
