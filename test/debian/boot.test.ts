// Boot tests of the debian toolchain on a real x86_64 image: it boots by itself (GRUB in
// the MBR) under TCG, `run` commands execute inside it, failures carry the console's tail,
// and no qemu outlives a step. The passing boot and run tests of an x86_64 img (console,
// "login:", the command's output, the image untouched) are the e2e test's test-boot and
// test-run-1 (test/e2e/debian-minimal.test.ts): the same runBootTest and runRunTest on the
// same writer's img, so they are not booted a second time here.
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
  it('fails on a wrong exit code with the output and the console tail', async () => {
    const test = { type: 'run', argv: ['sh', '-c', "echo 'it''s here'; echo oops >&2; exit 3"], exitCode: 0, timeoutMs: 240_000 };
    // The command ran inside the booted system: its exit code and stderr came back from there.
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
