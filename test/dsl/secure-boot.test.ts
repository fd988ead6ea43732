// `secure-boot` in the language: `on` refuses, at the statement that chose it, a kernel Debian
// does not sign; `key "..." cert "..."` takes the recipe's own key and cert as recipe files
// (absolute and `..` paths refused at their span), and the planner hands them to the build
// step relative to the recipe directory, which the plan's schema fences again.
import { planWithRecipeDir } from '../../plan/recipe-dir';
import { parsePlan } from '../../plan/plan';
import { planProduct } from '../../dsl/planner';
import { compileText } from './helpers';

const product = (lines: string[], output = 'img') => ['product p {', '  toolchain debian', '  branch bookworm', '  arch amd64', ...lines.map((l) => `  ${l}`), `  output ${output} {`, '    secure-boot on', '  }', '}', ''].join('\n');
const withKey = (key: string, cert: string, output = 'img') => ['product p {', '  toolchain debian', '  branch bookworm', '  arch amd64', '  kernel acme', `  output ${output} {`, `    secure-boot key "${key}" cert "${cert}"`, '  }', '}', ''].join('\n');
const diags = (files: Record<string, string>) => compileText(files).diagnostics.map((d) => ({ code: d.code, at: `${d.file}:${d.line}:${d.col}`, message: d.message, hint: d.hint }));

describe('secure-boot on: kernels Debian does not sign are refused at check time', () => {
  it('takes Debian\'s signed flavours and images', () => {
    for (const k of ['kernel cloud', 'kernel default, rt', 'packages { linux-image-amd64 linux-image-6.1.0-28-cloud-amd64 linux-image-6.1.0-28-amd64-dbg shim-signed }']) {
      expect(diags({ 'p.sborka': product([k]) })).toEqual([]);
    }
  });

  it('refuses another flavour at the kernel statement, with the reason and the way out', () => {
    const d = diags({ 'p.sborka': product(['kernel cloud, acme']) });
    expect(d).toEqual([{ code: 'unsigned-kernel', at: 'p.sborka:5:17', message: expect.stringMatching(/kernel flavour `acme` is not one Debian signs for x86_64, so shim would refuse to start it: `img` has `secure-boot on`/), hint: expect.stringMatching(/Debian signs default, cloud, rt; or sign the chain with your own key: `secure-boot key/) }]);
  });

  it('refuses an unsigned or a partner\'s kernel package where it is listed, also through a package list', () => {
    const d = diags({
      'p.sborka': ['import "lists.sborka"', product(['packages {', '  linux-image-6.1.0-28-amd64-unsigned', '  @partner', '}'])].join('\n'),
      'lists.sborka': 'package-list partner {\n  linux-image-acme-rt\n}\n',
    });
    expect(d.map((x) => `${x.code} ${x.at}`)).toEqual(['unsigned-kernel lists.sborka:2:3', 'unsigned-kernel p.sborka:7:5']);
    expect(d[1]!.message).toMatch(/^`linux-image-6.1.0-28-amd64-unsigned` is a kernel Debian does not sign, so shim/);
    expect(d[0]!.message).toMatch(/`linux-image-acme-rt` is a kernel Debian does not sign \(not one of its linux-image-\*-amd64 images\)/);
  });

  it('refuses nothing without secure-boot, with secure-boot off, or when the recipe gives a key', () => {
    expect(diags({ 'p.sborka': product(['kernel acme']).replace('secure-boot on', 'secure-boot off') })).toEqual([]);
    expect(diags({ 'p.sborka': product(['kernel acme']).replace('    secure-boot on\n', '') })).toEqual([]);
    expect(diags({ 'p.sborka': withKey('keys/db.key', 'keys/db.crt'), 'keys/db.key': '', 'keys/db.crt': '' })).toEqual([]);
  });
});

describe('secure-boot key "..." cert "...": the recipe\'s own key', () => {
  it('puts both paths in the plan, relative to the recipe directory, and the build step reads them from it', () => {
    const c = compileText({ 'dir/p.sborka': withKey('keys/db.key', 'keys/db.crt') });
    expect(c.diagnostics).toEqual([]);
    expect(c.variants.get('p')?.[0]?.outputs).toEqual([{ format: 'img', secureBoot: { key: 'keys/db.key', cert: 'keys/db.crt' } }]);
    const plan = planWithRecipeDir(planProduct(c, 'p'), '/srv/recipes/p');
    const build = plan.variants[0]!.steps.find((s) => s.kind === 'build')!;
    expect(build.params).toMatchObject({ output: { secureBoot: { key: 'keys/db.key', cert: 'keys/db.crt' } }, recipeDir: '/srv/recipes/p' });
  });

  it.each([
    ['/etc/ssl/private/db.key', 'keys/db.crt', 7, 21, /is absolute/],
    ['keys/db.key', '../../db.crt', 7, 40, /leaves the recipe's directory through `\.\.`/],
    ['keys/../../db.key', 'keys/db.crt', 7, 21, /leaves the recipe's directory/],
  ])('refuses %s / %s at the path\'s line and column', (key, cert, line, col, why) => {
    const d = diags({ 'p.sborka': withKey(key, cert) });
    expect(d).toEqual([expect.objectContaining({ code: 'path-escapes-root', at: `p.sborka:${line}:${col}`, message: expect.stringMatching(why) })]);
  });

  it('refuses a key file of an imported recipe that lies outside the declaring recipe\'s directory', () => {
    const d = diags({
      'a/p.sborka': 'import "../b/base.sborka"\nproduct p extends base {\n  toolchain debian\n  branch bookworm\n  arch amd64\n}\n',
      'b/base.sborka': 'product base {\n  output img {\n    secure-boot key "db.key" cert "db.crt"\n  }\n}\n',
    });
    expect(d.map((x) => `${x.code} ${x.at}`)).toContain('path-escapes-root b/base.sborka:2:3');
  });

  it('refuses a key without its cert, another word, and a key on a format it does not sign', () => {
    const bad = (line: string) => diags({ 'p.sborka': withKey('k', 'c').replace(/secure-boot key .*/, line) });
    expect(bad('secure-boot key "k"').map((d) => d.code)).toContain('syntax');
    expect(bad('secure-boot on "k" cert "c"').map((d) => d.code)).toEqual(['invalid-secure-boot']);
    expect(bad('secure-boot yes').map((d) => d.code)).toEqual(['invalid-secure-boot']);
    expect(diags({ 'p.sborka': withKey('k', 'c', 'iso') }).map((d) => d.code)).toEqual(['unsupported-secure-boot-key']);
  });

  it('keeps a hand-written plan from naming a host file as the key', () => {
    const plan = planProduct(compileText({ 'p.sborka': withKey('keys/db.key', 'keys/db.crt') }), 'p');
    const bad = JSON.parse(JSON.stringify(plan).replace('"keys/db.key"', '"/etc/shadow"')) as unknown;
    expect(() => parsePlan(bad)).toThrow(/secureBoot\.key.*must be a relative path inside its directory.*is absolute/s);
  });
});
