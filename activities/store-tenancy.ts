// Which namespace of the store a step's entry belongs to. Entries made from a partner's own
// content live under tenants/<partner>/ and only that partner's builds see them; what is made
// only of public inputs (the distribution's packages, the community's layers) stays shared,
// whoever built it, so every tenant reuses it.
// The rule, for a build owned by a partner: a step is the partner's when any of its inputs is,
// when it reads files from the partner's recipe directory (its host inputs: overlays, scripts,
// source packages, key files), or when its kind is not one of the few whose outputs are
// public by construction (below). Anything else a partner writes into params (settings, inline
// scripts, test commands) is theirs by that last clause, since configure, build, test, publish
// and exec are not public kinds. Unknown kinds are the partner's: the safe side.
import type { Owner, Step } from '../plan/plan';
import type { StepStore } from './store';

type PublicWhen = (params: Record<string, unknown>) => boolean;

const noKeyFiles = (params: Record<string, unknown>) =>
  !(Array.isArray(params.repos) && params.repos.some((r) => typeof (r as { key?: unknown }).key === 'string'));

/** Kinds whose outputs are public when their inputs are: one row each. */
const PUBLIC_KINDS: Record<string, PublicWhen> = {
  // The lock of distribution packages; partner source packages make it the partner's.
  resolve: (p) => noKeyFiles(p) && !(Array.isArray(p.sources) && p.sources.length > 0),
  // Packages of a lock, installed as the distribution ships them; its base layer is shared too.
  'prepare-root': noKeyFiles,
  checksum: () => true,
  noop: () => true,
};

/** The partner whose namespace the step's entry belongs to, or undefined for the shared store. */
export async function tenantOf(
  owner: Owner | undefined,
  step: Step,
  hostDigest: string | undefined,
  inputKeys: readonly string[],
  store: StepStore,
): Promise<string | undefined> {
  if (owner?.kind !== 'partner') return undefined;
  const own = store.forTenant(owner.name);
  const publicKind = PUBLIC_KINDS[step.kind];
  if (hostDigest !== undefined || !publicKind?.(step.params as Record<string, unknown>)) return owner.name;
  for (const key of inputKeys) if (await own.holds(key)) return owner.name;
  return undefined;
}
