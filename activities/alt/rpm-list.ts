// The package lists sborka reads and writes on ALT: `rpm -qa --qf` dumps of a hasher
// root, mkimage-profiles' list-rpms.txt, and the lock resolve writes. Pure.
import { z } from 'zod';

/** Tab-separated so that License values with spaces ("GPLv2+ and LGPLv2.1+") survive. */
export const RPM_QUERY_FORMAT = '%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{LICENSE}\\t%{SOURCERPM}\\n';
/** The header line of the rpm-qa.tsv file sborka writes (rpm itself prints none). */
export const RPM_QA_COLUMNS = ['name', 'epoch', 'version', 'release', 'arch', 'license', 'sourcerpm'] as const;

export const RpmPackage = z.object({
  name: z.string().min(1),
  /** undefined when rpm prints "(none)" */
  epoch: z.number().int().min(0).optional(),
  version: z.string().min(1),
  release: z.string().min(1),
  arch: z.string().min(1),
  license: z.string(),
  sourcerpm: z.string(),
});
export type RpmPackage = z.infer<typeof RpmPackage>;

export function parseRpmQa(lines: readonly string[]): RpmPackage[] {
  const out: RpmPackage[] = [];
  for (const line of lines) {
    if (!line.trim()) continue;
    const f = line.split('\t');
    if (f.length !== RPM_QA_COLUMNS.length) throw new Error(`unexpected rpm -qa line (want ${RPM_QA_COLUMNS.length} tab-separated fields): ${line}`);
    const [name, epoch, version, release, arch, license, sourcerpm] = f as [string, string, string, string, string, string, string];
    out.push(RpmPackage.parse({ name, epoch: epoch === '(none)' ? undefined : Number(epoch), version, release, arch, license, sourcerpm }));
  }
  return out.sort((a, b) => a.name.localeCompare(b.name) || a.arch.localeCompare(b.arch));
}

export function formatRpmQa(pkgs: readonly RpmPackage[]): string {
  const rows = pkgs.map((p) => [p.name, p.epoch === undefined ? '(none)' : String(p.epoch), p.version, p.release, p.arch, p.license, p.sourcerpm].join('\t'));
  return [RPM_QA_COLUMNS.join('\t'), ...rows].map((l) => `${l}\n`).join('');
}

export function evr(p: Pick<RpmPackage, 'epoch' | 'version' | 'release'>): string {
  return `${p.epoch === undefined ? '' : `${p.epoch}:`}${p.version}-${p.release}`;
}

/** list-rpms.txt holds file names (name-version-release.arch.rpm), one a line, sorted. */
export function parseListRpms(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l.endsWith('.rpm'));
}

/** The package name of an RPM file name: everything before the last two dash-separated fields. */
export function rpmFileName(file: string): { name: string; version: string; release: string; arch: string } | undefined {
  const m = /^(.+)-([^-]+)-([^-]+)\.([^.]+)\.rpm$/.exec(file.slice(file.lastIndexOf('/') + 1));
  return m ? { name: m[1]!, version: m[2]!, release: m[3]!, arch: m[4]! } : undefined;
}

export const Lock = z.object({
  version: z.literal(1),
  toolchain: z.literal('alt'),
  branch: z.string(),
  arch: z.string(),
  requested: z.object({ packages: z.array(z.string()), exclude: z.array(z.string()), kernel: z.string().optional() }),
  /** Partner packages built from source for this lock: RPM file names and their sha256. */
  built: z.array(z.object({ file: z.string(), sha256: z.string() })).default([]),
  packages: z.array(RpmPackage),
  /** When the lock was resolved (seconds): SOURCE_DATE_EPOCH and the image's DATE for every build from it. */
  sourceDateEpoch: z.number().int().nonnegative().optional(),
});
export type Lock = z.infer<typeof Lock>;

/** Lock entries the root differs in: missing, extra or another version. */
export function lockDrift(lock: readonly RpmPackage[], root: readonly RpmPackage[]): string[] {
  const key = (p: RpmPackage) => `${p.name}.${p.arch}`;
  const want = new Map(lock.map((p) => [key(p), p]));
  const have = new Map(root.map((p) => [key(p), p]));
  const drift: string[] = [];
  for (const [k, p] of want) {
    const h = have.get(k);
    if (!h) drift.push(`${k}: locked ${evr(p)}, not installed`);
    else if (evr(h) !== evr(p)) drift.push(`${k}: locked ${evr(p)}, installed ${evr(h)}`);
  }
  for (const [k, h] of have) if (!want.has(k)) drift.push(`${k}: installed ${evr(h)}, not in the lock`);
  return drift;
}
