// One recipe per kind of error: the checker must find it (by code), and its rendered
// diagnostic (file:line:col, the line, the caret, the hint) is kept as a snapshot.
import { renderDiagnostics } from '../../dsl/diagnostics';
import { compileText } from './helpers';

const base = `license-policy free { allow MIT }
product base {
  branch p11
  arch x86_64
  profile distro/regular-xfce
  output iso
}
`;

/** A buildable product with one statement added to its body. */
const withLine = (line: string): Record<string, string> => ({
  'x.sborka': `license-policy free { allow MIT }\nproduct demo {\n  branch p11\n  arch x86_64, aarch64\n  profile distro/regular-xfce\n  output iso\n  ${line}\n}\n`,
});

const CASES: { code: string; files: Record<string, string>; entries?: string[] }[] = [
  { code: 'unexpected-character', files: withLine('title "x" ; ') },
  { code: 'unterminated-string', files: withLine('title "ALT Server') },
  { code: 'invalid-escape', files: withLine('title "bad \\q escape"') },
  { code: 'unknown-statement', files: withLine('archh x86_64') },
  { code: 'unexpected-token', files: { 'x.sborka': 'prodcut demo {}\n' } },
  { code: 'unclosed-block', files: { 'x.sborka': 'product demo {\n  branch p11\n' } },
  { code: 'syntax', files: withLine('output qcow2 { size big }') },
  { code: 'import-not-found', files: { 'x.sborka': 'import "common/missing.sborka"\n' } },
  { code: 'import-cycle', files: { 'a.sborka': 'import "b.sborka"\n', 'b.sborka': 'import "a.sborka"\n' } },
  { code: 'absolute-import', files: { 'x.sborka': 'import "/etc/base.sborka"\n' } },
  { code: 'extends-cycle', files: { 'x.sborka': `${base}product a extends b { }\nproduct b extends a { }\n` } },
  { code: 'unknown-product', files: { 'x.sborka': `${base}product child extends bsae { }\n` } },
  { code: 'extends-variant', files: { 'x.sborka': `${base}variant v of base { }\nproduct p extends v { }\n` } },
  { code: 'duplicate-name', files: { 'x.sborka': `${base}product base { }\n` } },
  { code: 'duplicate-property', files: withLine('branch p10') },
  { code: 'invalid-name', files: { 'x.sborka': 'product Desktop { }\n' } },
  { code: 'unknown-arch', files: withLine('on aarch46 { kernel un-def }') },
  { code: 'unknown-toolchain', files: { 'x.sborka': 'product p { toolchain debain }\n' } },
  { code: 'invalid-package-name', files: withLine('packages { "firefox esr" }') },
  { code: 'path-escapes-root', files: withLine('files "../secrets" -> "/etc"') },
  { code: 'invalid-destination', files: withLine('files "overlay" -> "etc/motd"') },
  { code: 'unknown-template-variable', files: withLine('publish files "/srv/{prodcut}/{date}"') },
  { code: 'invalid-cron', files: withLine('schedule "0 25 * * *"') },
  { code: 'size-out-of-range', files: withLine('output qcow2 { size 1M }') },
  { code: 'duration-out-of-range', files: withLine('test boot { timeout 48h }') },
  { code: 'invalid-license-id', files: { 'x.sborka': 'license-policy p { allow GPLv2+ }\n' } },
  { code: 'conflicting-license-rule', files: { 'x.sborka': 'license-policy p { allow MIT\n deny MIT }\n' } },
  { code: 'unknown-policy', files: withLine('license policy fre') },
  { code: 'unknown-package-list', files: withLine('packages { @desktop }') },
  { code: 'package-list-cycle', files: { 'x.sborka': 'package-list a { @b }\npackage-list b { @a }\n' } },
  { code: 'unknown-output-format', files: withLine('output qcwo2') },
  { code: 'unknown-output-option', files: withLine('output iso { size 2G }') },
  { code: 'unknown-compression', files: withLine('output tar { compression bzip }') },
  { code: 'not-allowed-in-on', files: withLine('on aarch64 { toolchain debian }') },
  { code: 'on-arch-not-built', files: withLine('on riscv64 { kernel un-def }') },
  { code: 'invalid-timezone', files: withLine('settings { timezone "Europe/Moskow" }') },
  { code: 'invalid-locale', files: withLine('settings { locale "Russian" }') },
  { code: 'invalid-password-hash', files: withLine('settings { root-password "hunter2" }') },
  { code: 'shell-syntax', files: withLine('test run "rpm -qa | grep kernel"') },
  { code: 'exit-code-out-of-range', files: withLine('test run "true" { exit 300 }') },
  { code: 'unknown-publish-target', files: withLine('publish ftp "/srv"') },
  { code: 'invalid-registry', files: withLine('publish registry "https://Registry/Alt"') },
  { code: 'registry-needs-oci', files: withLine('publish registry "registry.example.org/alt/{product}"') },
  { code: 'missing-profile', files: { 'x.sborka': 'product p {\n  branch p11\n  arch x86_64\n  output iso\n}\n' } },
  { code: 'missing-arch', files: { 'x.sborka': 'product p {\n  branch p11\n  profile ve/base\n  output tar\n}\n' } },
  { code: 'unknown-branch', files: withLine('branch p111') },
  { code: 'unsupported-output-arch', files: { 'x.sborka': 'product p {\n  toolchain debian\n  branch bookworm\n  arch arm64\n  output iso\n}\n' } },
  { code: 'invalid-label', files: withLine('output iso { label "it\'s" }') },
  { code: 'template-needs-version', files: withLine('title "ALT {version}"') },
  { code: 'invalid-profile', files: withLine('profile regular-xfce') },
  { code: 'unknown-script-stage', files: withLine('script pre-install "/bin/sh" "setup.sh"') },
  { code: 'invalid-interpreter', files: withLine('script post-install "sh" "setup.sh"') },
  { code: 'variant-of-variant', files: { 'x.sborka': `${base}variant v of base { }\nvariant w of v { }\n` } },
  { code: 'unknown-test-option', files: withLine('test boot { exit 0 }') },
  { code: 'invalid-url', files: withLine('repo acme "repo.acme.example"') },
  { code: 'file-not-found', files: {}, entries: ['nowhere.sborka'] },
  { code: 'invalid-date', files: { 'x.sborka': 'license-policy p {\n  allow MIT\n  waive acme-agent owner "ACME" reason "agreement" until 2027-02-30\n}\n' } },
  { code: 'invalid-waiver', files: withLine('waive acme-agent owner "ACME" reason " " until 2027-06-30') },
  { code: 'waiver-without-policy', files: { 'x.sborka': 'product p {\n  branch p11\n  arch x86_64\n  profile ve/base\n  output tar\n  waive acme-agent owner "ACME" reason "agreement" until 2027-06-30\n}\n' } },
  { code: 'invalid-sources', files: withLine('sources "rpms/acme-agent-1.0-alt1.x86_64.rpm"') },
  { code: 'sources-need-alt', files: { 'x.sborka': 'product p {\n  toolchain debian\n  branch bookworm\n  arch amd64\n  output tar\n  sources "srpms"\n}\n' } },
  { code: 'invalid-publish-path', files: withLine('version "11 beta"\n  publish files "/srv/{product}/{version}/{date}"') },
  { code: 'invalid-publish-option', files: withLine('publish registry "registry.example.org/alt/{product}" keep 3') },
  { code: 'emulate-needs-alt', files: { 'x.sborka': 'product p {\n  toolchain debian\n  branch trixie\n  arch amd64, riscv64\n  output tar\n  on riscv64 { emulate after 30m }\n}\n' } },
  { code: 'cannot-emulate-e2k', files: { 'x.sborka': 'product p {\n  branch p11\n  arch x86_64, e2kv6\n  profile ve/base\n  output tar\n  emulate after 1h\n}\n' } },
];

describe('diagnostics', () => {
  it('covers at least 25 distinct kinds', () => {
    expect(new Set(CASES.map((c) => c.code)).size).toBeGreaterThanOrEqual(25);
  });

  for (const c of CASES) {
    it(`reports ${c.code}`, () => {
      const result = compileText(c.files, c.entries);
      const codes = result.diagnostics.map((d) => d.code);
      expect(codes).toContain(c.code);
      expect(result.errorCount).toBeGreaterThan(0);
      for (const d of result.diagnostics) {
        const src = result.sources.get(d.file);
        if (src) expect(d.offset + d.length).toBeLessThanOrEqual(src.text.length);
      }
      const mine = result.diagnostics.filter((d) => d.code === c.code);
      expect(renderDiagnostics(mine, result.sources)).toMatchSnapshot();
    });
  }

  it('reports every error of a file in one pass', () => {
    const r = compileText(withLine('archh x86_64\n  output qcwo2\n  settings { timezone "Mars/Base" }\n  license policy fre'));
    expect(r.diagnostics.map((d) => d.code)).toEqual(expect.arrayContaining(['unknown-statement', 'unknown-output-format', 'invalid-timezone', 'unknown-policy']));
  });

  it('hints the nearest arch by edit distance', () => {
    const r = compileText(withLine('on aarch46 { kernel un-def }'));
    expect(r.diagnostics.find((d) => d.code === 'unknown-arch')?.hint).toBe('did you mean `aarch64`?');
  });

  it('maps Debian arch names both ways', () => {
    const r = compileText({ 'x.sborka': 'product p {\n  toolchain debian\n  branch bookworm\n  arch amd64, aarch64, arm64\n  output tar\n}\n' });
    expect(r.diagnostics).toEqual([]);
    expect(r.variants.get('p')?.map((v) => v.arch)).toEqual(['x86_64', 'aarch64']);
  });

  it('rejects arches the toolchain cannot build and says which can', () => {
    const r = compileText({ 'x.sborka': 'product p {\n  toolchain debian\n  branch bookworm\n  arch e2kv6\n  output tar\n}\n' });
    const d = r.diagnostics.find((x) => x.code === 'unknown-arch');
    expect(d?.hint).toContain('only the alt toolchain builds `e2kv6`');
  });
});
