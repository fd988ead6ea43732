// What mkimage-profiles prints and names: the `** image: PATH [SIZE]` line (stderr, from
// image.in/Makefile's postprocess), the image file name and the reports directory.
import type { Output } from '../../plan/model';

export interface ImageLine {
  path: string;
  /** `ls -lh` size as printed: 1.4G, 512M. */
  size: string;
}

export function parseImageLine(line: string): ImageLine | undefined {
  const m = /^\*\* image: (\S(?:.*\S)?) \[([^\]]*)\]\s*$/.exec(line);
  return m ? { path: m[1]!, size: m[2]! } : undefined;
}

/** `** error: PATH missing`: the image was not made although the build ran. */
export function parseImageError(line: string): string | undefined {
  const m = /^\*\* error: (.+) missing\s*$/.exec(line);
  return m?.[1];
}

/** The reports directory m-p leaves for an image under LOGDIR: `<image file>.reports`. */
export function reportsDirName(imagePath: string): string {
  return `${imagePath.slice(imagePath.lastIndexOf('/') + 1)}.reports`;
}

/** Files a REPORT=1 build leaves in the reports directory. */
export const REPORT_FILES = ['list-rpms.txt', 'list-srpms.txt', 'pkg.list', 'build.cfg', 'build.log'] as const;

/**
 * The m-p target for a recipe's profile and output. A recipe names its profile by class
 * and name (distro/regular-xfce); VM images come from the vm/ class and containers from
 * ve/, under the same name.
 */
export function mkimageTarget(profile: string, output: Output): { cls: 'distro' | 'vm' | 've'; name: string; type: string } {
  const m = /^(distro|vm|ve)\/([A-Za-z0-9][A-Za-z0-9._+-]*)$/.exec(profile);
  if (!m) throw new Error(`profile "${profile}" is not an mkimage-profiles target (distro/NAME, vm/NAME or ve/NAME)`);
  const name = m[2]!;
  const compression = output.compression && output.compression !== 'none' ? COMPRESSION[output.compression] : undefined;
  switch (output.format) {
    case 'iso':
      return { cls: 'distro', name, type: 'iso' };
    case 'qcow2':
      return { cls: 'vm', name, type: 'qcow2' };
    case 'img':
      return { cls: 'vm', name, type: compression === 'xz' ? 'img.xz' : 'img' };
    case 'tar':
    case 'oci':
      // m-p makes container tarballs; an OCI layout is made from one by the publisher.
      return { cls: 've', name, type: compression ? `tar.${compression}` : 'tar' };
    case 'squashfs':
      throw new Error('mkimage-profiles makes no bare squashfs image; use output iso (its live squashfs is inside) or tar');
  }
}

const COMPRESSION: Record<'gzip' | 'xz' | 'zstd', string> = { gzip: 'gz', xz: 'xz', zstd: 'zst' };

/** What the configure step contributes to the image's target: features it uses and variable calls. */
export interface FragmentParts {
  /** m-p targets the image's target builds on (use/l10n, use/datetime). */
  deps: string[];
  /** `$(call add,VAR,value)` and `$(call set,VAR,value)` lines. */
  calls: Array<{ fn: 'add' | 'set'; name: string; value: string }>;
}

/** Words m-p's add()/set() can take: no quotes, spaces or make/shell metacharacters. */
export const MAKE_WORD = /^[A-Za-z0-9][A-Za-z0-9._+/:@-]*$/;

/**
 * The profile fragment (conf.d/*.mk) defining a target of our own on top of the recipe's
 * profile, with the recipe's packages, kernel and settings. mkimage-profiles' put/add/set
 * must see no quotes, so every value is checked to be a plain word first.
 */
export function profileFragment(o: { cls: string; base: string; name: string; packages: readonly string[]; kernel?: string; parts?: FragmentParts }): string {
  const calls = [...(o.parts?.calls ?? [])];
  if (o.packages.length) calls.unshift({ fn: 'add', name: 'THE_PACKAGES', value: o.packages.join(' ') });
  if (o.kernel) calls.unshift({ fn: 'set', name: 'KFLAVOURS', value: o.kernel });
  for (const c of calls) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(c.name)) throw new Error(`"${c.name}" is not an mkimage-profiles variable`);
    for (const w of c.value.split(' ')) if (!MAKE_WORD.test(w)) throw new Error(`"${w}" cannot be passed to mkimage-profiles (${c.name})`);
  }
  for (const d of o.parts?.deps ?? []) if (!MAKE_WORD.test(d)) throw new Error(`"${d}" is not an mkimage-profiles target`);
  const head = `${o.cls}/${o.name}: ${[`${o.cls}/${o.base}`, ...(o.parts?.deps ?? [])].join(' ')}`;
  const lines = ['# written by sborka', calls.length ? head : `${head}; @:`, ...calls.map((c) => `\t@$(call ${c.fn},${c.name},${c.value})`)];
  return `${lines.join('\n')}\n`;
}
