// An SPDX 2.3 JSON SBOM of an image: one SPDX package per installed package, one per image
// artifact (with its checksum), the image CONTAINS every installed package. Everything is
// derived from the inputs (the creation time from SOURCE_DATE_EPOCH when given), so the
// same image gives the same document, byte for byte.
import { createHash } from 'node:crypto';
import type { InstalledPackage } from './model';
import type { PackageResult } from './policy';
import { licenseTerms, parseSpdx, canonicalize } from './spdx';

export interface SbomArtifact {
  /** The file name of the image (debian-minimal-x86_64-cloud.img). */
  fileName: string;
  sha256: string;
  size: number;
}

export interface SbomInput {
  /** The document's name, e.g. "debian-minimal.x86_64.cloud". */
  name: string;
  created: Date;
  toolVersion: string;
  packages: readonly PackageResult[];
  installed: readonly InstalledPackage[];
  artifacts: readonly SbomArtifact[];
  /** Base of documentNamespace; a unique URI per document is made from it. */
  namespaceBase?: string;
}

export interface SpdxDocument {
  spdxVersion: 'SPDX-2.3';
  dataLicense: 'CC0-1.0';
  SPDXID: 'SPDXRef-DOCUMENT';
  name: string;
  documentNamespace: string;
  creationInfo: { created: string; creators: string[] };
  documentDescribes: string[];
  packages: SpdxPackage[];
  hasExtractedLicensingInfos: Array<{ licenseId: string; extractedText: string; name: string }>;
  relationships: Array<{ spdxElementId: string; relationshipType: string; relatedSpdxElement: string }>;
}

export interface SpdxPackage {
  name: string;
  SPDXID: string;
  versionInfo?: string;
  packageFileName?: string;
  supplier: string;
  downloadLocation: string;
  filesAnalyzed: false;
  checksums?: Array<{ algorithm: 'SHA256'; checksumValue: string }>;
  licenseConcluded: string;
  licenseDeclared: string;
  copyrightText: string;
  primaryPackagePurpose?: string;
  sourceInfo?: string;
  externalRefs?: Array<{ referenceCategory: string; referenceType: string; referenceLocator: string }>;
  comment?: string;
}

const spdxIdPart = (s: string) => s.replace(/[^A-Za-z0-9.-]+/g, '-');

/** SPDX 2.3 §7.5: "Person: name (email)" / "Organization: name"; NOASSERTION when unknown. */
export function supplierField(supplier: string | undefined): string {
  if (!supplier || supplier.trim() === '' || supplier === '(none)') return 'NOASSERTION';
  const s = supplier.trim().replace(/\n/g, ' ');
  const person = /^(.*?)\s*<([^>]+)>$/.exec(s);
  // Debian maintainers are teams as often as people; a list address names a team.
  if (person) return /team|maintainers|list|@lists\./i.test(s) ? `Organization: ${person[1]} (${person[2]})` : `Person: ${person[1]} (${person[2]})`;
  return `Organization: ${s}`;
}

function purl(p: InstalledPackage): string {
  const enc = encodeURIComponent;
  if (p.flavour === 'debian') return `pkg:deb/debian/${enc(p.name)}@${enc(p.version)}?arch=${enc(p.arch)}`;
  const evr = `${p.epoch ? `${p.epoch}:` : ''}${p.version}${p.release ? `-${p.release}` : ''}`;
  return `pkg:rpm/altlinux/${enc(p.name)}@${enc(evr)}?arch=${enc(p.arch)}`;
}

export function buildSbom(input: SbomInput): SpdxDocument {
  const rawByName = new Map(input.installed.map((p) => [`${p.name}\u0000${p.arch}`, p]));
  const extracted = new Map<string, { licenseId: string; extractedText: string; name: string }>();
  const used = new Set<string>();
  const uniqueId = (base: string) => {
    let id = base;
    for (let n = 2; used.has(id); n += 1) id = `${base}-${n}`;
    used.add(id);
    return id;
  };

  const noteRefs = (expression: string, pkg: InstalledPackage) => {
    const parsed = parseSpdx(expression);
    if (!parsed.ok) return;
    for (const t of licenseTerms(canonicalize(parsed.node))) {
      if (!t.id.startsWith('LicenseRef-') || extracted.has(t.id)) continue;
      // SPDX requires the text behind every LicenseRef-; ours is what the packager wrote.
      extracted.set(t.id, {
        licenseId: t.id,
        name: t.id.replace(/^LicenseRef-/, ''),
        extractedText: `Declared by ${pkg.name} (${pkg.origin}): ${pkg.declared.join(' | ') || pkg.guess || 'no license information'}`,
      });
    }
  };

  const imageIds: string[] = [];
  const packages: SpdxPackage[] = [];
  for (const a of input.artifacts) {
    const id = uniqueId(`SPDXRef-Image-${spdxIdPart(a.fileName)}`);
    imageIds.push(id);
    packages.push({
      name: a.fileName,
      SPDXID: id,
      packageFileName: a.fileName,
      supplier: 'NOASSERTION',
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      checksums: [{ algorithm: 'SHA256', checksumValue: a.sha256 }],
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      primaryPackagePurpose: 'OPERATING-SYSTEM',
      comment: `${a.size} bytes`,
    });
  }

  const relationships: SpdxDocument['relationships'] = imageIds.map((id) => ({ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: id }));
  const sorted = [...input.packages].sort((a, b) => a.package.name.localeCompare(b.package.name) || a.package.arch.localeCompare(b.package.arch));
  for (const r of sorted) {
    const pkg = rawByName.get(`${r.package.name}\u0000${r.package.arch}`) ?? { ...r.package };
    const declared = r.package.licenseSource === 'unparsed' || r.package.licenseSource === 'missing' || r.expression === 'NOASSERTION' ? 'NOASSERTION' : r.expression;
    // Concluded = declared once every term was recognised; a guess or an unknown term is not a conclusion.
    const concluded = declared !== 'NOASSERTION' && r.unknownTerms.length === 0 ? declared : 'NOASSERTION';
    if (declared !== 'NOASSERTION') noteRefs(declared, pkg);
    const id = uniqueId(`SPDXRef-Package-${spdxIdPart(r.package.name)}-${spdxIdPart(r.package.arch)}`);
    packages.push({
      name: r.package.name,
      SPDXID: id,
      versionInfo: `${r.package.epoch ? `${r.package.epoch}:` : ''}${r.package.version}${r.package.release ? `-${r.package.release}` : ''}`,
      supplier: supplierField(r.package.supplier),
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      licenseConcluded: concluded,
      licenseDeclared: declared,
      copyrightText: 'NOASSERTION',
      primaryPackagePurpose: 'LIBRARY',
      ...(r.package.source ? { sourceInfo: `built from source package ${r.package.source}` } : {}),
      externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: purl(pkg) }],
    });
    for (const image of imageIds) relationships.push({ spdxElementId: image, relationshipType: 'CONTAINS', relatedSpdxElement: id });
    // Without an image file the document describes the packages themselves (SPDX needs a DESCRIBES).
    if (imageIds.length === 0) relationships.push({ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: id });
  }

  const body = { name: input.name, packages, relationships };
  const digest = createHash('sha256').update(JSON.stringify(body)).digest('hex');
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: input.name,
    documentNamespace: `${input.namespaceBase ?? 'https://sborka.altlinux.invalid/spdx'}/${encodeURIComponent(input.name)}-${digest}`,
    creationInfo: {
      created: input.created.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      creators: [`Tool: sborka-${input.toolVersion}`],
    },
    documentDescribes: imageIds.length > 0 ? imageIds : relationships.map((r) => r.relatedSpdxElement),
    packages,
    hasExtractedLicensingInfos: [...extracted.values()].sort((a, b) => a.licenseId.localeCompare(b.licenseId)),
    relationships,
  };
}
