// What changed between two builds of one product and arch: packages added, removed,
// upgraded and downgraded (from their locks, by dpkg's version order) with the changelog
// entries between the two versions, license changes, size changes per published output,
// test outcomes and boot times, and the recipe's own change. Pure: the sides are read by
// the caller (service/changes.ts, the publish step); CHANGES.md and changes.json are rendered here.
import { z } from 'zod';
import { changelogBetween, VERSION_ORDER, type ChangelogEntry } from './debversion';
import { diffSources, fileDiffMarkdown, RecipeFileDiff, type RecipeFile } from './recipe-sources';
import { rpmChangelogBetween } from './rpm-changelog';

export const CHANGES_JSON = 'changes.json';
export const CHANGES_MD = 'CHANGES.md';

export const SidePackage = z.object({ name: z.string(), version: z.string(), arch: z.string().optional() });

/** One build as the comparison sees it. */
export const ChangeSide = z.object({
  buildId: z.string(),
  product: z.string(),
  arch: z.string(),
  state: z.string().optional(),
  /** How the packages' versions order: Debian's (dpkg) or RPM's (the alt toolchain). */
  versions: z.enum(['deb', 'rpm']).default('deb'),
  recipeDigest: z.string().optional(),
  /** The recipe files the build was compiled from (publish/recipe-sources.ts), when they were recorded. */
  recipeFiles: z.array(z.object({ name: z.string(), text: z.string() })).optional(),
  /** The plan's steps of this variant (id as name, kind, digest of the params): the recipe's effect. */
  steps: z.array(z.object({ name: z.string(), kind: z.string(), params: z.string() })).optional(),
  packages: z.array(SidePackage).optional(),
  /** The alt toolchain: directories the side's RPM files are in (their %changelog is read from them). */
  rpmDirs: z.array(z.string()).optional(),
  /** Package → its license expression and status in the license report. */
  licenses: z.array(z.object({ name: z.string(), license: z.string(), status: z.string() })).optional(),
  licenseVerdict: z.string().optional(),
  /** Published or built outputs: name → bytes. */
  outputs: z.array(z.object({ name: z.string(), size: z.number().int().min(0) })).optional(),
  /** Test and boot steps: outcome, and the boot time when the step measured one. */
  tests: z.array(z.object({ name: z.string(), outcome: z.string(), bootMs: z.number().optional() })).optional(),
});
export type ChangeSide = z.input<typeof ChangeSide>;

const Entry = z.object({ version: z.string(), heading: z.string(), changes: z.array(z.string()), byline: z.string().optional() });
const VersionChange = z.object({ name: z.string(), from: z.string(), to: z.string(), changelog: z.array(Entry) });

export const Changes = z.object({
  schema: z.literal('sborka.changes/1'),
  product: z.string(),
  arch: z.string(),
  from: z.object({ buildId: z.string(), state: z.string().optional() }),
  to: z.object({ buildId: z.string(), state: z.string().optional() }),
  packages: z.object({
    added: z.array(SidePackage),
    removed: z.array(SidePackage),
    upgraded: z.array(VersionChange),
    downgraded: z.array(VersionChange),
  }),
  licenses: z.object({
    verdict: z.object({ from: z.string().optional(), to: z.string().optional() }).optional(),
    changed: z.array(z.object({ name: z.string(), from: z.string().optional(), to: z.string().optional(), fromStatus: z.string().optional(), toStatus: z.string().optional() })),
  }),
  outputs: z.array(z.object({ name: z.string(), from: z.number().optional(), to: z.number().optional(), delta: z.number() })),
  tests: z.array(z.object({ name: z.string(), from: z.string().optional(), to: z.string().optional(), bootMsFrom: z.number().optional(), bootMsTo: z.number().optional() })),
  recipe: z.object({
    from: z.string().optional(),
    to: z.string().optional(),
    changed: z.boolean(),
    steps: z.object({ added: z.array(z.string()), removed: z.array(z.string()), changed: z.array(z.string()) }),
    /** The text's diff per file; absent when neither side's text was recorded. */
    files: z.array(RecipeFileDiff).optional(),
    /** The builds whose recipe text was not recorded (so no text diff could be made). */
    unrecorded: z.array(z.string()).optional(),
  }),
});
export type Changes = z.infer<typeof Changes>;

/** The per-package licenses and the verdict of a license report (licenses/report.ts: license-report.json). */
export function reportLicenses(report: unknown): Pick<ChangeSide, 'licenses' | 'licenseVerdict'> {
  const r = report as { verdict?: unknown; packages?: Array<{ package?: { name?: unknown }; licenses?: unknown; status?: unknown }> } | undefined;
  if (!r || !Array.isArray(r.packages)) return {};
  return {
    ...(typeof r.verdict === 'string' ? { licenseVerdict: r.verdict } : {}),
    licenses: r.packages.map((p) => ({
      name: String(p.package?.name ?? ''),
      license: Array.isArray(p.licenses) ? p.licenses.map(String).join(' AND ') : '',
      status: String(p.status ?? ''),
    })),
  };
}

/** A package's changelog entries, newest first; undefined when none could be read. */
export type ChangelogLookup = (name: string) => readonly ChangelogEntry[] | undefined;

const byName = <T extends { name: string }>(a: T, b: T) => a.name.localeCompare(b.name);
const index = <T extends { name: string }>(xs: readonly T[] | undefined) => new Map((xs ?? []).map((x) => [x.name, x]));

export function compareBuilds(from: ChangeSide, to: ChangeSide, changelogOf: ChangelogLookup = () => undefined): Changes {
  if (from.product !== to.product || from.arch !== to.arch) {
    throw new Error(`builds ${from.buildId} (${from.product} ${from.arch}) and ${to.buildId} (${to.product} ${to.arch}) are not of one product and arch`);
  }
  const a = index(from.packages);
  const b = index(to.packages);
  const added = [...b.values()].filter((p) => !a.has(p.name)).sort(byName);
  const removed = [...a.values()].filter((p) => !b.has(p.name)).sort(byName);
  const upgraded: Changes['packages']['upgraded'] = [];
  const downgraded: Changes['packages']['downgraded'] = [];
  for (const p of [...b.values()].sort(byName)) {
    const old = a.get(p.name);
    if (!old) continue;
    const scheme = to.versions ?? 'deb';
    const order = VERSION_ORDER[scheme](old.version, p.version);
    if (order === 0) continue;
    // RPM's entries are placed by position (ALT's names may lack a version); dpkg's by version.
    const entries = changelogOf(p.name) ?? [];
    const changelog = scheme === 'rpm' ? rpmChangelogBetween(entries, old.version, p.version) : changelogBetween(entries, old.version, p.version, scheme);
    (order < 0 ? upgraded : downgraded).push({ name: p.name, from: old.version, to: p.version, changelog });
  }

  const la = index(from.licenses);
  const lb = index(to.licenses);
  const changed: Changes['licenses']['changed'] = [];
  for (const name of [...new Set([...la.keys(), ...lb.keys()])].sort()) {
    const x = la.get(name);
    const y = lb.get(name);
    if (x && y && x.license === y.license && x.status === y.status) continue;
    // A package only added or removed is told under packages; its license only when both sides have reports.
    if (!x && !from.licenses) continue;
    if (!y && !to.licenses) continue;
    changed.push({ name, ...(x ? { from: x.license, fromStatus: x.status } : {}), ...(y ? { to: y.license, toStatus: y.status } : {}) });
  }

  const oa = index(from.outputs);
  const ob = index(to.outputs);
  const outputs = [...new Set([...oa.keys(), ...ob.keys()])].sort().map((name) => {
    const x = oa.get(name)?.size;
    const y = ob.get(name)?.size;
    return { name, ...(x === undefined ? {} : { from: x }), ...(y === undefined ? {} : { to: y }), delta: (y ?? 0) - (x ?? 0) };
  });

  const ta = index(from.tests);
  const tb = index(to.tests);
  const tests = [...new Set([...ta.keys(), ...tb.keys()])].sort().flatMap((name) => {
    const x = ta.get(name);
    const y = tb.get(name);
    if (x && y && x.outcome === y.outcome && x.bootMs === y.bootMs) return [];
    return [{
      name,
      ...(x ? { from: x.outcome } : {}), ...(y ? { to: y.outcome } : {}),
      ...(x?.bootMs === undefined ? {} : { bootMsFrom: x.bootMs }), ...(y?.bootMs === undefined ? {} : { bootMsTo: y.bootMs }),
    }];
  });

  const sa = index(from.steps);
  const sb = index(to.steps);
  const steps = {
    added: [...sb.keys()].filter((k) => !sa.has(k)).sort(),
    removed: [...sa.keys()].filter((k) => !sb.has(k)).sort(),
    changed: [...sb.keys()].filter((k) => sa.has(k) && (sa.get(k)!.kind !== sb.get(k)!.kind || sa.get(k)!.params !== sb.get(k)!.params)).sort(),
  };

  const texts = recipeText(from, to);
  return {
    schema: 'sborka.changes/1',
    product: to.product,
    arch: to.arch,
    from: { buildId: from.buildId, ...(from.state ? { state: from.state } : {}) },
    to: { buildId: to.buildId, ...(to.state ? { state: to.state } : {}) },
    packages: { added, removed, upgraded, downgraded },
    licenses: {
      ...(from.licenseVerdict !== to.licenseVerdict ? { verdict: { ...(from.licenseVerdict ? { from: from.licenseVerdict } : {}), ...(to.licenseVerdict ? { to: to.licenseVerdict } : {}) } } : {}),
      changed,
    },
    outputs,
    tests,
    recipe: {
      ...(from.recipeDigest ? { from: from.recipeDigest } : {}),
      ...(to.recipeDigest ? { to: to.recipeDigest } : {}),
      changed: from.recipeDigest !== to.recipeDigest || steps.added.length + steps.removed.length + steps.changed.length > 0 || (texts.files?.length ?? 0) > 0,
      steps,
      ...texts,
    },
  };
}

/** The recipe's text diff, when at least one side has its text recorded. */
function recipeText(from: ChangeSide, to: ChangeSide): Pick<Changes['recipe'], 'files' | 'unrecorded'> {
  if (!from.recipeFiles && !to.recipeFiles) return {};
  const unrecorded = [from, to].filter((s) => !s.recipeFiles).map((s) => s.buildId);
  if (unrecorded.length > 0) return { unrecorded };
  return { files: diffSources(from.recipeFiles as RecipeFile[], to.recipeFiles as RecipeFile[]) };
}

function signed(n: number): string {
  return n > 0 ? `+${n}` : String(n);
}

/** CHANGES.md: for people, in the order a maintainer reads it in the morning. */
export function changesMarkdown(c: Changes): string {
  const out = [`# ${c.product} ${c.arch}: ${c.to.buildId}`, '', `Changes since ${c.from.buildId}${c.from.state ? ` (${c.from.state})` : ''}.`, ''];
  const { added, removed, upgraded, downgraded } = c.packages;
  out.push(`## Packages`, '', `${added.length} added, ${removed.length} removed, ${upgraded.length} upgraded, ${downgraded.length} downgraded.`, '');
  for (const p of added) out.push(`- added ${p.name} ${p.version}`);
  for (const p of removed) out.push(`- removed ${p.name} ${p.version}`);
  for (const [word, list] of [['upgraded', upgraded], ['downgraded', downgraded]] as const) {
    for (const p of list) {
      out.push(`- ${word} ${p.name} ${p.from} → ${p.to}`);
      for (const e of p.changelog) {
        out.push(`  - ${e.version}${e.byline ? ` (${e.byline})` : ''}`);
        for (const line of e.changes) out.push(`    ${line}`);
      }
    }
  }
  if (c.licenses.verdict || c.licenses.changed.length > 0) {
    out.push('', '## Licenses', '');
    if (c.licenses.verdict) out.push(`- verdict ${c.licenses.verdict.from ?? '-'} → ${c.licenses.verdict.to ?? '-'}`);
    for (const l of c.licenses.changed) out.push(`- ${l.name}: ${l.from ?? '-'} (${l.fromStatus ?? '-'}) → ${l.to ?? '-'} (${l.toStatus ?? '-'})`);
  }
  if (c.outputs.length > 0) {
    out.push('', '## Outputs', '');
    for (const o of c.outputs) out.push(`- ${o.name}: ${o.from ?? '-'} → ${o.to ?? '-'} bytes (${signed(o.delta)})`);
  }
  if (c.tests.length > 0) {
    out.push('', '## Tests', '');
    for (const t of c.tests) out.push(`- ${t.name}: ${t.from ?? '-'} → ${t.to ?? '-'}${t.bootMsFrom !== undefined || t.bootMsTo !== undefined ? `, boot ${t.bootMsFrom ?? '-'} → ${t.bootMsTo ?? '-'} ms` : ''}`);
  }
  out.push('', '## Recipe', '');
  if (!c.recipe.changed) out.push('- recipe unchanged');
  else {
    if (c.recipe.from !== c.recipe.to) out.push(`- digest ${c.recipe.from ?? '-'} → ${c.recipe.to ?? '-'}`);
    for (const [word, ids] of Object.entries(c.recipe.steps)) for (const id of ids) out.push(`- step ${id} ${word}`);
    for (const f of c.recipe.files ?? []) out.push(...fileDiffMarkdown(f));
    if (c.recipe.unrecorded?.length) out.push(`- recipe text not recorded for ${c.recipe.unrecorded.join(', ')}: no text diff`);
  }
  return `${out.join('\n')}\n`;
}
