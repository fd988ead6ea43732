// `sborka check` knows mkimage-profiles' real targets: each output of an alt product is
// mapped to its goal by plan/mkimage-goal.ts, and the goal's target must be one upstream
// defines for the arch (plan/mkimage-targets.ts, upstream's conf.d at a fixed commit).
// A separate validation so the property code can call it wherever it settles.
import { mkimageGoal, parseProfile } from '../plan/mkimage-goal';
import { isUpstreamTarget, MKIMAGE_PROFILES_COMMIT, targetArches, upstreamTargets, type TargetClass } from '../plan/mkimage-targets';
import type { DiagnosticSink } from './diagnostics';
import type { Span } from './source';
import { didYouMean } from './suggest';

interface At<T> {
  value: T;
  span: Span;
}

/** The part of a product draft the check reads. */
export interface AltTargetDraft {
  profile?: At<string>;
  /** A recipe's own tree: its conf.d, not the catalogue, decides (on the worker, activities/alt/kinds/build.ts). */
  profilesTree?: At<string>;
  outputs: ReadonlyMap<string, At<{ format: string; compression?: string; profile?: string }>>;
}

const COMMIT = MKIMAGE_PROFILES_COMMIT.slice(0, 7);

/** Targets of the class that share the longest leading part with the name (alt-mobile → alt-mobile-*). */
function near(target: string, cls: TargetClass, arch: string): string[] {
  const all = upstreamTargets(cls, arch);
  const name = target.slice(cls.length + 1);
  const stem = name.split('-')[0] ?? name;
  const found = all.filter((t) => t.slice(cls.length + 1).startsWith(name));
  return (found.length ? found : all.filter((t) => t.slice(cls.length + 1).startsWith(stem))).slice(0, 8);
}

function hintFor(target: string, cls: TargetClass, arch: string): string {
  const mean = didYouMean(target, upstreamTargets(cls, arch));
  if (mean) return mean;
  const close = near(target, cls, arch);
  return close.length ? `${cls}/ targets like it: ${close.join(', ')}` : `\`sborka\` knows ${upstreamTargets(cls, arch).length} ${cls}/ targets; mkimage-profiles' \`make help/${cls}\` lists them`;
}

/**
 * mkimageGoal, kept per (profile, format, compression, own profile): it depends on nothing
 * else, and thousands of variants ask for the same few (a result is never changed).
 */
const goals = new Map<string, ReturnType<typeof mkimageGoal>>();
function goalOf(productProfile: string, o: { format: string; compression?: string; profile?: string }): ReturnType<typeof mkimageGoal> {
  const key = `${productProfile}\0${o.format}\0${o.compression ?? ''}\0${o.profile ?? '\0'}`;
  let r = goals.get(key);
  if (!r) {
    if (goals.size >= 10_000) goals.clear();
    goals.set(key, (r = mkimageGoal(productProfile, o)));
  }
  return r;
}

/** Errors for outputs whose mkimage-profiles target does not exist for this arch. */
export function checkAltTargets(d: AltTargetDraft, toolchain: string, arch: string, sink: DiagnosticSink): void {
  if (toolchain !== 'alt') {
    // The format table lets every toolchain's outputs take `profile`; only alt has mkimage-profiles.
    for (const [format, o] of d.outputs) {
      if (o.value.profile !== undefined) sink.error('output-profile-needs-alt', `output ${format}: \`profile ${o.value.profile}\` names an mkimage-profiles target, and the ${toolchain} toolchain has none`, o.span, 'drop the `profile` line: the debian writers build every format from the one root');
    }
    if (d.profilesTree) sink.error('profiles-tree-needs-alt', `\`profiles-tree\` is an mkimage-profiles tree, and the ${toolchain} toolchain builds without one`, d.profilesTree.span, 'drop the `profiles-tree` line');
    return;
  }
  // A fork may define targets upstream lacks: the worker checks them against its conf.d.
  const catalogue = !d.profilesTree;
  const profile = d.profile;
  const p = profile && parseProfile(profile.value);
  if (catalogue && profile && p && d.outputs.size === 0 && !isUpstreamTarget(profile.value)) {
    sink.error('unknown-target', `mkimage-profiles (${COMMIT}) defines no \`${profile.value}\``, profile.span, hintFor(profile.value, p.cls, arch));
  }
  for (const [format, o] of d.outputs) {
    const own = o.value.profile;
    // Without a profile of either kind compile.ts reports `missing-profile`.
    if (own === undefined && !profile) continue;
    const r = goalOf(profile?.value ?? '', o.value);
    if ('problem' in r) {
      sink.error(r.code ?? 'unknown-target', `output ${format}: ${r.problem}`, o.span, r.hint);
      continue;
    }
    const { goal } = r;
    if (!catalogue || isUpstreamTarget(goal.target, arch)) continue;
    const named = own ?? profile?.value;
    const via = own !== undefined ? ` (output ${format}'s own \`profile\`)` : goal.target === named ? '' : ` (the ${format} of \`${named}\`)`;
    const only = targetArches(goal.target);
    if (only) {
      sink.error('target-not-for-arch', `mkimage-profiles (${COMMIT}) defines \`${goal.target}\`${via} for ${only.join(', ')} only, not ${arch}`, o.span, `drop ${arch} from the product's arches, or build ${arch} in a product of its own`);
      continue;
    }
    const at = own === undefined && goal.target === named && profile ? profile.span : o.span;
    sink.error('unknown-target', `mkimage-profiles (${COMMIT}) defines no \`${goal.target}\`${via}`, at, hintFor(goal.target, goal.cls, arch));
  }
}
