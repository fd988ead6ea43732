import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Info } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { inputEnvName } from '../../activities/kinds/core';
import { readLedger } from '../../activities/ledger';
import type { StepInput, StepResult } from '../../plan/step-contract';
import type { Config } from '../../config/config';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, stepInput, testConfig } from './helpers';

let dir: string;
let config: Config;
beforeEach(() => {
  dir = makeTmpDir();
  config = testConfig(dir);
});
afterEach(() => removeDir(dir));

function run(input: StepInput, info: Partial<Info> = {}): Promise<StepResult> {
  const { runStep } = createActivities({ config, logger: silentLogger });
  return new MockActivityEnvironment(info, { logger: quietSdkLogger }).run(runStep, input);
}

const writeFiles = (root: string, files: Record<string, string>) => {
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
};

describe('noop', () => {
  it('spawns nothing and writes nothing', async () => {
    const result = await run(stepInput({ id: 'nothing', kind: 'noop', params: {} }));
    expect(result.outputs).toEqual({ files: [], values: {} });
    expect(fs.readdirSync(result.outputDir)).toEqual([]);
    expect((await readLedger(config.storeDir))[0]).toMatchObject({ outcome: 'succeeded', pids: [] });
  });
});

describe('exec', () => {
  it('gives the program its inputs and output dir, and a clean environment', async () => {
    process.env.SBORKA_TEST_SECRET = 'must-not-leak';
    try {
      const make = await run(stepInput({
        id: 'make-data', kind: 'exec',
        params: { argv: ['sh', '-c', 'mkdir -p "$SBORKA_OUTPUT_DIR/sub" && echo 42 > "$SBORKA_OUTPUT_DIR/sub/answer"'] },
      }));
      const use = await run(stepInput({
        id: 'use', kind: 'exec', needs: ['make-data'],
        params: {
          argv: ['sh', '-c', 'cat "$SBORKA_INPUT_MAKE_DATA/sub/answer" > "$SBORKA_OUTPUT_DIR/copy"; env > "$SBORKA_OUTPUT_DIR/env"; pwd > "$SBORKA_OUTPUT_DIR/cwd"; echo scratch > leftover'],
          env: { GREETING: 'privet' },
        },
      }, { inputs: { 'make-data': make.key } }));
      expect(use.outputs.files.map((f) => f.path)).toEqual(['copy', 'cwd', 'env']);
      expect(fs.readFileSync(path.join(use.outputDir, 'copy'), 'utf8')).toBe('42\n');
      const env = fs.readFileSync(path.join(use.outputDir, 'env'), 'utf8');
      expect(env).toContain('GREETING=privet');
      expect(env).toContain(`SBORKA_INPUT_MAKE_DATA=${make.outputDir}`);
      expect(env).toContain('LC_ALL=C.UTF-8');
      expect(env).not.toContain('must-not-leak');
    } finally {
      delete process.env.SBORKA_TEST_SECRET;
    }
  });

  it('refuses params.env that would override sborka variables', async () => {
    const input = stepInput({ id: 'x', kind: 'exec', params: { argv: ['true'], env: { SBORKA_OUTPUT_DIR: '/' } } });
    await expect(run(input)).rejects.toMatchObject({ type: 'BadInput', message: expect.stringContaining('params.env.SBORKA_OUTPUT_DIR') });
  });

  it('names input variables by step id', () => {
    expect(inputEnvName('prepare-root.x86_64')).toBe('SBORKA_INPUT_PREPARE_ROOT_X86_64');
  });

  it('reports a missing program as BadInput', async () => {
    const input = stepInput({ id: 'x', kind: 'exec', params: { argv: ['sborka-no-such-tool'] } });
    await expect(run(input)).rejects.toMatchObject({ type: 'BadInput', nonRetryable: true });
  });
});

describe('checksum', () => {
  it('writes SHA256SUMS over every input file that sha256sum -c accepts', async () => {
    const a = await run(stepInput({ id: 'a', kind: 'exec', params: { argv: ['sh', '-c', 'echo one > "$SBORKA_OUTPUT_DIR/1.txt"; mkdir "$SBORKA_OUTPUT_DIR/d"; echo two > "$SBORKA_OUTPUT_DIR/d/2.txt"'] } }));
    const b = await run(stepInput({ id: 'b', kind: 'exec', params: { argv: ['sh', '-c', 'echo three > "$SBORKA_OUTPUT_DIR/3.txt"'] } }));
    const sums = await run(stepInput({ id: 'sums', kind: 'checksum', params: {}, needs: ['a', 'b'] }, { inputs: { b: b.key, a: a.key } }));
    const text = fs.readFileSync(path.join(sums.outputDir, 'SHA256SUMS'), 'utf8');
    expect(text.split('\n').filter(Boolean).map((l) => l.split('  ')[1])).toEqual(['a/1.txt', 'a/d/2.txt', 'b/3.txt']);
    expect(sums.outputs.values).toEqual({ files: 3 });
    // Check with the real tool from a folder where each step id points at its outputs.
    const check = path.join(dir, 'check');
    fs.mkdirSync(check);
    fs.symlinkSync(a.outputDir, path.join(check, 'a'));
    fs.symlinkSync(b.outputDir, path.join(check, 'b'));
    fs.copyFileSync(path.join(sums.outputDir, 'SHA256SUMS'), path.join(check, 'SHA256SUMS'));
    expect(execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: check, encoding: 'utf8' })).toBe('a/1.txt: OK\na/d/2.txt: OK\nb/3.txt: OK\n');
  });

  // The store checks an input before the kind sees it (test/activities/store-integrity.test.ts).
  it('fails when an input in the store no longer matches its manifest', async () => {
    const a = await run(stepInput({ id: 'a', kind: 'exec', params: { argv: ['sh', '-c', 'echo one > "$SBORKA_OUTPUT_DIR/1.txt"'] } }));
    fs.writeFileSync(path.join(a.outputDir, '1.txt'), 'tampered\n');
    const err = await run(stepInput({ id: 'sums', kind: 'checksum', params: { name: 'sums/SHA256SUMS' }, needs: ['a'] }, { inputs: { a: a.key } }))
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'BadInput', message: expect.stringContaining('the manifest says') });
  });
});

describe('archive', () => {
  const archiveStep = (id: string, sourceDir: string, extra: Record<string, unknown> = {}) => ({
    id, kind: 'archive' as const, cacheable: false,
    params: { sourceDir, include: ['docs', 'README'], name: 'out/project.tar.gz', mtime: 1700000000, ...extra },
  });

  it('makes a reproducible tar.gz with real tar and gzip', async () => {
    const src = path.join(dir, 'src');
    writeFiles(src, { 'README': 'readme\n', 'docs/b.md': 'b\n', 'docs/a.md': 'a\n', 'docs/z/c.md': 'c\n', 'ignored': 'x' });
    const first = await run(stepInput(archiveStep('pack', src), { buildId: 'b1' }));
    // Same content, different file times: the archive must not change.
    const later = new Date('2030-01-01T00:00:00Z');
    for (const f of ['README', 'docs/a.md', 'docs/b.md', 'docs/z/c.md']) fs.utimesSync(path.join(src, f), later, later);
    const second = await run(stepInput(archiveStep('pack', src), { buildId: 'b2' }));
    expect(second.cached).toBe(false);
    expect(second.outputs).toEqual(first.outputs);
    expect(first.outputs.files.map((f) => f.path)).toEqual(['out/project.tar.gz']);

    const archive = path.join(first.outputDir, 'out', 'project.tar.gz');
    const listing = execFileSync('tar', ['-tvzf', archive, '--utc'], { encoding: 'utf8' }).trim().split('\n');
    expect(listing.map((l) => l.split(/\s+/).pop())).toEqual(['docs/', 'docs/a.md', 'docs/b.md', 'docs/z/', 'docs/z/c.md', 'README']);
    for (const l of listing) expect(l).toMatch(/ 0\/0 .* 2023-11-14 22:13 /);
    const gz = fs.readFileSync(archive);
    expect(gz.readUInt32LE(4)).toBe(0); // no timestamp in the gzip header
    expect(gz[3]! & 0x08).toBe(0); // no file name either
    expect((await readLedger(config.storeDir))[0]!.pids).toHaveLength(2);
  });

  it('archives an input step\'s outputs named as input:<step>', async () => {
    const made = await run(stepInput({ id: 'gen', kind: 'exec', params: { argv: ['sh', '-c', 'mkdir "$SBORKA_OUTPUT_DIR/docs"; echo x > "$SBORKA_OUTPUT_DIR/docs/x"; echo r > "$SBORKA_OUTPUT_DIR/README"'] } }));
    const packed = await run(stepInput({ ...archiveStep('pack', 'input:gen'), needs: ['gen'] }, { inputs: { gen: made.key } }));
    const listing = execFileSync('tar', ['-tzf', path.join(packed.outputDir, 'out', 'project.tar.gz')], { encoding: 'utf8' });
    expect(listing).toBe('docs/\ndocs/x\nREADME\n');
  });

  it('refuses an include that does not exist, naming it', async () => {
    const src = path.join(dir, 'src');
    writeFiles(src, { 'README': 'r' });
    const err = await run(stepInput(archiveStep('pack', src))).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'BadInput', nonRetryable: true, message: expect.stringContaining('params.include[0]: docs does not exist') });
  });

  it('refuses input:<step> for a step it does not need', async () => {
    const err = await run(stepInput(archiveStep('pack', 'input:other'))).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'BadInput', message: expect.stringContaining('"other" is not among the steps it needs') });
  });
});
