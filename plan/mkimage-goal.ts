// Which mkimage-profiles goal (<class>/<name>.<type>) makes a recipe's output, by one rule
// (docs/language.md, "mkimage-profiles targets"): an iso comes from the profile's distro/
// target; a disk image (img, qcow2) from the vm/ target of the same name (a distro/ profile
// names its vm/ sibling, vm/regular-xfce for distro/regular-xfce); a tar or an oci from the
// ve/ (or vm/) target itself. An output naming its own `profile` is made from that target,
// whose class must be the format's own (OWN_CLASS): no sibling mapping. Whether the target exists is checked elsewhere: against the
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

/** `code`: the diagnostic a problem is reported under when it is not an unknown target. */
export type GoalResult = { goal: MkimageGoal } | { problem: string; hint?: string; code?: 'wrong-target-class' };

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

/** The one class an output's own `profile` may name: the class whose images the format is. */
export const OWN_CLASS: Record<string, TargetClass | undefined> = { iso: 'distro', img: 'vm', qcow2: 'vm', tar: 've', oci: 've' };

export function parseProfile(profile: string): { cls: TargetClass; name: string } | undefined {
  const m = /^(distro|vm|ve)\/([A-Za-z0-9][A-Za-z0-9_+-]*)$/.exec(profile);
  return m ? { cls: m[1] as TargetClass, name: m[2]! } : undefined;
}

/** The goal of `output`, from its own `profile` when it names one, else from the product's `profile`. */
export function mkimageGoal(productProfile: string, output: { format: string; compression?: string; profile?: string }): GoalResult {
  const own = output.profile !== undefined;
  const profile = output.profile ?? productProfile;
  const p = parseProfile(profile);
  if (!p) return { problem: `\`${profile}\` is not an mkimage-profiles target`, hint: 'targets are distro/NAME, vm/NAME or ve/NAME (a dot would start the image type)' };
  const rule = FROM[output.format];
  const ownClass = OWN_CLASS[output.format];
  if (!rule || !ownClass) return { problem: `mkimage-profiles makes no ${output.format} image`, hint: 'the alt toolchain writes iso, img, qcow2, tar and oci' };
  const an = /^[aeio]/.test(output.format) ? 'an' : 'a';
  if (own && p.cls !== ownClass) {
    return { problem: `${an} ${output.format} output's own \`profile\` must be a ${ownClass}/ target, and \`${profile}\` is a ${p.cls}/ one`, hint: `name the ${ownClass}/ target that makes it, e.g. ${ownClass}/${p.name}`, code: 'wrong-target-class' };
  }
  if (!own && !rule.classes.includes(p.cls)) {
    return { problem: `${an} ${output.format} output is made from a ${rule.classes.map((c) => `${c}/`).join(' or ')} target, and \`${profile}\` is a ${p.cls}/ one`, hint: `give the output a profile of its own (\`output ${output.format} { profile ${ownClass}/NAME }\`), or build it as a product of its own` };
  }
  const cls = own ? p.cls : rule.to ?? p.cls;
  const suffix = COMPRESSOR[output.compression ?? 'none'];
  if (suffix === undefined) return { problem: `mkimage-profiles compresses with gz or xz only, not ${output.compression}`, hint: 'use `compression xz` or `compression gzip`' };
  const type = suffix ? `${rule.type}.${suffix}` : rule.type;
  if (!CLASS_TYPES[cls].includes(type)) {
    return { problem: `mkimage-profiles makes no ${cls}/ image of type .${type}`, hint: `${cls}/ targets take ${CLASS_TYPES[cls].map((t) => `.${t}`).join(' ')}` };
  }
  return { goal: { cls, name: p.name, type, target: `${cls}/${p.name}` } };
}
