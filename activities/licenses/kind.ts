// The verify-licenses step kind: unpack the image's package database, extract every
// package's license, normalise to SPDX, judge by the recipe's policy (plus partner waivers
// and, where present, ALT's license-verificator), write the reports and the SBOM.
// pass / review: success with values {verdict, report, ...}; the workflow turns review into
// an operator wait. fail: a non-retryable PolicyViolation naming every offending package.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { buildKinds } from '../../plan/build-step-params';
import type { Step } from '../../plan/plan';
import { Policy, Waiver, type ExternalVerdict, type InstalledPackage } from '../../licenses/model';
import { evaluatePackages, PolicyError, type Evaluation } from '../../licenses/policy';
import { buildReport, explain, renderHtml, renderMarkdown, type LicenseReport } from '../../licenses/report';
import { buildSbom, type SbomArtifact } from '../../licenses/sbom';
import { parseVerificatorOutput, renderVerificatorInput, VerificatorOutputError } from '../../licenses/verificator';
import packageJson from '../../package.json';
import { badInput } from '../failures';
import { sha256File } from '../store';
import type { KindContext, KindExecutor, KindResult } from '../kinds/registry';
import { extractDebian, extractRpm } from './extract';
import { decisionContext, decisionsDigest, decisionsPath, liveDecisions, readDecisions } from './decisions-file';
import { unpackRoot, type RootFlavour } from './root-source';

/**
 * The step's params: the language's (toolchain, branch, arch, policy) plus waivers, which the
 * language cannot express yet. Waivers are read from params.waivers or params.policy.waivers.
 */
export const VerifyLicensesParams = z.object({
  ...buildKinds['verify-licenses'].shape,
  policy: Policy,
  waivers: z.array(Waiver).default([]),
});
export type VerifyLicensesParams = z.infer<typeof VerifyLicensesParams>;

export const REPORT_FILES = { json: 'license-report.json', markdown: 'license-report.md', html: 'license-report.html', sbom: 'sbom.spdx.json' } as const;

export interface LicenseKindOptions {
  /**
   * ALT's license-verificator: an executable path, or undefined to look for
   * "license-verificator" on PATH; null never runs it.
   */
  verificator?: string | null;
  /** The clock waivers are judged by (tests move it). */
  now?: () => Date;
  /** How the RPM database is queried on the alt toolchain; the host's rpm --root by default. */
  rpmQuery?: (root: string) => readonly string[];
  /**
   * The recorded license decisions (licenses/decisions.ts) this host applies: a file path,
   * undefined for $SBORKA_LICENSE_DECISIONS or <stateDir>/license-decisions.json, null for none.
   */
  decisionsFile?: string | null;
}

export function parseVerifyParams(step: Step): VerifyLicensesParams {
  const parsed = VerifyLicensesParams.safeParse(step.params);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `params.${i.path.join('.')}: ${i.message}`).join('; ');
    throw badInput(`step "${step.id}" (verify-licenses): ${problems}`);
  }
  const p = parsed.data;
  // One list, params.waivers after the policy's own: the later entry for a package wins.
  return { ...p, policy: { ...p.policy, waivers: [...p.policy.waivers, ...p.waivers] }, waivers: [] };
}

const utcDate = (d: Date) => d.toISOString().slice(0, 10);

export function verifyLicensesKind(flavour: RootFlavour, options: LicenseKindOptions = {}): KindExecutor {
  const now = options.now ?? (() => new Date());
  return {
    kind: 'verify-licenses',
    execute: (ctx) => verifyLicenses(ctx, parseVerifyParams(ctx.step), flavour, options, now()),
    // The cache key must change when the verificator changes, a waiver starts or stops
    // applying, or the recorded decisions change: a cached verdict must not outlive the
    // waiver or decision that made it, nor miss one made since. The step does not know its
    // owner here, so every live decision counts (a decision elsewhere reruns this cheap step).
    hostInputs: async (step, config) => {
      const params = parseVerifyParams(step);
      const today = utcDate(now());
      const active = params.policy.waivers.filter((w) => w.until >= today).map((w) => `${w.package}@${w.until}`).sort();
      const verificator = await findVerificator(options.verificator);
      const decisions = liveDecisions(await readDecisions(decisionsPath(options.decisionsFile, config)), today);
      if (active.length === 0 && !verificator && decisions.length === 0) return undefined;
      const hash = createHash('sha256').update(JSON.stringify({ active }));
      if (decisions.length > 0) hash.update(decisionsDigest(decisions));
      if (verificator) hash.update(await sha256File(verificator));
      return hash.digest('hex');
    },
  };
}

async function verifyLicenses(ctx: KindContext, params: VerifyLicensesParams, flavour: RootFlavour, options: LicenseKindOptions, now: Date): Promise<KindResult> {
  const root = await unpackRoot(ctx, flavour);
  ctx.progress({ phase: 'extracting', lastLine: `${flavour} packages of ${root.source.stepId}/${path.basename(root.source.file)}` });
  const installed = flavour === 'debian' ? await extractDebian(ctx, root.dir) : await extractRpm(ctx, root.dir, options.rpmQuery?.(root.dir));
  if (installed.length === 0) throw badInput(`step "${ctx.step.id}": the package database of ${path.basename(root.source.file)} lists no installed package`);

  const verificator = await findVerificator(options.verificator);
  const external = verificator ? await runVerificator(ctx, verificator, installed, params.policy.name) : undefined;

  // Expired ones too: the report shows them beside the question they no longer answer.
  const decisions = await readDecisions(decisionsPath(options.decisionsFile, ctx.config));
  const context = decisionContext(ctx, params);
  ctx.progress({ phase: 'evaluating', lastLine: `${installed.length} packages under ${params.policy.name}, ${decisions.length} recorded decision(s)` });
  let evaluation: Evaluation;
  try {
    evaluation = evaluatePackages(installed, params.policy, { date: utcDate(now), decisions, context, ...(external ? { external } : {}) });
  } catch (err) {
    if (err instanceof PolicyError) throw badInput(`step "${ctx.step.id}": ${err.message}`);
    throw err;
  }
  const report = buildReport(evaluation, installed, {
    flavour,
    root: `${root.source.stepId}/${path.basename(root.source.file)}`,
    licenseVerificator: verificator ?? null,
  });
  const artifacts = imageArtifacts(ctx);
  const sbom = buildSbom({
    name: sbomName(artifacts, params),
    created: creationTime(ctx, now),
    toolVersion: packageJson.version,
    packages: evaluation.packages,
    installed,
    artifacts,
  });

  ctx.progress({ phase: 'writing reports' });
  const markdown = renderMarkdown(report);
  await fs.writeFile(path.join(ctx.outputsDir, REPORT_FILES.json), `${JSON.stringify(report, null, 2)}\n`);
  await fs.writeFile(path.join(ctx.outputsDir, REPORT_FILES.markdown), markdown);
  await fs.writeFile(path.join(ctx.outputsDir, REPORT_FILES.html), renderHtml(report));
  await fs.writeFile(path.join(ctx.outputsDir, REPORT_FILES.sbom), `${JSON.stringify(sbom, null, 2)}\n`);

  if (report.verdict === 'fail') {
    // The outputs of a failed step are discarded: the log keeps the report for the humans.
    await fs.appendFile(ctx.logPath, `--- sborka: license report (verdict fail)\n${markdown}`);
    throw policyViolation(report);
  }
  return { values: summaryValues(report) };
}

/** The small values recorded in the manifest and sent back through Temporal. */
function summaryValues(report: LicenseReport): Record<string, unknown> {
  const names = (status: string) => report.violations.filter((v) => v.status === status).map((v) => v.package.name);
  const review = names('review');
  return {
    verdict: report.verdict,
    report: REPORT_FILES.json,
    reportMarkdown: REPORT_FILES.markdown,
    reportHtml: REPORT_FILES.html,
    sbom: REPORT_FILES.sbom,
    policy: report.policy,
    date: report.date,
    packages: report.totals.packages,
    byStatus: report.totals.byStatus,
    // Capped: values travel in Temporal payloads; the report has them all.
    review: review.slice(0, 100),
    reviewCount: review.length,
    waived: names('waived').slice(0, 100),
    cleared: names('cleared').slice(0, 100),
  };
}

function policyViolation(report: LicenseReport): ApplicationFailure {
  const denied = report.violations.filter((v) => v.status === 'deny');
  const lines = denied.map((v) => {
    const e = explain(v);
    return `${v.package.name} ${v.package.version}: ${e.declared} → ${e.expression} (${e.rules})`;
  });
  const message = `license policy ${report.policy}: ${denied.length} package(s) denied: ${denied.map((v) => v.package.name).join(', ')}\n${lines.join('\n')}`;
  return ApplicationFailure.create({
    type: 'PolicyViolation',
    // Temporal payloads must stay small: names always, explanations while they fit.
    message: message.length > 32_000 ? `${message.slice(0, 32_000)}…` : message,
    nonRetryable: true,
    details: [{ policy: report.policy, packages: denied.map((v) => v.package.name), byStatus: report.totals.byStatus }],
  });
}

/** Every file the image-writing steps produced, with the checksums their manifests hold. */
function imageArtifacts(ctx: KindContext): SbomArtifact[] {
  const out: SbomArtifact[] = [];
  for (const id of Object.keys(ctx.inputs).sort()) {
    const entry = ctx.inputs[id]!;
    if (entry.manifest.kind !== 'build') continue;
    for (const f of entry.manifest.outputs.files) out.push({ fileName: path.basename(f.path), sha256: f.sha256, size: f.size });
  }
  return out;
}

function sbomName(artifacts: SbomArtifact[], params: VerifyLicensesParams): string {
  const first = artifacts[0]?.fileName.replace(/\.[^.]+(?:\.(?:gz|xz|zst))?$/, '');
  return first ?? `${params.toolchain}-${params.branch}-${params.arch}`;
}

/** SOURCE_DATE_EPOCH of the build when an input records it, so the SBOM rebuilds bit for bit. */
function creationTime(ctx: KindContext, now: Date): Date {
  for (const entry of Object.values(ctx.inputs)) {
    const epoch = Number(entry.manifest.outputs.values.sourceDateEpoch);
    if (Number.isInteger(epoch) && epoch > 0) return new Date(epoch * 1000);
  }
  return now;
}

async function findVerificator(configured: string | null | undefined): Promise<string | undefined> {
  if (configured === null) return undefined;
  if (configured !== undefined) return configured;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir === '') continue;
    const candidate = path.join(dir, 'license-verificator');
    try {
      await fs.access(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

async function runVerificator(ctx: KindContext, exe: string, installed: InstalledPackage[], policy: string): Promise<ExternalVerdict[]> {
  const input = path.join(ctx.workDir, 'license-verificator.tsv');
  await fs.writeFile(input, renderVerificatorInput(installed));
  ctx.progress({ phase: 'license-verificator' });
  const lines: string[] = [];
  await ctx.run([exe, '--input', input, '--policy', policy], { onLine: (line, stream) => stream === 'stdout' && lines.push(line) });
  try {
    return parseVerificatorOutput(lines.join('\n'), new Set(installed.map((p) => p.name)));
  } catch (err) {
    // A tool that answers in another format is a setup error on this host, not a flaky run.
    if (err instanceof VerificatorOutputError) throw badInput(`step "${ctx.step.id}": ${err.message}`);
    throw err;
  }
}
