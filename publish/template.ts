// Publish-path templates: what a recipe's `publish files "/srv/{product}/{date}/{arch}"`
// may contain, how it is expanded, and where its root ends. Pure: the DSL checker uses the
// static check, the publishing activity expands and then confines on the real filesystem.
import * as path from 'node:path';

/** Placeholders a files path may hold; the planner fills all but {date} and {build}. */
export const PUBLISH_PLACEHOLDERS = ['product', 'variant', 'arch', 'branch', 'version', 'date', 'build'] as const;
export type Placeholder = (typeof PUBLISH_PLACEHOLDERS)[number];

/** Placeholders that make each build's directory new: `latest` and retention key on the first of them. */
export const VERSIONING_PLACEHOLDERS: readonly Placeholder[] = ['date', 'build'];

/** One path segment a value may become: no separators, no dot-names, no control characters. */
const SAFE_SEGMENT = /^[A-Za-z0-9_+@=,~-][A-Za-z0-9._+@=,~-]{0,254}$/;

export class ConfinementError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfinementError';
  }
}

/**
 * Problems with a files template as written in a recipe (empty when fine). `values` are the
 * ones known at check time (product, arch, branch, version...); each must stay one segment.
 */
export function checkFilesTemplate(template: string, values: Partial<Record<Placeholder, string>> = {}): string[] {
  const problems: string[] = [];
  if (!template.startsWith('/')) problems.push('must be an absolute path');
  const segments = template.split('/').slice(1);
  segments.forEach((seg, i) => {
    if (seg === '' && i < segments.length - 1) problems.push('must not contain an empty segment ("//")');
    if (seg === '.' || seg === '..') problems.push(`must not contain "${seg}" segments`);
    for (const m of seg.matchAll(/\{([^}]*)\}/g)) {
      const name = m[1] ?? '';
      if (!(PUBLISH_PLACEHOLDERS as readonly string[]).includes(name)) {
        problems.push(`unknown placeholder {${name}}; known: ${PUBLISH_PLACEHOLDERS.map((p) => `{${p}}`).join(' ')}`);
      }
    }
    if (/[{}]/.test(seg.replace(/\{[a-z]*\}/g, ''))) problems.push(`unbalanced brace in "${seg}"`);
  });
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined || !template.includes(`{${name}}`)) continue;
    if (!SAFE_SEGMENT.test(value)) problems.push(`{${name}} is ${JSON.stringify(value)}, which is not a single safe path segment`);
  }
  // Values were checked above: expansion cannot throw when there are no problems.
  if (problems.length === 0 && expandTemplate(template, values, { partial: true }).split('/').some((s) => s === '..' || s === '.')) problems.push('escapes its root after expansion');
  return [...new Set(problems)];
}

/**
 * Fills placeholders. Every value must be one safe segment (a version "../x" would walk out
 * of the root). With `partial`, unknown or missing placeholders stay as written.
 */
export function expandTemplate(template: string, values: Partial<Record<Placeholder, string>>, options: { partial?: boolean } = {}): string {
  return template.replace(/\{([a-z]+)\}/g, (m, name: string) => {
    const value = values[name as Placeholder];
    if (value === undefined) {
      if (options.partial) return m;
      throw new ConfinementError(`publish path ${template}: no value for {${name}}`);
    }
    if (!SAFE_SEGMENT.test(value)) throw new ConfinementError(`publish path ${template}: {${name}} = ${JSON.stringify(value)} is not a single safe path segment`);
    return value;
  });
}

/** The directory part of a template before its first placeholder: the default root when none is configured. */
export function staticPrefix(template: string): string {
  const segments = template.split('/');
  const firstVar = segments.findIndex((s) => s.includes('{'));
  const upTo = firstVar === -1 ? segments.length - 1 : firstVar;
  return segments.slice(0, upTo).join('/') || '/';
}

/** True when `child` is `root` or lies below it, lexically (both absolute and normalised). */
export function isWithin(root: string, child: string): boolean {
  const r = path.resolve(root);
  const c = path.resolve(child);
  return c === r || c.startsWith(r === '/' ? '/' : `${r}/`);
}

/**
 * The version directory relative to `root`, checked lexically: absolute, normalised, no
 * "." or ".." segments, strictly below the root. Symlinks are checked later, on disk.
 */
export function confineLexically(root: string, target: string): string {
  if (!path.isAbsolute(root) || !path.isAbsolute(target)) throw new ConfinementError(`publish path ${target}: root and path must be absolute`);
  if (target.split('/').some((s) => s === '..' || s === '.')) throw new ConfinementError(`publish path ${target}: contains "." or ".." segments`);
  const rel = path.relative(path.resolve(root), path.resolve(target));
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw new ConfinementError(`publish path ${target} is not below the target root ${root}`);
  return rel;
}

/**
 * Index (in the segments of `template` below `root`) of the first segment holding a
 * versioning placeholder: `latest` and retention live beside it. -1 when none.
 */
export function versionSegmentIndex(template: string, root: string): number {
  const segments = template.split('/').filter((s) => s !== '');
  const rootDepth = root.split('/').filter((s) => s !== '').length;
  return segments.slice(rootDepth).findIndex((s) => VERSIONING_PLACEHOLDERS.some((p) => s.includes(`{${p}}`)));
}

/** {date} of a build: UTC calendar day as YYYYMMDD. */
export function dateStamp(at: Date): string {
  return at.toISOString().slice(0, 10).replace(/-/g, '');
}
