// Clearing decisions: a person's answer to one package's license review, kept so that the
// next build does not ask again (ORT's resolutions, FOSSology's clearing decisions). A
// decision covers one package, the license expression that was judged, a range of Debian
// or RPM versions in dpkg relation syntax (">= 2.36, << 2.37"), an optional expiry and a
// scope. A later judgement applies it only while all of these still hold; otherwise the
// package is asked about again with the old decision shown beside it.
import { z } from 'zod';
import { compareDebVersions, DebVersionError, parseDebVersion } from './debversion';

const IsoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be yyyy-mm-dd');
/** Owner labels as the service writes them: community | maintainer:<team> | partner:<name>. */
const OwnerLabel = z.string().regex(/^(community|maintainer:[a-z0-9][a-z0-9._+-]*|partner:[a-z0-9][a-z0-9._+-]*)$/, 'must be community, maintainer:<team> or partner:<name>');

export const DecisionScope = z.discriminatedUnion('kind', [
  /** Every build (maintainers and admins only). */
  z.object({ kind: z.literal('global') }),
  /** Every build of one owner. */
  z.object({ kind: z.literal('owner'), owner: OwnerLabel }),
  /** One product of one owner. */
  z.object({ kind: z.literal('product'), owner: OwnerLabel, product: z.string().min(1) }),
]);
export type DecisionScope = z.infer<typeof DecisionScope>;

const RELATION = /^(<<|<=|=|>=|>>)\s*(\S+)$/;

/** "= 1.2-3", ">= 1.2, << 2" or "*" (any version). */
export const VersionRange = z.string().min(1).superRefine((text, ctx) => {
  const problem = rangeProblem(text);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

function rangeProblem(text: string): string | undefined {
  if (text.trim() === '*') return undefined;
  for (const clause of text.split(',')) {
    const m = RELATION.exec(clause.trim());
    if (!m) return `"${clause.trim()}": expected <<, <=, =, >= or >> and a version (e.g. ">= 1.2, << 2")`;
    try {
      parseDebVersion(m[2]!);
    } catch (e) {
      if (e instanceof DebVersionError) return e.message;
      throw e;
    }
  }
  return undefined;
}

export const Decision = z.object({
  id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
  package: z.string().min(1),
  versions: VersionRange,
  /** The normalised SPDX expression the person judged (PackageResult.expression). */
  expression: z.string().min(1),
  scope: DecisionScope,
  by: z.string().min(1),
  reason: z.string().min(1),
  /** When it was made, ISO 8601. */
  at: z.string().min(1),
  /** Last day it applies (UTC); absent: until revoked. */
  until: IsoDate.optional(),
});
export type Decision = z.infer<typeof Decision>;

/** The file a maintainer keeps next to the recipes, and the worker reads. */
export const DecisionFile = z.object({
  sborkaLicenseDecisions: z.literal(1),
  decisions: z.array(Decision),
});
export type DecisionFile = z.infer<typeof DecisionFile>;

export function versionInRange(version: string, range: string): boolean {
  if (range.trim() === '*') return true;
  return range.split(',').every((clause) => {
    const [, op, v] = RELATION.exec(clause.trim())!;
    let c: number;
    try {
      c = compareDebVersions(version, v!);
    } catch {
      return false; // a version dpkg cannot read is outside every range
    }
    return op === '<<' ? c < 0 : op === '<=' ? c <= 0 : op === '=' ? c === 0 : op === '>=' ? c >= 0 : c > 0;
  });
}

/** Where a judgement runs: its product and owner label decide which scopes apply. */
export interface DecisionContext {
  product?: string;
  owner?: string;
}

const SPECIFICITY: Record<DecisionScope['kind'], number> = { product: 2, owner: 1, global: 0 };

export function scopeApplies(scope: DecisionScope, ctx: DecisionContext): boolean {
  if (scope.kind === 'global') return true;
  if (scope.kind === 'owner') return scope.owner === (ctx.owner ?? 'community');
  return scope.owner === (ctx.owner ?? 'community') && scope.product === ctx.product;
}

/** Decisions that can apply in ctx, indexed by package; the most specific, then newest, first. */
export function indexDecisions(decisions: readonly Decision[], ctx: DecisionContext): Map<string, Decision[]> {
  const out = new Map<string, Decision[]>();
  for (const d of decisions) {
    if (!scopeApplies(d.scope, ctx)) continue;
    const list = out.get(d.package);
    if (list) list.push(d);
    else out.set(d.package, [d]);
  }
  for (const list of out.values()) list.sort((a, b) => SPECIFICITY[b.scope.kind] - SPECIFICITY[a.scope.kind] || b.at.localeCompare(a.at));
  return out;
}

export type Mismatch = 'expression changed' | 'version outside the range' | 'expired';

export interface DecisionMatch {
  decision: Decision;
  /** Why it does not apply; absent when it does. */
  mismatch?: Mismatch;
}

/**
 * The decision for one package: the first candidate that applies, else the most specific
 * one with the reason it does not (shown to the person asked again).
 */
export function matchDecision(candidates: readonly Decision[] | undefined, pkg: { version: string; expression: string }, date: string): DecisionMatch | undefined {
  if (!candidates || candidates.length === 0) return undefined;
  let first: DecisionMatch | undefined;
  for (const d of candidates) {
    const mismatch: Mismatch | undefined = d.expression !== pkg.expression ? 'expression changed'
      : !versionInRange(pkg.version, d.versions) ? 'version outside the range'
        : d.until !== undefined && d.until < date ? 'expired' : undefined;
    if (!mismatch) return { decision: d };
    first ??= { decision: d, mismatch };
  }
  return first;
}

export function scopeLabel(scope: DecisionScope): string {
  return scope.kind === 'global' ? 'global' : scope.kind === 'owner' ? scope.owner : `${scope.owner}/${scope.product}`;
}
