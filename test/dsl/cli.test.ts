// `sborka check`, `plan` and `fmt` run in-process through the CLI's entry point: exit codes
// (0 ok, 1 errors, 2 usage), machine-readable output, and what fmt writes to disk.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli/sborka';
import { Diagnostic } from '../../dsl/diagnostics';
import { formatRecipe } from '../../dsl/format';
import { parsePlan } from '../../plan/plan';
import { ROOT, textSink } from './helpers';

async function run(argv: string[], cwd = ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = textSink();
  const stderr = textSink();
  const code = await main(argv, { stdout, stderr, cwd });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

const BROKEN = `product demo {
  branch p11
  arch x86_64, aarch46
  profile distro/regular-xfce
  output iso
}
`;

const UNFORMATTED = `product   demo{
 branch p11
     arch x86_64 ,aarch64   # two arches
  profile ve/base
output tar {compression xz}
}
`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sborka-cli-'));
  writeFileSync(join(dir, 'broken.sborka'), BROKEN);
  writeFileSync(join(dir, 'syntax.sborka'), 'product demo {\n  arch\n');
  writeFileSync(join(dir, 'two.sborka'), 'product a {\n  branch p11\n  arch x86_64\n  profile ve/base\n  output tar\n}\n\nproduct b extends a {}\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sborka check', () => {
  it('passes over products/ with exit 0', async () => {
    const r = await run(['check', 'products']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ok: \d+ files, \d+ buildable products\n$/);
  });

  it('exits 1 on errors and renders them with file:line:col and a caret', async () => {
    const r = await run(['check', 'broken.sborka'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error[unknown-arch]');
    expect(r.stderr).toContain('--> broken.sborka:3:16');
    expect(r.stderr).toContain('^^^^^^^');
    expect(r.stderr).toContain('did you mean `aarch64`?');
  });

  it('--format json gives diagnostics with file, line and col', async () => {
    const r = await run(['check', '--format', 'json', 'broken.sborka'], dir);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { errors: number; diagnostics: unknown[] };
    expect(out.errors).toBeGreaterThan(0);
    const diagnostics = out.diagnostics.map((d) => Diagnostic.parse(d));
    expect(diagnostics).toContainEqual(expect.objectContaining({ code: 'unknown-arch', file: 'broken.sborka', line: 3, col: 16 }));
  });

  it('--format json on clean recipes says so with exit 0', async () => {
    const r = await run(['check', '--format', 'json', 'products/regular-server.sborka']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { errors: number; products: string[]; files: string[] };
    expect(out.errors).toBe(0);
    expect(out.products).toContain('regular-server');
    expect(out.files).toContain('products/common/alt-base.sborka');
  });

  it.each([
    [['check']],
    [['check', '--format', 'xml', 'products']],
    [['check', '--colour', 'products']],
  ])('exits 2 on a bad command line: %j', async (argv) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('usage: sborka check');
  });

  it('exits 1 on a file that does not exist', async () => {
    const r = await run(['check', 'nowhere.sborka'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error[file-not-found]');
  });
});

describe('sborka plan', () => {
  it('--json prints a plan the engine accepts', async () => {
    const r = await run(['plan', 'products/regular-server.sborka', '--json']);
    expect(r.code).toBe(0);
    const plan = parsePlan(JSON.parse(r.stdout));
    expect(plan.product).toBe('regular-server');
    expect(plan.variants.map((v) => v.arch)).toEqual(['x86_64', 'aarch64', 'ppc64le', 'riscv64']);
  });

  it('--arch narrows the plan to the arches asked for', async () => {
    const r = await run(['plan', 'products/regular-server.sborka', '--json', '--arch', 'aarch64']);
    expect(r.code).toBe(0);
    expect(parsePlan(JSON.parse(r.stdout)).variants.map((v) => v.arch)).toEqual(['aarch64']);
  });

  it('--dot prints a Graphviz graph of the step DAG', async () => {
    const r = await run(['plan', 'products/ve-base.sborka', '--dot']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^digraph "alt-container-base" \{\n/);
    expect(r.stdout).toContain('subgraph cluster_0');
    expect(r.stdout).toMatch(/"[^"]+\/resolve" -> "[^"]+\/prepare-root";/);
    expect(r.stdout.trimEnd().endsWith('}')).toBe(true);
  });

  it('prints steps and cache keys for people by default', async () => {
    const r = await run(['plan', 'products/ve-base.sborka']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^alt-container-base/);
    expect(r.stdout).toMatch(/ {2}resolve +[0-9a-f]{16} \(not cached\)/);
  });

  it('--product picks one of several products in a file', async () => {
    const r = await run(['plan', 'two.sborka', '--product', 'b', '--json'], dir);
    expect(r.code).toBe(0);
    expect(parsePlan(JSON.parse(r.stdout)).product).toBe('b');
  });

  it('exits 1 and plans nothing when the recipe has errors', async () => {
    const r = await run(['plan', 'broken.sborka', '--json'], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('error[unknown-arch]');
  });

  it.each([
    [['plan'], 'usage: sborka plan'],
    [['plan', 'products/ve-base.sborka', '--json', '--dot'], 'exclude each other'],
    [['plan', 'products/ve-base.sborka', 'products/cloud-vm.sborka'], 'one recipe file'],
    [['plan', 'products/ve-base.sborka', '--product', 'nope'], 'not a buildable product'],
    [['plan', 'products/ve-base.sborka', '--arch', 'e2kv6'], 'not built for e2kv6'],
    [['plan', 'products/common/alt-base.sborka'], 'declares no buildable product'],
  ])('exits 2 on a bad command line: %j', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });

  it('exits 2 when a file holds several products and none is chosen', async () => {
    const r = await run(['plan', 'two.sborka'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('choose one with --product (a, b)');
  });
});

describe('sborka fmt', () => {
  it('--check exits 1 on an unformatted file and leaves it alone; fmt writes the canonical text', async () => {
    const file = join(dir, 'messy.sborka');
    writeFileSync(file, UNFORMATTED);
    const checked = await run(['fmt', '--check', 'messy.sborka'], dir);
    expect(checked.code).toBe(1);
    expect(checked.stdout).toBe('messy.sborka: not formatted\n');
    expect(readFileSync(file, 'utf8')).toBe(UNFORMATTED);

    const formatted = await run(['fmt', 'messy.sborka'], dir);
    expect(formatted.code).toBe(0);
    expect(formatted.stdout).toBe('messy.sborka: formatted\n');
    const text = readFileSync(file, 'utf8');
    expect(text).toBe(formatRecipe('messy.sborka', UNFORMATTED).text);
    expect(text).toBe('product demo {\n  branch p11\n  arch x86_64, aarch64  # two arches\n  profile ve/base\n  output tar {\n    compression xz\n  }\n}\n');

    const again = await run(['fmt', '--check', 'messy.sborka'], dir);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe('');
  });

  it('--check passes over products/ (they are kept formatted)', async () => {
    const r = await run(['fmt', '--check', 'products']);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(0);
  });

  it('exits 1 on a file with syntax errors and does not touch it', async () => {
    const r = await run(['fmt', 'syntax.sborka'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('syntax.sborka:');
    expect(readFileSync(join(dir, 'syntax.sborka'), 'utf8')).toBe('product demo {\n  arch\n');
  });

  it('exits 2 without files', async () => {
    const r = await run(['fmt', '--check']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('usage: sborka fmt');
  });
});
