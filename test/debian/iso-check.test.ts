// `output iso` in the language: the label option, and the arches the debian toolchain writes
// ISOs for (x86_64; aarch64 and riscv64 refused at check time with the reason and where).
import { compileText } from '../dsl/helpers';

function recipe(arch: string, body: string[] = []): string {
  const output = body.length ? ['  output iso {', ...body.map((b) => `    ${b}`), '  }'] : ['  output iso'];
  return ['product p {', '  toolchain debian', '  branch bookworm', `  arch ${arch}`, ...output, '}', ''].join('\n');
}

describe('output iso on the debian toolchain', () => {
  it('takes a label and plans it into the output', () => {
    const c = compileText({ 'p.sborka': recipe('amd64', ['label "Debian 12 live"']) });
    expect(c.diagnostics).toEqual([]);
    expect(c.variants.get('p')?.[0]?.outputs).toEqual([{ format: 'iso', label: 'Debian 12 live' }]);
  });

  it('refuses a label no volume id can hold, at its place', () => {
    const c = compileText({ 'p.sborka': recipe('amd64', [`label "it's"`]) });
    expect(c.diagnostics).toMatchObject([{ code: 'invalid-label', line: 6 }]);
    expect(compileText({ 'p.sborka': recipe('amd64', [`label "${'x'.repeat(33)}"`]) }).diagnostics.map((d) => d.code)).toEqual(['invalid-label']);
  });

  it.each(['arm64', 'riscv64'])('refuses %s with the reason', (arch) => {
    const c = compileText({ 'p.sborka': recipe(arch) });
    expect(c.diagnostics).toMatchObject([{
      code: 'unsupported-output-arch', severity: 'error', line: 5,
      message: expect.stringMatching(/writes `iso` images for x86_64 only/),
    }]);
  });

  it('leaves the alt toolchain\'s ISOs alone on every arch', () => {
    const c = compileText({ 'p.sborka': ['product p {', '  branch p11', '  arch aarch64', '  profile distro/regular-server-systemd', '  output iso', '}', ''].join('\n') });
    expect(c.diagnostics).toEqual([]);
  });
});
