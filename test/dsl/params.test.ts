// What the planner hands the activities that read its steps: waivers in the license policy,
// partner source packages on resolve, and everything publishing needs. Each is checked
// against the consumer's own schema, so a drift between the two fails here.
import { VerifyLicensesParams } from '../../activities/licenses/kind';
import { formatRecipe } from '../../dsl/format';
import type { ResolvedVariant } from '../../plan/model';
import { parsePlan, type BuildPlan, type Step } from '../../plan/plan';
import { multiArchTag } from '../../plan/naming';
import { planJson, planProduct } from '../../dsl/planner';
import { PublishParams } from '../../publish/params';
import { compileText } from './helpers';

const POLICY = `license-policy free {
  allow MIT
  deny LicenseRef-proprietary
  waive old-codec owner "ALT release team" reason "patent expired" until 2027-01-31
}
`;

function plan(files: Record<string, string>, product: string): BuildPlan {
  const c = compileText(files);
  expect(c.diagnostics).toEqual([]);
  const p = planProduct(c, product);
  // The plan is what the engine accepts.
  expect(parsePlan(JSON.parse(planJson(p)))).toEqual(p);
  return p;
}

const stepOf = (p: BuildPlan, id: string, variant = 0): Step => {
  const s = p.variants[variant]?.steps.find((x) => x.id === id);
  if (!s) throw new Error(`no step ${id}`);
  return s;
};

const codes = (files: Record<string, string>): string[] => compileText(files).diagnostics.map((d) => d.code);

describe('license waivers', () => {
  const files = {
    'x.sborka': `${POLICY}
product base {
  branch p11
  arch x86_64
  profile distro/regular-xfce
  output iso
  license policy free
  waive acme-agent owner "ACME" reason "agreement" until 2027-06-30
}

variant acme of base {
  waive acme-agent owner "ACME legal" reason "agreement, renewed" until 2028-06-30
  on x86_64 {
    waive acme-firmware owner "ACME" reason "x86 firmware blob" until 2027-12-31
  }
}
`,
  };

  it('append in order: the policy, the product, the variant, its on blocks; the activity reads them', () => {
    const p = plan(files, 'acme');
    const params = VerifyLicensesParams.parse(stepOf(p, 'verify-licenses').params);
    expect(params.policy.waivers.map((w) => `${w.package}@${w.until}`)).toEqual([
      'old-codec@2027-01-31', 'acme-agent@2027-06-30', 'acme-agent@2028-06-30', 'acme-firmware@2027-12-31',
    ]);
    expect(params.policy.waivers[2]).toEqual({ package: 'acme-agent', owner: 'ACME legal', reason: 'agreement, renewed', until: '2028-06-30' });
    // The product itself has its own and the policy's only.
    expect(VerifyLicensesParams.parse(stepOf(plan(files, 'base'), 'verify-licenses').params).policy.waivers).toHaveLength(2);
  });

  it('are printed by fmt on one line, idempotently', () => {
    const messy = 'license-policy p {\n  waive   acme-agent   owner "ACME"\n reason "agreement"   until 2027-06-30   # why\n}\n';
    const once = formatRecipe('x.sborka', messy).text;
    expect(once).toBe('license-policy p {\n  waive acme-agent owner "ACME" reason "agreement" until 2027-06-30  # why\n}\n');
    expect(formatRecipe('x.sborka', once ?? '').text).toBe(once);
  });

  it('refuse dates that are not days, whatever their spelling', () => {
    for (const until of ['2027-6-30', '20270630', '2027-02-29', '2027-13-01', '30.06.2027']) {
      const text = `license-policy p {\n  waive acme-agent owner "ACME" reason "agreement" until ${until}\n}\n`;
      expect({ until, codes: codes({ 'x.sborka': text }) }).toEqual({ until, codes: ['invalid-date'] });
    }
    expect(codes({ 'x.sborka': 'license-policy p {\n  waive acme-agent owner "ACME" reason "agreement" until 2028-02-29\n}\n' })).toEqual([]);
  });

  it('check package names: RPM rules in a policy, the toolchain\'s in a product', () => {
    expect(codes({ 'x.sborka': 'license-policy p {\n  waive "acme agent" owner "ACME" reason "agreement" until 2027-06-30\n}\n' })).toEqual(['invalid-package-name']);
    const debian = `license-policy p {\n  allow MIT\n}\n\nproduct d {\n  toolchain debian\n  branch bookworm\n  arch amd64\n  output tar\n  license policy p\n  waive Acme_Agent owner "ACME" reason "agreement" until 2027-06-30\n}\n`;
    expect(codes({ 'x.sborka': debian })).toEqual(['invalid-package-name']);
    expect(codes({ 'x.sborka': debian.replace('Acme_Agent', 'acme-agent') })).toEqual([]);
  });
});

describe('verify-licenses', () => {
  it('needs configure (its rootfs.tar) besides the images', () => {
    const p = plan({ 'x.sborka': `${POLICY}\nproduct p {\n  branch p11\n  arch x86_64\n  profile distro/regular-xfce\n  output iso\n  output qcow2\n  license policy free\n}\n` }, 'p');
    expect(stepOf(p, 'verify-licenses').needs).toEqual(['configure', 'build-iso', 'build-qcow2']);
  });
});

describe('partner source packages', () => {
  const desk = 'product desk {\n  branch p11\n  arch x86_64\n  profile distro/regular-xfce\n  output iso\n  sources "srpms/common"\n}\n';
  const acme = (imp: string) => `import "${imp}"\n\nvariant acme of desk {\n  sources "srpms/acme"\n  sources "./srpms/acme"\n  sources "srpms/kernel-image-acme-rt-6.12-alt1.src.rpm"\n}\n`;

  it('go to resolve relative to the planned recipe, appended, without repeats', () => {
    const p = plan({ 'products/acme.sborka': acme('common/desk.sborka'), 'products/common/desk.sborka': desk }, 'acme');
    expect(stepOf(p, 'resolve').params).toMatchObject({ sources: ['common/srpms/common', 'srpms/acme', 'srpms/kernel-image-acme-rt-6.12-alt1.src.rpm'] });
    expect(stepOf(plan({ 'x.sborka': desk }, 'desk'), 'resolve').params).toMatchObject({ sources: ['srpms/common'] });
  });

  it('may not leave the directory of the recipe being planned, even through an import', () => {
    const c = compileText({ 'products/partners/acme.sborka': acme('../desk.sborka'), 'products/desk.sborka': desk });
    expect(c.diagnostics.map((d) => [d.code, d.file, d.line])).toEqual([['path-escapes-root', 'products/desk.sborka', 6]]);
    expect(codes({ 'x.sborka': desk.replace('srpms/common', '../srpms') })).toEqual(['path-escapes-root']);
    expect(codes({ 'x.sborka': desk.replace('srpms/common', '/srv/srpms') })).toEqual(['path-escapes-root']);
  });
});

describe('publish steps', () => {
  const product = (publish: string, extra = '') => ({
    'x.sborka': `${POLICY}\nproduct box {\n  version "11.0"\n  branch p11\n  arch x86_64, aarch64\n  profile ve/base\n  owner maintainer alt-releng\n  output tar\n  output oci {\n    tag "{branch}-{arch}"\n  }\n  license policy free\n  test boot\n  ${publish}\n${extra}}\n`,
  });

  it('need resolve and carry artifact refs and the build\'s identity, as publishing parses them', () => {
    const p = plan(product('publish files "/srv/images/{product}/{build}/{arch}" keep 7'), 'box');
    const v = p.variants[1];
    const s = stepOf(p, 'publish-files', 1);
    expect(s.needs).toEqual(['resolve', 'build-tar', 'build-oci', 'verify-licenses', 'test-boot']);
    const params = PublishParams.parse(s.params);
    expect(params).toEqual({
      publish: { target: 'files', path: '/srv/images/box/{build}/aarch64' },
      product: 'box', arch: 'aarch64', artifacts: v?.artifacts,
      variant: 'box.aarch64', branch: 'p11', version: '11.0', owner: { kind: 'maintainer', team: 'alt-releng' },
      recipeDigest: p.recipeDigest, keep: 7,
    });
    expect(v?.artifacts.map((a) => a.name)).toEqual(['lock', 'tar', 'oci', 'license-report', 'sbom']);
  });

  it('push the oci image only, under the output\'s tag without its arch unless the reference has a tag', () => {
    const p = plan(product('publish registry "registry.example.org/alt/{product}"'), 'box');
    const params = PublishParams.parse(stepOf(p, 'publish-registry').params);
    expect(params.artifacts).toEqual([{ name: 'oci', step: 'build-oci', path: 'box-11.0-x86_64.oci.tar', format: 'oci' }]);
    expect(params.tag).toBe('p11');
    const tagged = plan(product('publish registry "registry.example.org/alt/{product}:{version}"'), 'box');
    expect(stepOf(tagged, 'publish-registry').params).not.toHaveProperty('tag');
    expect(stepOf(tagged, 'publish-registry').params).toMatchObject({ publish: { repository: 'registry.example.org/alt/box:11.0' } });
  });

  it('refuse, at check time, what publishing would refuse once the values are in', () => {
    // A product name registries do not take, a {date} registries never get, a version that is two segments.
    expect(codes({ 'x.sborka': product('publish registry "registry.example.org/alt/{product}"')['x.sborka'].replace('product box', 'product box+1') })).toEqual(['invalid-registry']);
    const dated = compileText(product('publish registry "registry.example.org/alt/{product}:{date}"'));
    expect(dated.diagnostics.map((d) => [d.code, d.hint])).toEqual([['invalid-registry', '`{date}` is filled in `publish files` paths only']]);
    // The product is fine; its variant's version is not one segment.
    const beta = product('publish files "/srv/{product}/{version}/{date}"');
    expect(codes(beta)).toEqual([]);
    expect(codes({ 'x.sborka': `${beta['x.sborka']}\nvariant beta of box {\n  version "11/beta"\n}\n` })).toEqual(['invalid-publish-path']);
    expect(codes(product('publish files "/srv/{product}//{date}"'))).toEqual(['invalid-publish-path']);
    expect(codes(product('publish files "/srv/{product}/./{date}"'))).toEqual(['invalid-publish-path']);
    expect(codes(product('publish registry "registry.example.org/alt/{product}:{build}"'))).toEqual(['unknown-template-variable']);
    expect(codes(product('publish files "/srv/{product}/{date}" keep 0'))).toEqual(['out-of-range']);
    expect(codes(product('publish files "/srv/{product}/{date}" keep 1001'))).toEqual(['out-of-range']);
  });

  it('derive the multi-arch tag from the oci output\'s', () => {
    const v = { product: 'box', arch: 'x86_64', branch: 'p11', version: '11.0', flavour: 'default' } as ResolvedVariant;
    const tag = (t: string | undefined) => multiArchTag({ ...v, outputs: [{ format: 'oci', ...(t ? { tag: t } : {}) }] }, 'box.x86_64');
    expect(tag('{branch}-{arch}')).toBe('p11');
    expect(tag('{arch}-{branch}')).toBe('p11');
    expect(tag('{version}_{arch}.{branch}')).toBe('11.0.p11');
    expect(tag('{version}')).toBe('11.0');
    expect(tag('{arch}')).toBeUndefined();
    expect(tag(undefined)).toBeUndefined();
  });
});
