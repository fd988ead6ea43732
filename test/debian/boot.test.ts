// Boot tests of the debian toolchain on a real x86_64 image: it boots by itself (GRUB in
// the MBR) under TCG, `run` commands execute inside it, failures carry the console's tail,
// and no qemu outlives a step.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { StepResult } from '../../plan/step-contract';
import type { Config } from '../../config/config';
import { outputMatches, shellQuote } from '../../activities/debian/boot';
import { makeTmpDir, removeDir, testConfig } from '../activities/helpers';
import { buildStep, commitConfiguredRoot, debianStep, debianTestRoot, qemuUnder, runner, testStep } from './image-fixture';

jest.setTimeout(900_000);

let dir: string;
let config: Config;
let run: ReturnType<typeof runner>;
let img: StepResult;
const needs = ['build-img'];
const inputs = () => ({ 'build-img': img.key });

beforeAll(async () => {
  const root = await debianTestRoot();
  dir = makeTmpDir('sborka-debian-boot-');
  config = testConfig(dir);
  const configureKey = await commitConfiguredRoot(config, root.tar, { kernel: root.kernel, initrd: root.initrd });
  run = runner(config);
  img = await run(debianStep(buildStep('build-img', { format: 'img', sizeBytes: 1024 * 1024 * 1024 }, 'disk.img'), { configure: configureKey }));
});
afterAll(() => removeDir(dir));
afterEach(() => expect(qemuUnder(dir)).toEqual([]));

describe('boot test', () => {
  it('boots the x86_64 img from its own boot loader and sees "login:"', async () => {
    const r = await run(debianStep(testStep('test-boot', { type: 'boot', timeoutMs: 240_000, expect: 'login:' }, needs), inputs()));
    expect(r.outputs.values).toMatchObject({ passed: true, image: img.outputs.values.sha256 });
    const consoleLog = fs.readFileSync(path.join(r.outputDir, 'console.log'), 'utf8');
    expect(consoleLog).toContain('login:');
    expect(consoleLog).toMatch(/Linux version 6\.1\./);
    expect(fs.readFileSync(r.logPath, 'utf8')).toContain('serial console of the VM');
  });

  it('fails with the console tail when the text never comes, and kills qemu', async () => {
    const started = Date.now();
    const failed = run(debianStep(testStep('test-boot', { type: 'boot', timeoutMs: 15_000, expect: 'no such text' }, needs), inputs()));
    await expect(failed).rejects.toMatchObject({
      type: 'PolicyViolation', nonRetryable: true,
      message: expect.stringMatching(/"no such text" did not appear on the console within 15000 ms[\s\S]*last console lines/),
    });
    expect(Date.now() - started).toBeLessThan(60_000);
  });
});

describe('run test', () => {
  it('runs a command inside the booted system and compares its output', async () => {
    const test = { type: 'run', argv: ['systemctl', 'is-system-running'], exitCode: 0, output: 'running', timeoutMs: 240_000 };
    const r = await run(debianStep(testStep('test-run-1', test, needs), inputs()));
    expect(r.outputs.values).toMatchObject({ passed: true, exitCode: 0 });
    expect(fs.readFileSync(path.join(r.outputDir, 'stdout.txt'), 'utf8').trim()).toBe('running');
    // The built image is untouched: the harness went into a copy.
    expect(r.outputs.values.image).toBe(img.outputs.values.sha256);
  });

  it('fails on a wrong exit code with the output and the console tail', async () => {
    const test = { type: 'run', argv: ['sh', '-c', "echo 'it''s here'; echo oops >&2; exit 3"], exitCode: 0, timeoutMs: 240_000 };
    await expect(run(debianStep(testStep('test-run-2', test, needs), inputs()))).rejects.toMatchObject({
      type: 'PolicyViolation', nonRetryable: true,
      message: expect.stringMatching(/exit code 3, expected 0; stderr: oops[\s\S]*last console lines/),
    });
  });

  it('matches expected output as the whole output or one whole line', () => {
    expect(outputMatches('running\n', 'running')).toBe(true);
    expect(outputMatches('a\nrunning\n', 'running')).toBe(true);
    expect(outputMatches('not running\n', 'running')).toBe(false);
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});
