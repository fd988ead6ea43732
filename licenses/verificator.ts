// The exchange format with ALT's `license-verificator`. Its real interface is not public
// (no source or manual reachable from here), so this adapter defines one and the alt
// toolchain's wrapper must speak it:
//   license-verificator --input <list.tsv> [--policy <name>]
//   list.tsv: one package a line: name TAB epoch:version-release TAB arch TAB license
//   stdout:   one verdict a line: name TAB ok|warn|fail TAB free-text comment
//   exit 0: every package ok; exit 1: some package warn/fail (stdout still complete);
//   anything else: the tool itself failed.
// Lines starting with "#" and blank lines are ignored.
import type { ExternalVerdict, InstalledPackage } from './model';

export const VERIFICATOR_EXIT_FINDINGS = 1;

const clean = (s: string) => s.replace(/[\t\n\r]+/g, ' ');

export function renderVerificatorInput(packages: readonly InstalledPackage[]): string {
  return packages
    .map((p) => {
      const evr = `${p.epoch ? `${p.epoch}:` : ''}${p.version}${p.release ? `-${p.release}` : ''}`;
      return [p.name, evr, p.arch, p.declared.join(' and ')].map(clean).join('\t');
    })
    .map((l) => `${l}\n`)
    .join('');
}

const VERDICTS: Record<string, ExternalVerdict['verdict']> = { ok: 'pass', pass: 'pass', warn: 'review', review: 'review', fail: 'fail', error: 'fail' };

export class VerificatorOutputError extends Error {}

/** Verdicts by package; unknown verdict words and packages not asked about are errors. */
export function parseVerificatorOutput(text: string, asked: ReadonlySet<string>): ExternalVerdict[] {
  const out: ExternalVerdict[] = [];
  let lineNo = 0;
  for (const line of text.split('\n')) {
    lineNo += 1;
    if (line.trim() === '' || line.startsWith('#')) continue;
    const [name = '', word = '', ...comment] = line.split('\t');
    const verdict = VERDICTS[word.trim().toLowerCase()];
    if (!verdict) throw new VerificatorOutputError(`license-verificator output line ${lineNo}: unknown verdict ${JSON.stringify(word)}`);
    if (!asked.has(name)) throw new VerificatorOutputError(`license-verificator output line ${lineNo}: package ${JSON.stringify(name)} was not in its input`);
    out.push({ package: name, verdict, comment: comment.join('\t').trim() });
  }
  return out;
}
