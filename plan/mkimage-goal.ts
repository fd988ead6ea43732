// Which mkimage-profiles goal (<class>/<name>.<type>) makes a recipe's output, by one rule
// (docs/language.md, "mkimage-profiles targets"): an iso comes from the profile's distro/
// target; a disk image (img, qcow2) from the vm/ target of the same name (a distro/ profile
// names its vm/ sibling, vm/regular-xfce for distro/regular-xfce); a tar or an oci from the
// ve/ (or vm/) target itself. Whether the target exists is checked elsewhere: against the
// upstream catalogue (mkimage-targets.ts) by `sborka check`, against the worker's own tree
// when the build starts.
import { CLASS_TYPES, type TargetClass } from './mkimage-targets';

export interface MkimageGoal {
  cls: TargetClass;
  name: string;
  /** The goal's extension: iso, img.xz, tar.gz. */
  type: string;
  /** `<class>/<name>`, what conf.d/*.mk defines. */
  target: string;
}

export type GoalResult = { goal: MkimageGoal } | { problem: string; hint?: string };

/** features.in/pack/config.mk line 24: VE_COMPRESSORS := gz xz (there is no zstd). */
const COMPRESSOR: Record<string, string | undefined> = { none: '', gzip: 'gz', xz: 'xz', zstd: undefined };

/** The classes an output format is made from, in the order the rule tries them. */
const FROM: Record<string, { classes: readonly TargetClass[]; to?: TargetClass; type: string } | undefined> = {
  iso: { classes: ['distro'], type: 'iso' },
  img: { classes: ['distro', 'vm'], to: 'vm', type: 'img' },
  qcow2: { classes: ['distro', 'vm'], to: 'vm', type: 'qcow2' },
  tar: { classes: ['ve', 'vm', 'distro'], type: 'tar' },
  // The publisher makes the OCI layout from m-p's container tarball.
  oci: { classes: ['ve'], type: 'tar' },
};

export function parseProfile(profile: string): { cls: TargetClass; name: string } | undefined {
  const m = /^(distro|vm|ve)\/([A-Za-z0-9][A-Za-z0-9_+-]*)$/.exec(profile);
  return m ? { cls: m[1] as TargetClass, name: m[2]! } : undefined;
}

export function mkimageGoal(profile: string, output: { format: string; compression?: string }): GoalResult {
  const p = parseProfile(profile);
  if (!p) return { problem: `\`${profile}\` is not an mkimage-profiles target`, hint: 'targets are distro/NAME, vm/NAME or ve/NAME (a dot would start the image type)' };
  const rule = FROM[output.format];
  if (!rule) return { problem: `mkimage-profiles makes no ${output.format} image`, hint: 'the alt toolchain writes iso, img, qcow2, tar and oci' };
  if (!rule.classes.includes(p.cls)) {
    return { problem: `${/^[aeio]/.test(output.format) ? 'an' : 'a'} ${output.format} output is made from a ${rule.classes.map((c) => `${c}/`).join(' or ')} target, and \`${profile}\` is a ${p.cls}/ one`, hint: `build it as a product of its own with a ${rule.classes[0]}/ profile` };
  }
  const cls = rule.to ?? p.cls;
  const suffix = COMPRESSOR[output.compression ?? 'none'];
  if (suffix === undefined) return { problem: `mkimage-profiles compresses with gz or xz only, not ${output.compression}`, hint: 'use `compression xz` or `compression gzip`' };
  const type = suffix ? `${rule.type}.${suffix}` : rule.type;
  if (!CLASS_TYPES[cls].includes(type)) {
    return { problem: `mkimage-profiles makes no ${cls}/ image of type .${type}`, hint: `${cls}/ targets take ${CLASS_TYPES[cls].map((t) => `.${t}`).join(' ')}` };
  }
  return { goal: { cls, name: p.name, type, target: `${cls}/${p.name}` } };
}
