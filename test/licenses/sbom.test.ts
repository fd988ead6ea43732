import type { InstalledPackage } from '../../licenses/model';
import { Policy } from '../../licenses/model';
import { evaluatePackages } from '../../licenses/policy';
import { buildReport, renderHtml, renderMarkdown } from '../../licenses/report';
import { buildSbom, supplierField } from '../../licenses/sbom';
import { parseSpdx } from '../../licenses/spdx';

const installed: InstalledPackage[] = [
  { name: 'bash', version: '5.2.15-2+b13', arch: 'amd64', source: 'bash', declared: ['GPL-3+', 'BSD-4-clause-UC and MIT-like'], origin: '/usr/share/doc/bash/copyright (DEP-5)', licenseSource: 'dep5', supplier: 'Matthias Klose <doko@debian.org>', flavour: 'debian' },
  { name: 'libc6', version: '2.36-9', arch: 'amd64', source: 'glibc', declared: [], origin: '/usr/share/doc/libc6/copyright (no Format: header)', licenseSource: 'unparsed', guess: 'GPL-2+ and/or LGPL-2.1+', raw: 'This is the Debian prepackaged version of the GNU C Library <script>', supplier: 'GNU Libc Maintainers <debian-glibc@lists.debian.org>', flavour: 'debian' },
  { name: 'zlib', version: '1.3.1', release: 'alt1', epoch: '1', arch: 'x86_64', declared: ['zlib'], origin: 'rpm LICENSE tag', licenseSource: 'rpm-tag', supplier: 'ALT Linux Team', flavour: 'rpm' },
];
const policy = Policy.parse({ name: 'p', allow: ['GPL-3.0-or-later', 'Zlib'], review: [], deny: [], unknown: 'review' });
const evaluation = evaluatePackages(installed, policy, { date: '2026-03-01' });
const artifacts = [{ fileName: 'debian-minimal-x86_64-cloud.img', sha256: 'a'.repeat(64), size: 2147483648 }];
const doc = buildSbom({ name: 'debian-minimal-x86_64-cloud', created: new Date(1_700_000_000_000), toolVersion: '0.1.0', packages: evaluation.packages, installed, artifacts });

describe('SPDX 2.3 SBOM', () => {
  // SPDX 2.3 clause 6 (document creation information): every mandatory field.
  it('has the document creation fields SPDX 2.3 requires', () => {
    expect(doc.spdxVersion).toBe('SPDX-2.3'); // 6.1
    expect(doc.dataLicense).toBe('CC0-1.0'); // 6.2
    expect(doc.SPDXID).toBe('SPDXRef-DOCUMENT'); // 6.3
    expect(doc.name).toBe('debian-minimal-x86_64-cloud'); // 6.4
    expect(doc.documentNamespace).toMatch(/^https:\/\/[^#\s]+$/); // 6.5: an absolute URI without '#'
    expect(doc.creationInfo.creators).toEqual(['Tool: sborka-0.1.0']); // 6.8
    expect(doc.creationInfo.created).toBe('2023-11-14T22:13:20Z'); // 6.9: YYYY-MM-DDThh:mm:ssZ
  });

  // Clause 7 (package information): name, SPDXID, downloadLocation are mandatory; filesAnalyzed
  // false spares the verification code; declared/concluded/copyright are given for every package.
  it('has one package per installed package with the mandatory package fields', () => {
    const pkgs = doc.packages.filter((p) => p.SPDXID.startsWith('SPDXRef-Package-'));
    expect(pkgs.map((p) => p.name)).toEqual(['bash', 'libc6', 'zlib']);
    for (const p of doc.packages) {
      expect(p.name).not.toBe(''); // 7.1
      expect(p.SPDXID).toMatch(/^SPDXRef-[A-Za-z0-9.-]+$/); // 7.2
      expect(p.downloadLocation).toBe('NOASSERTION'); // 7.7
      expect(p.filesAnalyzed).toBe(false); // 7.8
      expect(p.copyrightText).toBe('NOASSERTION'); // 7.17
      for (const l of [p.licenseConcluded, p.licenseDeclared]) { // 7.13, 7.15
        if (l !== 'NOASSERTION' && l !== 'NONE') expect(parseSpdx(l).ok).toBe(true);
      }
      expect(p.supplier).toMatch(/^(NOASSERTION|Person: .+|Organization: .+)$/); // 7.5
    }
    expect(new Set(doc.packages.map((p) => p.SPDXID)).size).toBe(doc.packages.length);
    const [bash, libc, zlib] = pkgs;
    expect(bash).toMatchObject({ versionInfo: '5.2.15-2+b13', licenseDeclared: 'GPL-3.0-or-later AND BSD-4-Clause-UC AND LicenseRef-unknown-MIT-like', licenseConcluded: 'NOASSERTION', supplier: 'Person: Matthias Klose (doko@debian.org)' });
    expect(libc).toMatchObject({ licenseDeclared: 'NOASSERTION', licenseConcluded: 'NOASSERTION', supplier: 'Organization: GNU Libc Maintainers (debian-glibc@lists.debian.org)', sourceInfo: 'built from source package glibc' });
    expect(zlib).toMatchObject({ versionInfo: '1:1.3.1-alt1', licenseDeclared: 'Zlib', licenseConcluded: 'Zlib', externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: 'pkg:rpm/altlinux/zlib@1%3A1.3.1-alt1?arch=x86_64' }] });
  });

  it('carries the image checksum, describes the image and relates it to every package', () => {
    const image = doc.packages[0]!;
    expect(image).toMatchObject({ packageFileName: 'debian-minimal-x86_64-cloud.img', checksums: [{ algorithm: 'SHA256', checksumValue: 'a'.repeat(64) }] });
    expect(doc.documentDescribes).toEqual([image.SPDXID]);
    expect(doc.relationships).toContainEqual({ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: image.SPDXID });
    expect(doc.relationships.filter((r) => r.relationshipType === 'CONTAINS')).toHaveLength(3);
  });

  it('defines every LicenseRef it uses (SPDX 2.3 clause 10)', () => {
    const used = new Set(doc.packages.flatMap((p) => [p.licenseDeclared, p.licenseConcluded]).join(' ').match(/LicenseRef-[A-Za-z0-9.-]+/g));
    expect(doc.hasExtractedLicensingInfos.map((e) => e.licenseId).sort()).toEqual([...used].sort());
    for (const e of doc.hasExtractedLicensingInfos) expect(e.extractedText).not.toBe('');
  });

  it('is the same document for the same input', () => {
    const again = buildSbom({ name: 'debian-minimal-x86_64-cloud', created: new Date(1_700_000_000_000), toolVersion: '0.1.0', packages: [...evaluation.packages].reverse(), installed, artifacts });
    expect(JSON.stringify(again)).toBe(JSON.stringify(doc));
  });

  it('formats suppliers', () => {
    expect(supplierField(undefined)).toBe('NOASSERTION');
    expect(supplierField('ALT Linux Team')).toBe('Organization: ALT Linux Team');
  });
});

describe('reports', () => {
  const report = buildReport(evaluation, installed);
  it('totals by status and license, and explains each violation', () => {
    expect(report.totals).toMatchObject({ packages: 3, byStatus: { allow: 1, review: 2, deny: 0, waived: 0 }, bySource: { dep5: 1, unparsed: 1, 'rpm-tag': 1 } });
    expect(report.totals.byLicense[0]).toEqual({ license: 'BSD-4-Clause-UC', packages: 1 });
    expect(report.violations.map((v) => v.package.name)).toEqual(['bash', 'libc6']);
    expect(report.unparsed).toEqual([{ package: 'libc6', origin: installed[1]!.origin, guess: 'GPL-2+ and/or LGPL-2.1+', text: installed[1]!.raw }]);
  });
  it('renders Markdown and escaped HTML', () => {
    const md = renderMarkdown(report);
    expect(md).toContain('| review | bash 5.2.15-2+b13 (amd64) | GPL-3+ \\| BSD-4-clause-UC and MIT-like | GPL-3.0-or-later AND BSD-4-Clause-UC AND LicenseRef-unknown-MIT-like |');
    const html = renderHtml(report);
    expect(html).toContain('GNU C Library &#60;script&#62;');
    expect(html).not.toContain('<script>');
  });
});
