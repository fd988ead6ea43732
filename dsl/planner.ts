// Resolved products → BuildPlan: one plan variant per arch × kernel flavour, each a step
// DAG resolve → prepare-root → configure → build (per output) → verify-licenses → tests →
// publish. Pure and deterministic: the same recipes give a byte-identical plan.
import { emulatedTaskQueueFor, taskQueueFor } from '../plan/arches';
import { canonicalJson, stepCacheKey } from '../plan/cache-key';
import type { Compilation } from './compile';
import { fileExtension } from '../plan/formats';
import { durationLiteral } from '../plan/literals';
import type { ResolvedVariant, Test } from '../plan/model';
import type { BuildPlan, Artifact, RetryPolicy, Step } from '../plan/plan';
import type { StepKind, StepParams } from '../plan/step-params';
import { expand, hasTag, multiArchTag, variantId } from '../plan/naming';

/** Version of the step semantics the planner emits, per toolchain; part of every cache key. */
export const TOOLCHAIN_VERSIONS = { alt: '1', debian: '3' } as const;

export interface PlanOptions {
  /** Only these arches (canonical or as written); all when empty. */
  arches?: readonly string[];
}

const MIN = 60_000;
const HOUR = 60 * MIN;
/** Every kind heartbeats every few seconds; a step silent this long is dead and retried (a worker's takeover is faster still). */
const HEARTBEAT_MS = 30_000;

// The planner writes plans complete, every default of the BuildPlan schema spelt out, and
// typed by the schema's output type, so it need not run them through zod: validating
// 48,000 steps took most of the planning time of a 2,000-product run. The engine still
// parses every plan it is given, and the tests parse every plan the planner makes.
const DEFAULT_RETRY: RetryPolicy = { maximumAttempts: 3, initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 60_000 };
const DEFAULT_POLICY: BuildPlan['policy'] = { maxParallelSteps: 4, operatorWaitMs: 24 * HOUR, noWorkerWarningMs: 120_000 };

type Target = Pick<ResolvedVariant, 'toolchain' | 'branch' | 'arch'>;

interface StepSpec<K extends StepKind> {
  id: string;
  kind: K;
  title: string;
  needs?: string[];
  params: StepParams<K>;
  retry?: RetryPolicy;
  timeouts: Step['timeouts'];
  skippable?: boolean;
  cacheable?: boolean;
}

/** A step with the schema's defaults filled in; its params typed by its kind. */
function step<K extends StepKind>(s: StepSpec<K>): Step {
  return {
    id: s.id,
    kind: s.kind,
    title: s.title,
    needs: s.needs ?? [],
    params: s.params,
    retry: s.retry ?? DEFAULT_RETRY,
    timeouts: s.timeouts,
    skippable: s.skippable ?? false,
    cacheable: s.cacheable ?? true,
  } as Step;
}

/** The plan of one product or variant of a compilation without errors. */
export function planProduct(c: Compilation, name: string, options: PlanOptions = {}): BuildPlan {
  const all = c.variants.get(name);
  if (!all || all.length === 0) throw new Error(`\`${name}\` is not a buildable product of these recipes`);
  const wanted = options.arches?.length ? all.filter((v) => options.arches?.includes(v.arch)) : all;
  if (wanted.length === 0) throw new Error(`\`${name}\` is not built for ${options.arches?.join(', ')}; it builds ${[...new Set(all.map((v) => v.arch))].join(', ')}`);
  const first = wanted[0] as ResolvedVariant;
  return {
    version: 1,
    product: first.product,
    ...(first.title ? { title: expand(first.title, first, variantId(first)) } : {}),
    owner: first.owner,
    toolchain: { name: first.toolchain, version: TOOLCHAIN_VERSIONS[first.toolchain] },
    recipeDigest: c.digest,
    ...(first.schedule ? { schedule: first.schedule } : {}),
    policy: { ...DEFAULT_POLICY },
    variants: wanted.map((v) => planVariant(v, c.digest)),
  };
}

function planVariant(v: ResolvedVariant, recipeDigest: string): BuildPlan['variants'][number] {
  const id = variantId(v);
  const target: Target = { toolchain: v.toolchain, branch: v.branch, arch: v.arch };
  const steps: Step[] = [];
  const artifacts: Artifact[] = [];
  const base = [v.product, v.version, v.arch, v.flavour === 'default' ? undefined : v.flavour].filter(Boolean).join('-');

  steps.push(step({
    id: 'resolve',
    kind: 'resolve',
    title: `resolve ${v.packages.length} packages for ${v.branch}/${v.arch}`,
    params: v.kernel
      ? { ...target, packages: v.packages, exclude: v.exclude, kernel: v.kernel, repos: v.repos, sources: v.sources }
      : { ...target, packages: v.packages, exclude: v.exclude, repos: v.repos, sources: v.sources },
    cacheable: false,
    retry: { maximumAttempts: 5, initialIntervalMs: 5000, backoffCoefficient: 2, maximumIntervalMs: 5 * MIN },
    timeouts: { startToCloseMs: 30 * MIN, heartbeatMs: HEARTBEAT_MS },
  }));
  artifacts.push({ name: 'lock', step: 'resolve', path: 'packages.lock.json', format: 'report' });
  steps.push(step({
    id: 'prepare-root',
    kind: 'prepare-root',
    title: 'build root',
    needs: ['resolve'],
    params: v.kernel ? { ...target, kernel: v.kernel, repos: v.repos } : { ...target, repos: v.repos },
    timeouts: { startToCloseMs: 2 * HOUR, heartbeatMs: HEARTBEAT_MS },
  }));
  steps.push(step({
    id: 'configure',
    kind: 'configure',
    title: 'settings, overlays and scripts',
    needs: ['prepare-root'],
    params: {
      ...target,
      settings: v.settings.hostname ? { ...v.settings, hostname: expand(v.settings.hostname, v, id) } : v.settings,
      overlays: v.overlays,
      scripts: v.scripts,
    },
    timeouts: { startToCloseMs: HOUR, heartbeatMs: HEARTBEAT_MS },
  }));
  const builds: string[] = [];
  for (const o of v.outputs) {
    const stepId = `build-${o.format}`;
    const fileName = `${base}.${fileExtension(o)}`;
    const output = o.tag ? { ...o, tag: expand(o.tag, v, id) } : o;
    steps.push(step({
      id: stepId,
      kind: 'build',
      title: `${o.format} image`,
      needs: ['configure'],
      params: buildParams(target, output, v, fileName),
      retry: { maximumAttempts: 2, initialIntervalMs: 10_000, backoffCoefficient: 2, maximumIntervalMs: 5 * MIN },
      timeouts: { startToCloseMs: 6 * HOUR, heartbeatMs: HEARTBEAT_MS },
    }));
    builds.push(stepId);
    artifacts.push({ name: o.format, step: stepId, path: fileName, format: o.format });
  }
  const gates: string[] = [];
  if (v.licensePolicy) {
    steps.push(step({
      id: 'verify-licenses',
      kind: 'verify-licenses',
      title: `licenses under ${v.licensePolicy.name}`,
      // configure's rootfs.tar is the root it reads best, whatever the images are (an ISO or qcow2 hides it).
      needs: ['configure', ...builds],
      params: { ...target, policy: v.licensePolicy },
      retry: { maximumAttempts: 2, initialIntervalMs: 5000, backoffCoefficient: 2, maximumIntervalMs: MIN },
      timeouts: { startToCloseMs: HOUR, heartbeatMs: HEARTBEAT_MS },
    }));
    gates.push('verify-licenses');
    artifacts.push({ name: 'license-report', step: 'verify-licenses', path: 'license-report.json', format: 'report' });
    artifacts.push({ name: 'sbom', step: 'verify-licenses', path: 'sbom.spdx.json', format: 'sbom' });
  }
  let runIndex = 0;
  for (const t of v.tests) {
    const stepId = testStepId(t, t.type === 'run' ? ++runIndex : 0);
    steps.push(step({
      id: stepId,
      kind: 'test',
      title: testTitle(t),
      needs: [...builds],
      params: { ...target, test: t },
      skippable: true,
      retry: { maximumAttempts: 2, initialIntervalMs: 5000, backoffCoefficient: 2, maximumIntervalMs: MIN },
      timeouts: { startToCloseMs: (t.type === 'reproducible' ? 6 * HOUR : t.timeoutMs) + 10 * MIN, heartbeatMs: HEARTBEAT_MS },
    }));
    gates.push(stepId);
  }
  const counts = new Map<string, number>();
  for (const p of v.publish) {
    const n = (counts.get(p.target) ?? 0) + 1;
    counts.set(p.target, n);
    const refs = p.target === 'registry' ? artifacts.filter((a) => a.format === 'oci') : artifacts;
    const publish = p.target === 'files' ? { target: 'files' as const, path: expand(p.path, v, id) } : { target: 'registry' as const, repository: expand(p.repository, v, id) };
    const tag = publish.target === 'registry' && !hasTag(publish.repository) ? multiArchTag(v, id) : undefined;
    const keep = p.target === 'files' ? p.keep : undefined;
    steps.push(step({
      id: n === 1 ? `publish-${p.target}` : `publish-${p.target}-${n}`,
      kind: 'publish',
      title: `publish to ${publish.target === 'files' ? publish.path : publish.repository}`,
      // resolve: the lock goes out with the images.
      needs: ['resolve', ...builds, ...gates],
      params: {
        publish, product: v.product, arch: v.arch, artifacts: refs.map((a) => ({ ...a })),
        variant: id, ...(v.variantOf ? { variantOf: v.variantOf } : {}), branch: v.branch, ...(v.version !== undefined ? { version: v.version } : {}),
        owner: v.owner, recipeDigest, ...(tag ? { tag } : {}), ...(keep ? { keep } : {}),
      },
      cacheable: false,
      retry: { maximumAttempts: 5, initialIntervalMs: 5000, backoffCoefficient: 2, maximumIntervalMs: 5 * MIN },
      timeouts: { startToCloseMs: HOUR, heartbeatMs: HEARTBEAT_MS },
    }));
  }
  return {
    id,
    product: v.product,
    ...(v.variantOf ? { variantOf: v.variantOf } : {}),
    arch: v.arch,
    flavour: v.flavour,
    taskQueue: taskQueueFor(v.arch),
    ...(v.emulateAfterMs !== undefined ? { emulation: { taskQueue: emulatedTaskQueueFor(v.arch), afterMs: v.emulateAfterMs } } : {}),
    steps,
    artifacts,
  };
}

/**
 * A build step's params, optional fields set only when present: conditional spreads cost a
 * temporary object and a slow generic copy each, on the planner's most frequent step.
 */
function buildParams(target: Target, output: ResolvedVariant['outputs'][number], v: ResolvedVariant, fileName: string): StepParams<'build'> {
  const p: Record<string, unknown> = { toolchain: target.toolchain, branch: target.branch, arch: target.arch, output };
  if (v.profile) p.profile = v.profile;
  if (v.profilesTree) p.profilesTree = v.profilesTree;
  p.fileName = fileName;
  return p as StepParams<'build'>;
}

function testStepId(t: Test, n: number): string {
  return t.type === 'run' ? `test-run-${n}` : `test-${t.type}`;
}

function testTitle(t: Test): string {
  if (t.type === 'boot') return `boot test (expects ${JSON.stringify(t.expect)})`;
  if (t.type === 'run') return `run ${t.argv.join(' ')}`;
  return 'rebuild and compare digests';
}

/**
 * The cache key of every step as planned: sha256 over kind, params, the keys of the steps
 * it needs, and the toolchain. Steps after a non-cacheable one (resolve) get their final
 * key at run time from the real input keys; these are the keys given the planned inputs.
 */
export function planCacheKeys(plan: BuildPlan): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const v of plan.variants) {
    const keys: Record<string, string> = {};
    const byId = new Map(v.steps.map((s) => [s.id, s]));
    const keyOf = (id: string): string => {
      const known = keys[id];
      if (known) return known;
      const s = byId.get(id);
      if (!s) return '';
      const inputs = Object.fromEntries([...s.needs].sort().map((n) => [n, keyOf(n)]));
      const key = stepCacheKey({ kind: s.kind, params: s.params, inputs, toolchain: plan.toolchain });
      keys[id] = key;
      return key;
    };
    for (const s of v.steps) keyOf(s.id);
    out[v.id] = keys;
  }
  return out;
}

/** The plan as JSON text: canonical key order, two-space indent, newline at the end. */
export function planJson(plan: BuildPlan): string {
  return `${JSON.stringify(JSON.parse(canonicalJson(plan)), null, 2)}\n`;
}

/** Graphviz of the step DAGs, one cluster per variant. */
export function planDot(plan: BuildPlan): string {
  const keys = planCacheKeys(plan);
  const q = (s: string): string => JSON.stringify(s);
  const lines = [`digraph ${q(plan.product)} {`, '  rankdir=LR;', '  node [shape=box, fontname="monospace"];'];
  plan.variants.forEach((v, i) => {
    lines.push(`  subgraph cluster_${i} {`, `    label=${q(v.id)};`);
    for (const s of v.steps) lines.push(`    ${q(`${v.id}/${s.id}`)} [label=${q(`${s.id}\n${(keys[v.id]?.[s.id] ?? '').slice(0, 12)}`)}];`);
    for (const s of v.steps) for (const n of s.needs) lines.push(`    ${q(`${v.id}/${n}`)} -> ${q(`${v.id}/${s.id}`)};`);
    lines.push('  }');
  });
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** A plan for people: each variant, its steps in order with needs and cache keys. */
export function planText(plan: BuildPlan): string {
  const keys = planCacheKeys(plan);
  const out = [`${plan.product}${plan.title ? ` — ${plan.title}` : ''} (toolchain ${plan.toolchain.name} ${plan.toolchain.version})`];
  for (const v of plan.variants) {
    const fallback = v.emulation ? `, then ${v.emulation.taskQueue} after ${durationLiteral(v.emulation.afterMs)}` : '';
    out.push('', `${v.id}  [${v.taskQueue}${fallback}]`);
    for (const s of v.steps) {
      const needs = s.needs.length ? ` ← ${s.needs.join(', ')}` : '';
      out.push(`  ${s.id.padEnd(18)} ${(keys[v.id]?.[s.id] ?? '').slice(0, 16)}${s.cacheable ? '' : ' (not cached)'}${needs}`);
    }
  }
  return `${out.join('\n')}\n`;
}
