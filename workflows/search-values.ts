// The search attribute values a build run carries, computed from its plan, so that
// BuildProduct (starting children) and BuildVariant (upserting) agree on them.
import type { SearchAttributePair } from '@temporalio/common';
import type { BuildPlan, Owner, Variant } from '../plan/plan';
import { SA_ARCH, SA_OWNER, SA_PRODUCT, SA_STATE } from './search-attributes';

/** "community", "maintainer:<team>" or "partner:<name>". */
export function ownerLabel(owner: Owner): string {
  switch (owner.kind) {
    case 'community':
      return 'community';
    case 'maintainer':
      return `maintainer:${owner.team}`;
    case 'partner':
      return `partner:${owner.name}`;
  }
}

/** Product, owner and the given arches (one for a variant, all for a product). */
export function identityAttributes(plan: BuildPlan, variants: readonly Variant[]): SearchAttributePair[] {
  const arches = [...new Set(variants.map((v) => v.arch))];
  return [
    { key: SA_PRODUCT, value: plan.product },
    { key: SA_OWNER, value: ownerLabel(plan.owner) },
    { key: SA_ARCH, value: arches },
  ];
}

/** pending (no worker took it yet), running, waiting, succeeded, failed, cancelled. */
export function stateAttribute(state: string): SearchAttributePair {
  return { key: SA_STATE, value: state };
}
