// Names the plan derives from a resolved variant: its id, template expansion of titles,
// hostnames and tags, and the multi-arch tag of a registry push.
import type { ResolvedVariant } from './model';

/** The variant's id: product.arch, with the flavour when it is not the default one. */
export function variantId(v: ResolvedVariant): string {
  return v.flavour === 'default' ? `${v.product}.${v.arch}` : `${v.product}.${v.arch}.${v.flavour}`;
}

/** Fills {product} {variant} {arch} {branch} {version}; {date} stays for publish time. */
export function expand(template: string, v: ResolvedVariant, id: string): string {
  const values: Record<string, string> = { product: v.product, variant: id, arch: v.arch, branch: v.branch, version: v.version ?? '' };
  return template.replace(/\{([a-z]+)\}/g, (m, k: string) => values[k] ?? m);
}

/**
 * The multi-arch tag of a registry push: the `oci` output's per-arch tag without its
 * `{arch}` (and the separator next to it), expanded; undefined when nothing is left.
 */
export function multiArchTag(v: ResolvedVariant, id: string): string | undefined {
  const template = v.outputs.find((o) => o.format === 'oci')?.tag;
  if (!template) return undefined;
  const stripped = template.replace(/[-_.]\{arch\}|\{arch\}[-_.]?/, '');
  return stripped === '' ? undefined : expand(stripped, v, id);
}

/** Does a registry reference name its own tag (a `:` after the last `/`)? */
export const hasTag = (reference: string): boolean => reference.slice(reference.lastIndexOf('/') + 1).includes(':');
