// Judging SPDX expressions by a license policy. A license term gets the list that names it
// (deny wins over review over allow when several do); `A OR B` takes the better side, since
// the distributor may choose; `A AND B` takes the worse, since both apply. `X WITH E` is
// judged by an entry naming exactly "X WITH E" when there is one, otherwise as X: an
// exception only adds permissions. `X+` ("or later") is also met by an entry for X.
// Terms on no list get the policy's `unknown` rule.
import { indexDecisions, matchDecision, type Decision, type DecisionContext, type DecisionMatch } from './decisions';
import type { ExternalVerdict, InstalledPackage, Policy, Waiver } from './model';
import { createNormalizer, UNKNOWN_PREFIX, type Normalized } from './normalize';
import { andOf, canonicalize, licenseTerms, parseSpdx, renderSpdx, type SpdxLicense, type SpdxNode } from './spdx';

export type Status = 'allow' | 'review' | 'deny';
/** waived: by the recipe's waiver; cleared: by a person's recorded decision (licenses/decisions.ts). */
export type PackageStatus = Status | 'waived' | 'cleared';
export type Verdict = 'pass' | 'review' | 'fail';

const RANK: Record<Status, number> = { allow: 0, review: 1, deny: 2 };
const worse = (a: Status, b: Status): Status => (RANK[a] >= RANK[b] ? a : b);

export interface TermMatch {
  /** The license term as judged ("GPL-2.0-or-later WITH Classpath-exception-2.0"). */
  license: string;
  status: Status;
  /** The rule that decided: "allow GPL-2.0-or-later", "unknown review", ... */
  rule: string;
}

export interface Judgement {
  status: Status;
  /** The terms that decided the status (the denied ones of an AND, the chosen side of an OR). */
  because: TermMatch[];
}

export interface CompiledPolicy {
  name: string;
  unknown: Status;
  lookup: Map<string, { status: Status; entry: string }>;
  waivers: Waiver[];
}

export class PolicyError extends Error {}

/** Parses every list entry once; a misspelt entry is an error, not a silent non-match. */
export function compilePolicy(policy: Policy): CompiledPolicy {
  const lookup = new Map<string, { status: Status; entry: string }>();
  const problems: string[] = [];
  for (const status of ['allow', 'review', 'deny'] as const) {
    for (const entry of policy[status]) {
      const parsed = parseSpdx(entry);
      if (!parsed.ok) {
        problems.push(`${status} ${entry}: ${parsed.error}`);
        continue;
      }
      const node = canonicalize(parsed.node);
      if (node.type !== 'license') {
        problems.push(`${status} ${entry}: a list names single licenses (optionally WITH an exception), not expressions`);
        continue;
      }
      const k = renderSpdx(node);
      const prev = lookup.get(k);
      if (!prev || RANK[status] > RANK[prev.status]) lookup.set(k, { status, entry });
    }
  }
  if (problems.length > 0) throw new PolicyError(`license-policy ${policy.name}: ${problems.join('; ')}`);
  return { name: policy.name, unknown: policy.unknown, lookup, waivers: policy.waivers };
}

function judgeTerm(term: SpdxLicense, policy: CompiledPolicy): TermMatch {
  const license = renderSpdx(term);
  const candidates = [license];
  if (term.exception) candidates.push(renderSpdx({ ...term, exception: undefined }));
  if (term.plus) candidates.push(term.id);
  for (const c of candidates) {
    const hit = policy.lookup.get(c);
    if (hit) return { license, status: hit.status, rule: `${hit.status} ${hit.entry}` };
  }
  const unmapped = term.id.startsWith(UNKNOWN_PREFIX);
  return { license, status: policy.unknown, rule: `unknown ${policy.unknown}${unmapped ? ' (not recognised as an SPDX license)' : ''}` };
}

export function judgeExpression(node: SpdxNode, policy: CompiledPolicy): Judgement {
  if (node.type === 'license') {
    const m = judgeTerm(node, policy);
    return { status: m.status, because: [m] };
  }
  const parts = node.args.map((a) => judgeExpression(a, policy));
  if (node.type === 'or') {
    const best = parts.reduce((a, b) => (RANK[b.status] < RANK[a.status] ? b : a));
    // All sides fail alike: every one of them is a reason.
    return best.status === 'allow' ? best : { status: best.status, because: parts.filter((p) => p.status === best.status).flatMap((p) => p.because) };
  }
  const status = parts.map((p) => p.status).reduce(worse);
  return { status, because: parts.filter((p) => p.status === status).flatMap((p) => p.because) };
}

export interface PackageResult {
  package: Omit<InstalledPackage, 'raw'>;
  /** The normalised expression of everything declared (declared strings ANDed). */
  expression: string;
  /** Distinct license terms of the expression (totals by license count these). */
  licenses: string[];
  /** Declared terms that no rule recognised. */
  unknownTerms: string[];
  notes: string[];
  status: PackageStatus;
  /** The policy's own judgement, before waivers. */
  policyStatus: Status;
  because: TermMatch[];
  external?: ExternalVerdict;
  waiver?: Waiver & { expired: boolean };
  /** The recorded decision that cleared this review, or (with mismatch) the old one that no longer applies. */
  decision?: DecisionMatch;
}

export interface Evaluation {
  policy: string;
  /** The date waivers were judged on. */
  date: string;
  verdict: Verdict;
  packages: PackageResult[];
  /** Waivers that matched no package that needed one. */
  unusedWaivers: Waiver[];
}

export interface EvaluateOptions {
  /** yyyy-mm-dd (UTC) the waivers are judged on. */
  date: string;
  external?: readonly ExternalVerdict[];
  /** Recorded decisions; those whose scope applies in `context` clear matching reviews. */
  decisions?: readonly Decision[];
  context?: DecisionContext;
}

const EXTERNAL_STATUS: Record<ExternalVerdict['verdict'], Status> = { pass: 'allow', review: 'review', fail: 'deny' };

/** Normalises, judges and waives every package; the verdict is fail on any deny, review on any review. */
export function evaluatePackages(packages: readonly InstalledPackage[], policyIn: Policy, options: EvaluateOptions): Evaluation {
  const policy = compilePolicy(policyIn);
  const normalizers = { rpm: createNormalizer('rpm'), debian: createNormalizer('debian') };
  const external = new Map((options.external ?? []).map((e) => [e.package, e]));
  const waivers = new Map<string, Waiver>();
  for (const w of policy.waivers) waivers.set(w.package, w);
  const usedWaivers = new Set<string>();
  const decisions = indexDecisions(options.decisions ?? [], options.context ?? {});
  // Expressions repeat across packages: judge each distinct one once.
  const judged = new Map<string, Judgement>();

  // Thousands of packages share a few hundred declarations: combine each distinct one once.
  const combined = new Map<string, { normalized: Normalized[]; node?: SpdxNode; expression: string }>();
  const combine = (pkg: InstalledPackage) => {
    const k = `${pkg.flavour}\u0000${pkg.guess ?? ''}\u0000${pkg.declared.join('\u0000')}\u0000${pkg.identified ? JSON.stringify(pkg.identified) : ''}`;
    let hit = combined.get(k);
    if (!hit) {
      const normalized = pkg.declared.map((d) => normalizers[pkg.flavour](d, pkg.identified));
      const guess = pkg.guess !== undefined ? normalizers[pkg.flavour](pkg.guess) : undefined;
      const node = normalized.length > 0 ? andOf(normalized.map((n) => n.node)) : guess?.node;
      hit = { normalized, ...(node ? { node } : {}), expression: node ? renderSpdx(node) : 'NOASSERTION' };
      combined.set(k, hit);
    }
    return hit;
  };

  const results: PackageResult[] = packages.map((pkg) => {
    const { normalized, node, expression } = combine(pkg);
    let judgement: Judgement;
    let byLicensecheck = false;
    if (node && pkg.licenseSource !== 'unparsed' && pkg.licenseSource !== 'missing') {
      judgement = judged.get(expression) ?? judgeExpression(node, policy);
      judged.set(expression, judgement);
    } else if (node && pkg.licenseSource === 'unparsed' && guessIsComplete(pkg, normalizers[pkg.flavour])) {
      // A free-form file in which licensecheck recognised every license it found (its
      // "GPL-2+" of base-files): judged like a declaration, with the source in the notes.
      judgement = judgeExpression(node, policy);
      byLicensecheck = true;
    } else {
      // No machine-readable license: the unknown rule applies, and a guessed deny still denies.
      const unknown: TermMatch = { license: expression, status: policy.unknown, rule: `unknown ${policy.unknown} (${pkg.licenseSource === 'missing' ? 'no license information' : 'copyright file is not machine-readable'})` };
      const fromGuess = node ? judgeExpression(node, policy) : undefined;
      judgement = fromGuess && RANK[fromGuess.status] > RANK[unknown.status] ? fromGuess : { status: unknown.status, because: [unknown] };
    }
    let policyStatus = judgement.status;
    let because = judgement.because;
    const ext = external.get(pkg.name);
    if (ext && RANK[EXTERNAL_STATUS[ext.verdict]] > RANK[policyStatus]) {
      policyStatus = EXTERNAL_STATUS[ext.verdict];
      because = [{ license: expression, status: policyStatus, rule: `license-verificator ${ext.verdict}${ext.comment ? `: ${ext.comment}` : ''}` }];
    }
    let status: PackageStatus = policyStatus;
    let waiver: PackageResult['waiver'];
    const w = waivers.get(pkg.name);
    if (w && policyStatus !== 'allow') {
      const expired = w.until < options.date;
      waiver = { ...w, expired };
      if (!expired) {
        status = 'waived';
        usedWaivers.add(w.package);
      }
    }
    // A decision answers a review only: a deny is the policy's, lifted by a recipe waiver or not at all.
    let decision: DecisionMatch | undefined;
    if (status === 'review') {
      decision = matchDecision(decisions.get(pkg.name), { version: fullVersion(pkg), expression }, options.date);
      if (decision && !decision.mismatch) status = 'cleared';
    }
    const { raw: _raw, ...rest } = pkg;
    return {
      package: rest,
      expression,
      licenses: node ? [...new Set(licenseTerms(node).map(renderSpdx))] : [],
      unknownTerms: [...new Set(normalized.flatMap((n) => n.unknown))],
      notes: [...new Set([...normalized.flatMap((n) => n.notes), ...(byLicensecheck ? [`read by licensecheck from the free-form copyright file: ${pkg.guess}`] : [])])],
      status, policyStatus, because,
      ...(ext ? { external: ext } : {}),
      ...(waiver ? { waiver } : {}),
      ...(decision ? { decision } : {}),
    };
  });

  const statuses = new Set(results.map((r) => r.status));
  const verdict: Verdict = statuses.has('deny') ? 'fail' : statuses.has('review') ? 'review' : 'pass';
  return {
    policy: policy.name,
    date: options.date,
    verdict,
    packages: results,
    unusedWaivers: policy.waivers.filter((w) => !usedWaivers.has(w.package) && !results.some((r) => r.waiver?.package === w.package)),
  };
}

/** licensecheck read the free-form file and every term of its reading is a known license. */
function guessIsComplete(pkg: InstalledPackage, normalize: (d: string) => Normalized): boolean {
  return pkg.guess !== undefined && normalize(pkg.guess).unknown.length === 0;
}

/** The version a decision's range is compared with: Debian's as dpkg writes it, RPM's [epoch:]version-release. */
export function fullVersion(pkg: Pick<InstalledPackage, 'version' | 'release' | 'epoch'>): string {
  if (pkg.release === undefined) return pkg.version;
  return `${pkg.epoch && pkg.epoch !== '(none)' ? `${pkg.epoch}:` : ''}${pkg.version}-${pkg.release}`;
}

/** Judges one expression text (for tests, the CLI and the report's "why"). */
export function judgeText(expression: string, policy: Policy): Judgement {
  const parsed = parseSpdx(expression);
  if (!parsed.ok) throw new PolicyError(`${expression}: ${parsed.error}`);
  return judgeExpression(canonicalize(parsed.node), compilePolicy(policy));
}
