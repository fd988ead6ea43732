// What the alt toolchain must get right about the real tools (issue 14, items 1-5), on fakes
// written from their sources: where mkimage-profiles leaves the image, which targets exist,
// hasher-priv's prefix and caller uid, and the reproducible test.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Info } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import { findImage, imageName } from '../../activities/alt/image-file';
import { altHostProblems } from '../../activities/alt/host-check';
import { AltHost } from '../../activities/alt/host';
import { compileText } from '../dsl/helpers';
import { StepInput, type StepResult } from '../../plan/step-contract';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, testConfig } from '../activities/helpers';
import { fakeHostEach, recipePlan } from './helpers';

const fx = fakeHostEach({ arches: ['x86_64'] });

function runStep(step: unknown, inputs: Record<string, string> = {}, host: AltHost = fx.fake.host, info: Partial<Info> = {}): Promise<StepResult> {
  const { runStep: run } = createActivities({ config: testConfig(fx.stateDir), logger: silentLogger, registry: defaultRegistry({ alt: { host } }) });
  const input = StepInput.parse({ buildId: 'b1', variantId: 'v.x86_64', toolchain: { name: 'alt', version: '1' }, step, inputs });
  return new MockActivityEnvironment(info, { logger: quietSdkLogger }).run(run, input);
}

type PlanStep = { id: string; needs: string[]; params: Record<string, unknown> };
async function chain(file: string, ids: string[], patch: (s: PlanStep) => PlanStep = (s) => s): Promise<Record<string, StepResult>> {
  const v = recipePlan(file, ['x86_64']).variants[0]!;
  const results: Record<string, StepResult> = {};
  for (const id of ids) {
    const step = patch(v.steps.find((s) => s.id === id)! as unknown as PlanStep);
    results[id] = await runStep(step, Object.fromEntries(step.needs.filter((n) => results[n]).map((n) => [n, results[n]!.key])));
  }
  return results;
}

describe('item 1: the image is found where mkimage-profiles leaves it', () => {
  it('with QUIET=1 (no `** image:` prefix, a ~/out path on stderr) the build step still takes the image, from BUILDDIR\'s build log', async () => {
    const r = await chain('products/regular-jeos.sborka', ['resolve', 'prepare-root', 'configure', 'build-img']);
    const make = fx.fake.calls().filter((c) => c[0] === 'make').pop()!;
    expect(make).toEqual(expect.arrayContaining(['QUIET=1', 'NO_SYMLINK=1', 'REPORT=1']));
    expect(make[make.length - 1]).toBe('vm/regular-jeos-systemd-sborka.img');
    expect(r['build-img']!.outputs.values).toMatchObject({ foundVia: 'build.log', target: 'vm/regular-jeos-systemd.img' });
    const img = path.join(r['build-img']!.outputDir, 'regular-jeos-11.0-x86_64-std-def.img');
    expect(fs.readFileSync(img, 'utf8').split('\n')[0]).toBe('fake img image of vm/regular-jeos-systemd-sborka.img for x86_64');
  });

  it('without the build log: the reports\' copy, then IMAGEDIR\'s file or its -latest symlink', async () => {
    const dir = makeTmpDir('sborka-img-');
    try {
      const [buildDir, imageDir, logDir] = ['b', 'out', 'logs'].map((d) => path.join(dir, d)) as [string, string, string];
      for (const d of [buildDir, imageDir, logDir]) fs.mkdirSync(d);
      const o = { buildDir, imageDir, logDir, name: imageName('regular-xfce-sborka', 'p11'), arch: 'x86_64', type: 'iso' };
      expect(o.name).toBe('alt-p11-xfce-sborka');
      expect(await findImage(o)).toEqual({ problem: `no "** image:" line in ${buildDir}/build.log or the reports' logs, and no alt-p11-xfce-sborka-*-x86_64.iso in ${imageDir}` });
      const file = path.join(imageDir, 'alt-p11-xfce-sborka-20260102-x86_64.iso');
      fs.writeFileSync(file, 'iso');
      expect(await findImage(o)).toEqual({ path: file, via: imageDir });
      fs.writeFileSync(path.join(imageDir, 'alt-p11-xfce-sborka-20260101-x86_64.iso'), 'older');
      expect(await findImage(o)).toMatchObject({ problem: expect.stringContaining('several images') });
      fs.symlinkSync('alt-p11-xfce-sborka-20260102-x86_64.iso', path.join(imageDir, 'alt-p11-xfce-sborka-latest-x86_64.iso'));
      expect(await findImage(o)).toEqual({ path: file, via: `${imageDir}/alt-p11-xfce-sborka-latest-x86_64.iso` });
      fs.mkdirSync(path.join(logDir, 'alt-p11-xfce-sborka-20260102-x86_64.iso.reports'));
      fs.writeFileSync(path.join(logDir, 'alt-p11-xfce-sborka-20260102-x86_64.iso.reports', 'build.log'), `** image: ${file} [4.0K]\n`);
      expect(await findImage(o)).toMatchObject({ path: file, size: '4.0K' });
    } finally {
      removeDir(dir);
    }
  });
});

describe('item 2: targets mkimage-profiles defines', () => {
  const alt = (profile: string, outputs: string, arch = 'x86_64') => compileText({ 'p.sborka': `product p {\n  branch p11\n  arch ${arch}\n  profile ${profile}\n${outputs}}\n` }).diagnostics.map((d) => [d.code, d.message, d.hint]);

  it('sborka check refuses a target upstream lacks, with the names near it', () => {
    expect(alt('vm/alt-mobile', '  output img\n', 'aarch64')).toEqual([['unknown-target', 'mkimage-profiles (fc28b26) defines no `vm/alt-mobile`', expect.stringContaining('vm/alt-mobile-phosh-def, vm/alt-mobile-phosh-lt11i, vm/alt-mobile-phosh-pine')]]);
    expect(alt('distro/regular-server-systemd', '  output iso\n  output qcow2\n')).toEqual([['unknown-target', 'mkimage-profiles (fc28b26) defines no `vm/regular-server-systemd` (the qcow2 of `distro/regular-server-systemd`)', expect.stringContaining('vm/regular-')]]);
    expect(alt('distro/regular-xfc', '  output iso\n')).toEqual([['unknown-target', 'mkimage-profiles (fc28b26) defines no `distro/regular-xfce`'.replace('xfce', 'xfc'), 'did you mean `distro/regular-xfce`?']]);
    expect(alt('vm/alt-mobile-phosh-pine', '  output img\n')).toEqual([['target-not-for-arch', 'mkimage-profiles (fc28b26) defines `vm/alt-mobile-phosh-pine` for aarch64 only, not x86_64', expect.any(String)]]);
    expect(alt('ve/base', '  output tar {\n    compression zstd\n  }\n')).toEqual([['unknown-target', 'output tar: mkimage-profiles compresses with gz or xz only, not zstd', 'use `compression xz` or `compression gzip`']]);
    expect(alt('ve/base', '  output iso\n')).toEqual([['unknown-target', 'output iso: an iso output is made from a distro/ target, and `ve/base` is a ve/ one', expect.any(String)]]);
    expect(alt('distro/regular-jeos-systemd', '  output iso\n  output img\n')).toEqual([]);
    expect(alt('vm/alt-mobile-phosh-pine', '  output img\n', 'aarch64')).toEqual([]);
  });

  it('the worker checks the target against its own profiles tree before building', async () => {
    fs.rmSync(path.join(fx.fake.profiles, 'conf.d', 'upstream.mk'));
    fs.writeFileSync(path.join(fx.fake.profiles, 'conf.d', 'fork.mk'), 'vm/regular-jeos-sytemd: ; @:\n');
    const err = await chain('products/regular-jeos.sborka', ['resolve', 'prepare-root', 'configure', 'build-img']).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'BadInput', message: expect.stringContaining(`the profiles tree ${fx.fake.profiles} (SBORKA_ALT_PROFILES) defines no vm/regular-jeos-systemd for x86_64 (conf.d/*.mk), so \`make vm/regular-jeos-systemd.img\` would stop with "No rule to make target"; did you mean \`vm/regular-jeos-sytemd\`?`) });
  });
});

describe('items 3 and 4: hasher-priv\'s prefix and caller uid, at worker start', () => {
  it('a good host has no problems', () => {
    expect(altHostProblems(fx.fake.host, { kvm: true })).toEqual([]);
  });

  it('lists every problem at once, each with its fix', () => {
    const priv = fx.fake.host.hasherPrivDir;
    fs.writeFileSync(path.join(priv, 'system'), 'prefix=/tmp/.private\nallowed_mountpoints=/proc\nallowed_device=/dev/kvm\n');
    const host = AltHost.parse({ ...fx.fake.host, hasherDir: path.join(fx.stateDir, 'store', 'tmp', 'hasher'), profilesDir: path.join(fx.fake.root, 'none'), mirror: path.join(fx.fake.root, 'mirror'), branches: ['p11'] });
    expect(altHostProblems(host, { kvm: true })).toEqual([
      `${priv}/system line 3: hasher-priv knows no option "allowed_device" (it stops with "unrecognized option"): remove the line`,
      expect.stringMatching(new RegExp(`^hasher-priv works only under its prefix "/tmp/\\.private" \\(${priv}/system line 1\\), and ${host.hasherDir} is outside it \\("prefix mismatch"\\): set SBORKA_ALT_HASHER_DIR to a directory under /tmp/\\.private`)),
      `hasher-priv does not allow /dev/pts: change line 2 of ${priv}/system from "allowed_mountpoints=/proc" to "allowed_mountpoints=/proc,/dev/pts"`,
      `hasher-priv does not allow /dev/kvm: add the line "allowed_devices=/dev/kvm" to ${priv}/system`,
      `${path.join(fx.fake.root, 'none')} is not a mkimage-profiles tree (no Makefile and conf.d/): install it ("apt-get install mkimage-profiles") or point SBORKA_ALT_PROFILES at a checkout`,
      expect.stringMatching(/^the mirror has no p11\/x86_64 \(.*\/mirror\/p11\/branch\/x86_64\/base is missing\): sync it/),
    ]);
  });

  it('root (or a uid below hasher-privd\'s min_uid) is refused at start, with hasher-useradd as the fix; a step refuses too', async () => {
    const root = AltHost.parse({ ...fx.fake.host, user: 'root', uid: 0 });
    expect(altHostProblems(root)).toEqual([expect.stringMatching(/^this worker runs as root \(uid 0\), and hasher-priv refuses such a caller \("invalid uid: 0"\).*"useradd -m builder && hasher-useradd builder"/)]);
    expect(altHostProblems(AltHost.parse({ ...fx.fake.host, uid: 20 }))[0]).toContain('(uid 20)');
    const v = recipePlan('products/ve-base.sborka', ['x86_64']).variants[0]!;
    const e = await runStep(v.steps.find((s) => s.id === 'resolve'), {}, root).catch((x: unknown) => x);
    expect(e).toMatchObject({ type: 'BadInput', message: expect.stringContaining('hasher-useradd builder') });
  });

  it('the build\'s BUILDDIR is in the step\'s hasher workdir, under the prefix', async () => {
    await chain('products/ve-base.sborka', ['resolve', 'prepare-root', 'configure', 'build-tar']);
    const make = fx.fake.calls().filter((c) => c[0] === 'make').pop()!;
    const buildDir = make.find((a) => a.startsWith('BUILDDIR='))!.slice('BUILDDIR='.length);
    expect(buildDir.startsWith(`${fx.fake.host.hasherDir}/`)).toBe(true);
    expect(make[make.length - 1]).toBe('ve/base-sborka.tar.xz');
  });
});

describe('item 5: test reproducible on the alt toolchain', () => {
  const ids = ['resolve', 'prepare-root', 'configure', 'build-iso', 'build-img', 'test-reproducible'];

  it('builds each image again in a fresh work directory from the same lock, DATE and SOURCE_DATE_EPOCH from it, and compares the digests', async () => {
    const r = await chain('products/regular-jeos.sborka', ids);
    expect(r['test-reproducible']!.outputs.values).toMatchObject({ passed: true, artifacts: [{ step: 'build-img', file: 'regular-jeos-11.0-x86_64-std-def.img' }, { step: 'build-iso', file: 'regular-jeos-11.0-x86_64-std-def.iso' }] });
    const makes = fx.fake.calls().filter((c) => c[0] === 'make');
    expect(makes).toHaveLength(4);
    const dates = new Set(makes.map((c) => c.find((a) => a.startsWith('DATE='))));
    expect(dates.size).toBe(1);
    const buildDirs = new Set(makes.map((c) => c.find((a) => a.startsWith('BUILDDIR='))));
    expect(buildDirs.size).toBe(4);
  });

  it('a second build that differs fails the test as not reproducible, with a report', async () => {
    const real = path.join(fx.fake.root, 'image.img');
    fs.writeFileSync(real, 'first build\n');
    fx.fake.set('make-image.img', real);
    const r = await chain('products/regular-jeos.sborka', ids.slice(0, 5));
    fs.writeFileSync(real, 'second build\n');
    const v = recipePlan('products/regular-jeos.sborka', ['x86_64']).variants[0]!;
    const t = v.steps.find((s) => s.id === 'test-reproducible')!;
    const err = await runStep(t, { 'build-iso': r['build-iso']!.key, 'build-img': r['build-img']!.key }).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'PolicyViolation', message: expect.stringMatching(/^not reproducible: build-img\/regular-jeos-11\.0-x86_64-std-def\.img: [0-9a-f]{64} then [0-9a-f]{64} \(report: \S+\.reproducible-build-img\.txt\)$/) });
    const report = /\(report: (\S+)\)/.exec((err as Error).message)![1]!;
    expect(fs.readFileSync(report, 'utf8')).toMatch(/first build|second build|first differing byte/);
  });
});
