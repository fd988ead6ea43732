// Which configured root or registry a target falls under, and whether the build's owner may
// use it. Pure: the preflight and the publishing step both decide with these.
import * as path from 'node:path';
import { describeOwner, ownerMayUse, type FilesRoot, type OwnerLike, type PublishConfig, type RegistryConfig, RegistryConfig as RegistrySchema } from './config-schema';
import { parseReference, type Reference } from './oci';
import { ConfinementError, checkFilesTemplate, isWithin, staticPrefix } from './template';

export class PermissionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermissionError';
  }
}

export interface ResolvedFilesTarget {
  /** The directory nothing published may leave. */
  root: string;
  keep: number;
  configured: boolean;
}

/**
 * The configured root holding the template (the deepest one), else the template's static
 * prefix. Partners need an explicit grant: an unconfigured root is for community and maintainers.
 */
export function resolveFilesTarget(template: string, config: PublishConfig, owner: OwnerLike | undefined): ResolvedFilesTarget {
  const problems = checkFilesTemplate(template);
  if (problems.length > 0) throw new ConfinementError(`publish path ${template}: ${problems.join('; ')}`);
  const prefix = staticPrefix(template);
  const matches = config.files
    .filter((f) => isWithin(f.root, prefix))
    .sort((a, b) => b.root.length - a.root.length);
  const match: FilesRoot | undefined = matches[0];
  const root = match ? path.resolve(match.root) : prefix;
  if (root === '/') throw new ConfinementError(`publish path ${template}: its root would be "/"; configure a files root for it`);
  const grants = match?.owners ?? ['community', 'maintainer'];
  if (owner && !ownerMayUse(grants, owner)) {
    throw new PermissionError(`${describeOwner(owner)} may not publish to ${root}${match ? ` (allowed: ${grants.join(', ')})` : ' (no files root is configured for it; partners need an explicit grant)'}`);
  }
  return { root, keep: match?.keep ?? config.keep, configured: match !== undefined };
}

export interface ResolvedRegistryTarget {
  ref: Reference;
  registry: RegistryConfig;
  configured: boolean;
}

export function resolveRegistryTarget(reference: string, config: PublishConfig, owner: OwnerLike | undefined): ResolvedRegistryTarget {
  const ref = parseReference(reference);
  const match = config.registries
    .filter((r) => r.host === ref.registry && (r.prefix === undefined || `${ref.repository}/`.startsWith(r.prefix.endsWith('/') ? r.prefix : `${r.prefix}/`)))
    .sort((a, b) => (b.prefix?.length ?? 0) - (a.prefix?.length ?? 0))[0];
  const registry = match ?? RegistrySchema.parse({ host: ref.registry });
  if (owner && !ownerMayUse(registry.owners, owner)) {
    throw new PermissionError(`${describeOwner(owner)} may not push to ${ref.registry}/${ref.repository}${match ? ` (allowed: ${registry.owners.join(', ')})` : ' (no registry entry is configured for it; partners need an explicit grant)'}`);
  }
  return { ref, registry, configured: match !== undefined };
}
