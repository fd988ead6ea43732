// The license report: JSON for machines (license-report.json), Markdown and a standalone
// HTML page for people. Every violation reads package → declared → normalised → rule.
import type { InstalledPackage } from './model';
import type { Evaluation, PackageResult, PackageStatus, Verdict } from './policy';

export const REPORT_VERSION = 1;

export interface UnparsedText {
  package: string;
  origin: string;
  guess?: string;
  text: string;
}

export interface LicenseReport {
  reportVersion: number;
  policy: string;
  date: string;
  verdict: Verdict;
  totals: {
    packages: number;
    byStatus: Record<PackageStatus, number>;
    /** Packages per license term, most common first. */
    byLicense: Array<{ license: string; packages: number }>;
    /** Packages per how their license was read (rpm-tag, dep5, unparsed, missing). */
    bySource: Record<string, number>;
  };
  /** Packages that are not plainly allowed (deny, review, waived, cleared), worst first. */
  violations: PackageResult[];
  packages: PackageResult[];
  waivers: { applied: PackageResult['waiver'][]; expired: PackageResult['waiver'][]; unused: Evaluation['unusedWaivers'] };
  /** Free-form copyright files, kept verbatim for the reviewer. */
  unparsed: UnparsedText[];
  /** Facts about how the report was made (extractor, license-verificator). */
  sources: Record<string, unknown>;
}

const ORDER: Record<PackageStatus, number> = { deny: 0, review: 1, waived: 2, cleared: 3, allow: 4 };

export function buildReport(evaluation: Evaluation, installed: readonly InstalledPackage[], sources: Record<string, unknown> = {}): LicenseReport {
  const byStatus: Record<PackageStatus, number> = { allow: 0, review: 0, deny: 0, waived: 0, cleared: 0 };
  const byLicense = new Map<string, number>();
  const bySource: Record<string, number> = {};
  for (const p of evaluation.packages) {
    byStatus[p.status] += 1;
    for (const l of p.licenses) byLicense.set(l, (byLicense.get(l) ?? 0) + 1);
    bySource[p.package.licenseSource] = (bySource[p.package.licenseSource] ?? 0) + 1;
  }
  const byName = (a: PackageResult, b: PackageResult) => a.package.name.localeCompare(b.package.name) || a.package.arch.localeCompare(b.package.arch);
  const packages = [...evaluation.packages].sort(byName);
  return {
    reportVersion: REPORT_VERSION,
    policy: evaluation.policy,
    date: evaluation.date,
    verdict: evaluation.verdict,
    totals: {
      packages: evaluation.packages.length,
      byStatus,
      byLicense: [...byLicense].map(([license, n]) => ({ license, packages: n })).sort((a, b) => b.packages - a.packages || a.license.localeCompare(b.license)),
      bySource,
    },
    violations: packages.filter((p) => p.status !== 'allow').sort((a, b) => ORDER[a.status] - ORDER[b.status] || byName(a, b)),
    packages,
    waivers: {
      applied: packages.filter((p) => p.status === 'waived').map((p) => p.waiver),
      expired: packages.filter((p) => p.waiver?.expired).map((p) => p.waiver),
      unused: evaluation.unusedWaivers,
    },
    unparsed: installed
      .filter((p) => p.raw !== undefined)
      .map((p) => ({ package: p.name, origin: p.origin, ...(p.guess ? { guess: p.guess } : {}), text: p.raw! }))
      .sort((a, b) => a.package.localeCompare(b.package)),
    sources,
  };
}

/** "declared → normalised → rule" for one package, as the text of a violation. */
export function explain(p: PackageResult): { declared: string; expression: string; rules: string } {
  const declared = p.package.declared.length > 0 ? p.package.declared.join(' | ') : p.package.guess ? `(licensecheck: ${p.package.guess})` : '(none)';
  const rules = p.because.map((b) => `${b.license}: ${b.rule}`).join('; ');
  const waiver = p.waiver ? `; waiver by ${p.waiver.owner} until ${p.waiver.until}${p.waiver.expired ? ' (expired)' : ''}: ${p.waiver.reason}` : '';
  return { declared, expression: p.expression, rules: rules + waiver + decisionText(p) };
}

/** "cleared by <who> on <date>: <why>", or the old decision and why it no longer applies. */
export function decisionText(p: PackageResult): string {
  const m = p.decision;
  if (!m) return '';
  const d = m.decision;
  const said = `${d.by} on ${d.at.slice(0, 10)}: ${d.reason}`;
  if (!m.mismatch) return `; cleared by ${said}`;
  return `; asked again (${m.mismatch}): was cleared by ${said} for ${d.expression}, versions ${d.versions}`;
}

const md = (s: string) => s.replace(/[\\`*_[\]|<>]/g, (c) => `\\${c}`).replace(/\n/g, ' ');
const pkgLabel = (p: PackageResult) => `${p.package.name} ${p.package.version}${p.package.release ? `-${p.package.release}` : ''} (${p.package.arch})`;

export function renderMarkdown(r: LicenseReport): string {
  const lines: string[] = [];
  lines.push(`# License report: ${md(r.policy)}`, '');
  lines.push(`Verdict: **${r.verdict}** · ${r.totals.packages} packages · judged on ${r.date}`, '');
  lines.push('| status | packages |', '|---|---|');
  for (const s of ['allow', 'cleared', 'waived', 'review', 'deny'] as const) lines.push(`| ${s} | ${r.totals.byStatus[s]} |`);
  lines.push('', '## Violations', '');
  if (r.violations.length === 0) lines.push('None.');
  else {
    lines.push('| status | package | declared | normalised | rule |', '|---|---|---|---|---|');
    for (const p of r.violations) {
      const e = explain(p);
      lines.push(`| ${p.status} | ${md(pkgLabel(p))} | ${md(e.declared)} | ${md(e.expression)} | ${md(e.rules)} |`);
    }
  }
  lines.push('', '## Totals by license', '', '| license | packages |', '|---|---|');
  for (const l of r.totals.byLicense) lines.push(`| ${md(l.license)} | ${l.packages} |`);
  if (r.waivers.unused.length > 0) {
    lines.push('', '## Unused waivers', '');
    for (const w of r.waivers.unused) lines.push(`- ${md(w.package)} (${md(w.owner)}, until ${w.until}): ${md(w.reason)}`);
  }
  lines.push('', '## Packages', '', '| package | status | license |', '|---|---|---|');
  for (const p of r.packages) lines.push(`| ${md(pkgLabel(p))} | ${p.status} | ${md(p.expression)} |`);
  if (r.unparsed.length > 0) {
    lines.push('', '## Copyright files that are not machine-readable', '');
    for (const u of r.unparsed) lines.push(`- ${md(u.package)}: ${md(u.origin)}${u.guess ? ` (licensecheck: ${md(u.guess)})` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

const html = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** One self-contained page: no scripts, no external resources. */
export function renderHtml(r: LicenseReport): string {
  const row = (cells: string[]) => `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
  const head = (cells: string[]) => `<tr>${cells.map((c) => `<th>${c}</th>`).join('')}</tr>`;
  const parts: string[] = [];
  parts.push(`<h1>License report: ${html(r.policy)}</h1>`);
  parts.push(`<p class="verdict ${r.verdict}">Verdict: <strong>${r.verdict}</strong> · ${r.totals.packages} packages · judged on ${html(r.date)}</p>`);
  parts.push(`<table>${head(['status', 'packages'])}${(['allow', 'cleared', 'waived', 'review', 'deny'] as const).map((s) => row([s, String(r.totals.byStatus[s])])).join('')}</table>`);
  parts.push('<h2>Violations</h2>');
  parts.push(r.violations.length === 0 ? '<p>None.</p>' : `<table>${head(['status', 'package', 'declared', 'normalised', 'rule'])}${r.violations
    .map((p) => {
      const e = explain(p);
      return `<tr class="${p.status}">${[p.status, pkgLabel(p), e.declared, e.expression, e.rules].map((c) => `<td>${html(c)}</td>`).join('')}</tr>`;
    })
    .join('')}</table>`);
  parts.push('<h2>Totals by license</h2>');
  parts.push(`<table>${head(['license', 'packages'])}${r.totals.byLicense.map((l) => row([html(l.license), String(l.packages)])).join('')}</table>`);
  if (r.waivers.unused.length > 0) {
    parts.push('<h2>Unused waivers</h2><ul>');
    for (const w of r.waivers.unused) parts.push(`<li>${html(w.package)} (${html(w.owner)}, until ${html(w.until)}): ${html(w.reason)}</li>`);
    parts.push('</ul>');
  }
  parts.push('<h2>Packages</h2>');
  parts.push(`<table>${head(['package', 'status', 'license'])}${r.packages.map((p) => `<tr class="${p.status}">${[pkgLabel(p), p.status, p.expression].map((c) => `<td>${html(c)}</td>`).join('')}</tr>`).join('')}</table>`);
  if (r.unparsed.length > 0) {
    parts.push('<h2>Copyright files that are not machine-readable</h2>');
    for (const u of r.unparsed) {
      parts.push(`<details><summary>${html(u.package)}: ${html(u.origin)}${u.guess ? ` (licensecheck: ${html(u.guess)})` : ''}</summary><pre>${html(u.text)}</pre></details>`);
    }
  }
  const style = 'body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}'
    + 'tr.deny td{background:#fdd}tr.review td{background:#ffd}tr.waived td{background:#eef}tr.cleared td{background:#efe}.verdict.fail strong{color:#b00}.verdict.review strong{color:#a60}.verdict.pass strong{color:#070}pre{white-space:pre-wrap}';
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>License report: ${html(r.policy)}</title><style>${style}</style></head><body>\n${parts.join('\n')}\n</body></html>\n`;
}
