// An output's own mkimage-profiles target (`output qcow2 { profile vm/... }`): checked
// against the catalogue like the product's, its class the format's own, alt only.
import { compileText } from './helpers';

const alt = (outputs: string, arch = 'x86_64', profile = 'distro/regular-server-systemd') =>
  compileText({ 'p.sborka': `product p {\n  branch p11\n  arch ${arch}\n  profile ${profile}\n${outputs}}\n` });
const diags = (c: ReturnType<typeof compileText>) => c.diagnostics.map((d) => [d.code, d.message, d.hint, d.line]);

describe('an output\'s own profile', () => {
  it('makes that output from its target, the others from the product\'s', () => {
    const c = alt('  output iso\n  output qcow2 {\n    profile vm/regular-systemd\n  }\n');
    expect(diags(c)).toEqual([]);
    expect(c.variants.get('p')?.[0]?.outputs).toEqual([{ format: 'iso' }, { format: 'qcow2', profile: 'vm/regular-systemd' }]);
  });

  it('is refused when the catalogue lacks it, with did-you-mean', () => {
    expect(diags(alt('  output qcow2 {\n    profile vm/regular-sytemd\n  }\n'))).toEqual([
      ['unknown-target', 'mkimage-profiles (fc28b26) defines no `vm/regular-sytemd` (output qcow2\'s own `profile`)', 'did you mean `vm/regular-systemd`?', 5],
    ]);
  });

  it('is refused when its class is not the format\'s', () => {
    expect(diags(alt('  output qcow2 {\n    profile distro/regular-jeos-systemd\n  }\n'))).toEqual([
      ['wrong-target-class', 'output qcow2: a qcow2 output\'s own `profile` must be a vm/ target, and `distro/regular-jeos-systemd` is a distro/ one', 'name the vm/ target that makes it, e.g. vm/regular-jeos-systemd', 5],
    ]);
    expect(diags(alt('  output tar {\n    profile vm/regular-systemd\n  }\n')).map((d) => d[0])).toEqual(['wrong-target-class']);
    expect(diags(alt('  output iso {\n    profile vm/regular-systemd\n  }\n')).map((d) => d[0])).toEqual(['wrong-target-class']);
    expect(diags(alt('  output oci {\n    profile ve/docker\n  }\n  output tar {\n    profile ve/systemd-base\n  }\n'))).toEqual([]);
  });

  it('is refused on an arch its target is not defined for', () => {
    expect(diags(alt('  output img {\n    profile vm/regular-jeos-systemd-rpi\n  }\n')).map((d) => d.slice(0, 2))).toEqual([
      ['target-not-for-arch', 'mkimage-profiles (fc28b26) defines `vm/regular-jeos-systemd-rpi` (output img\'s own `profile`) for aarch64 only, not x86_64'],
    ]);
    expect(diags(alt('  output img {\n    profile vm/regular-jeos-systemd-rpi\n  }\n', 'aarch64'))).toEqual([]);
  });

  it('lets an output the product\'s profile cannot make be made from another target', () => {
    // distro/regular-server-systemd has no vm/ sibling: without its own profile the qcow2 is refused.
    expect(diags(alt('  output qcow2\n')).map((d) => d[0])).toEqual(['unknown-target']);
  });

  it('is refused on debian, which has no mkimage-profiles', () => {
    const c = compileText({ 'p.sborka': 'product p {\n  toolchain debian\n  branch bookworm\n  arch amd64\n  output qcow2 {\n    profile vm/regular-systemd\n  }\n}\n' });
    expect(diags(c)).toEqual([
      ['output-profile-needs-alt', 'output qcow2: `profile vm/regular-systemd` names an mkimage-profiles target, and the debian toolchain has none', 'drop the `profile` line: the debian writers build every format from the one root', 5],
    ]);
  });

  it('is a target name, as the product\'s is', () => {
    expect(diags(alt('  output iso {\n    profile regular-systemd\n  }\n')).map((d) => d[0])).toEqual(['invalid-profile']);
  });
});

describe('a recipe\'s own profiles tree', () => {
  const fork = (lines: string, toolchain = '') => compileText({ 'p.sborka': `product p {\n${toolchain}  profiles-tree "profiles/acme-mkimage-profiles"\n${lines}}\n` });

  it('leaves its targets to the worker: no catalogue check, the path in the plan relative to the recipe', () => {
    const c = fork('  branch p11\n  arch x86_64\n  profile vm/acme-kiosk\n  output qcow2\n');
    expect(diags(c)).toEqual([]);
    expect(c.variants.get('p')?.[0]?.profilesTree).toBe('profiles/acme-mkimage-profiles');
    // The rule of classes still holds for a fork.
    expect(diags(fork('  branch p11\n  arch x86_64\n  profile ve/acme-kiosk\n  output qcow2\n')).map((d) => d[0])).toEqual(['unknown-target']);
    // Without the fork the same target is upstream's to define, and it does not.
    const upstream = compileText({ 'p.sborka': 'product p {\n  branch p11\n  arch x86_64\n  profile vm/acme-kiosk\n  output qcow2\n}\n' });
    expect(diags(upstream).map((d) => d[0])).toEqual(['unknown-target']);
  });

  it('is refused outside the recipe\'s directory and on debian', () => {
    const out = compileText({ 'p.sborka': 'product p {\n  profiles-tree "../elsewhere"\n}\n' });
    expect(diags(out).map((d) => d[0])).toEqual(['path-escapes-root']);
    const deb = fork('  branch bookworm\n  arch amd64\n  output tar\n', '  toolchain debian\n');
    expect(diags(deb)).toEqual([['profiles-tree-needs-alt', '`profiles-tree` is an mkimage-profiles tree, and the debian toolchain builds without one', 'drop the `profiles-tree` line', 3]]);
  });
});
