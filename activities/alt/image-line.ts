// What mkimage-profiles prints and names: the `** image: PATH [SIZE]` line (image.in/
// Makefile 101, written to BUILDDIR's build.log whatever DEBUG, lib/log.mk 20-38), the image
// file name and the reports directory. Finding the image itself is image-file.ts.
import type { Output } from '../../plan/model';
import { mkimageGoal } from '../../plan/mkimage-goal';

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

/** The m-p goal of an output: from its own `profile` when it names one, else from the recipe's (plan/mkimage-goal.ts has the rule). */
export function mkimageTarget(profile: string, output: Output): { cls: 'distro' | 'vm' | 've'; name: string; type: string } {
  const r = mkimageGoal(profile, output);
  if ('problem' in r) throw new Error(`${r.problem}${r.hint ? ` (${r.hint})` : ''}`);
  return { cls: r.goal.cls, name: r.goal.name, type: r.goal.type };
}

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
