// License verification on a 5,000-package manifest, printed as JSON: parsing a prepared
// `rpm -qa --queryformat` dump, normalising every License: tag to SPDX and judging it by
// ALT's free-software policy. Target: under 500 ms for all three together.
// Run: npx tsc -p . && node build/bench/license.js
import { Policy } from '../licenses/model';
import { evaluatePackages } from '../licenses/policy';
import { parseRpmDump } from '../licenses/rpm-dump';

// License: tags as they occur in ALT's repositories, weighted roughly by frequency.
const LICENSES: Array<[string, number]> = [
  ['GPLv2+', 20], ['LGPLv2+', 8], ['GPLv3+', 8], ['MIT', 8], ['BSD', 6], ['GPLv2', 5], ['LGPLv2.1+', 5], ['Apache-2.0', 4],
  ['GPL-2.0-or-later', 4], ['LGPL-2.1-or-later', 3], ['GPLv2+ and LGPLv2+', 3], ['GPL or Artistic', 3], ['MIT/X11', 2], ['ALT-Public-Domain', 2],
  ['Public domain', 2], ['zlib', 1], ['MPLv2.0', 1], ['ASL 2.0', 1], ['distributable', 1], ['LGPLv3+', 1], ['BSD-3-Clause', 1],
  ['GPLv3+ and GFDLv1.3+', 1], ['(GPLv2+ or LGPLv3+) and MIT', 1], ['LGPLv2+ and LGPLv2+ with exceptions and GPLv2+', 1], ['Python', 1],
  ['OpenSSL', 1], ['ISC', 1], ['Proprietary', 0.05], ['Some Vendor EULA', 0.05], ['GPL-2.0-or-later WITH Classpath-exception-2.0', 0.5],
];

function dump(n: number): string {
  const total = LICENSES.reduce((s, [, w]) => s + w, 0);
  const lines: string[] = [];
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < n; i += 1) {
    let r = random() * total;
    let license = LICENSES[0]![0];
    for (const [l, w] of LICENSES) {
      r -= w;
      if (r <= 0) {
        license = l;
        break;
      }
    }
    const name = `pkg${i}-${['lib', 'python3-module-', 'perl-', 'kde5-', ''][i % 5]}x`;
    lines.push([name, i % 17 === 0 ? '1' : '(none)', `${1 + (i % 9)}.${i % 13}.${i % 7}`, `alt${1 + (i % 3)}`, i % 4 === 0 ? 'noarch' : 'x86_64', `${name}-1.0-alt1.src.rpm`, license, 'ALT Linux Team', '(none)'].join('\t'));
  }
  return `${lines.join('\n')}\n`;
}

const policy = Policy.parse({
  name: 'free-software',
  allow: ['GPL-1.0-or-later', 'GPL-2.0-only', 'GPL-2.0-or-later', 'GPL-3.0-only', 'GPL-3.0-or-later', 'LGPL-2.0-or-later', 'LGPL-2.1-only', 'LGPL-2.1-or-later',
    'LGPL-3.0-or-later', 'MIT', 'BSD-2-Clause', 'BSD-3-Clause', 'ISC', 'Apache-2.0', 'Zlib', 'PSF-2.0', 'OpenSSL', 'Artistic-1.0-Perl', 'Python-2.0', 'curl', 'X11', 'LicenseRef-ALT-Public-Domain'],
  review: ['MPL-2.0', 'EPL-2.0', 'CDDL-1.0', 'OFL-1.1'],
  deny: ['LicenseRef-proprietary'],
  unknown: 'review',
});

function once(text: string) {
  const t0 = process.hrtime.bigint();
  const packages = parseRpmDump(text);
  const t1 = process.hrtime.bigint();
  const evaluation = evaluatePackages(packages, policy, { date: '2026-06-01' });
  const t2 = process.hrtime.bigint();
  return { packages: packages.length, verdict: evaluation.verdict, extractMs: Number(t1 - t0) / 1e6, evaluateMs: Number(t2 - t1) / 1e6, totalMs: Number(t2 - t0) / 1e6, evaluation };
}

const PACKAGES = 5000;
const text = dump(PACKAGES);
// The first run is cold (module load, JIT); a worker does this once per step, so it counts.
const cold = once(text);
const warm = Array.from({ length: 5 }, () => once(text).totalMs).sort((a, b) => a - b);
const counts: Record<string, number> = {};
for (const p of cold.evaluation.packages) counts[p.status] = (counts[p.status] ?? 0) + 1;
const result = {
  bench: 'license',
  packages: cold.packages,
  dumpBytes: Buffer.byteLength(text),
  distinctLicenseStrings: new Set(LICENSES.map(([l]) => l)).size,
  verdict: cold.verdict,
  byStatus: counts,
  coldMs: { extract: +cold.extractMs.toFixed(1), normaliseAndEvaluate: +cold.evaluateMs.toFixed(1), total: +cold.totalMs.toFixed(1) },
  warmMedianMs: +warm[2]!.toFixed(1),
  targetMs: 500,
  withinTarget: cold.totalMs < 500,
};
console.log(JSON.stringify(result, null, 2));
if (!result.withinTarget) process.exitCode = 1;
