import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import type { PublishKindDeps } from '../../activities/publish/kind';
import { promoteBuild } from '../../activities/publish/promote';
import { promoteCommand } from '../../cli/commands/promote';
import type { StepInput, StepResult } from '../../plan/step-contract';
import { PublishConfig, type PublishConfigInput } from '../../publish/config-schema';
import type { Config } from '../../config/config';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, stepInput, testConfig } from '../activities/helpers';
import { makeGpgKey, makeMinisignKey, sha256, storeEntry, type GpgKey } from './helpers';

let dir: string;
let config: Config;
let root: string;
let gpg: GpgKey;
let minisign: { secretKey: string; publicKey: string };
let publishConfig: PublishConfig;

beforeAll(() => {
  dir = makeTmpDir('sborka-publish-');
  config = testConfig(path.join(dir, 'state'));
  gpg = makeGpgKey(dir);
  minisign = makeMinisignKey(dir);
});
afterAll(() => {
  gpg.stop();
  removeDir(dir);
});
beforeEach(() => {
  root = fs.mkdtempSync(path.join(dir, 'root-'));
  publishConfig = configWith({});
});

function configWith(extra: Partial<PublishConfigInput>): PublishConfig {
  return PublishConfig.parse({
    files: [{ root, owners: ['community', 'maintainer'], keep: 3 }],
    signing: { gpg: { key: gpg.fingerprint, homedir: gpg.homedir }, minisign: { secretKey: minisign.secretKey } },
    ...extra,
  });
}

function run(input: StepInput, deps: PublishKindDeps = {}): Promise<StepResult> {
  const registry = defaultRegistry({ publish: { publishConfig, ...deps } });
  const { runStep } = createActivities({ config, logger: silentLogger, registry });
  return new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(runStep, input);
}

/** The inputs of a debian-minimal publish step, as the build steps leave them in the store. */
async function buildInputs(arch: string, image = `image for ${arch}`): Promise<Record<string, string>> {
  return {
    'build-img': await storeEntry(config.storeDir, 'build', { [`debian-minimal-${arch}.img`]: image }, { sha256: sha256(image), size: image.length }),
    'build-tar': await storeEntry(config.storeDir, 'build', { [`debian-minimal-${arch}.tar`]: `rootfs tar ${arch}` }),
    'verify-licenses': await storeEntry(config.storeDir, 'verify-licenses', {
      'license-report.json': '{"verdict":"pass"}\n', 'license-report.md': '# Licenses\n', 'license-report.html': '<h1>Licenses</h1>\n', 'sbom.spdx.json': '{"spdxVersion":"SPDX-2.3"}\n',
    }, { verdict: 'pass' }),
    resolve: await storeEntry(config.storeDir, 'resolve', { 'packages.lock.json': `{"arch":"${arch}","packages":[]}\n` }),
  };
}

function publishStep(arch: string, template: string, inputs: Record<string, string>, buildId = 'build-1'): StepInput {
  return stepInput({
    id: 'publish-files', kind: 'publish', needs: Object.keys(inputs), cacheable: false,
    params: { publish: { target: 'files', path: template }, product: 'debian-minimal', arch, artifacts: ['lock', 'img', 'tar', 'license-report', 'sbom'] },
  }, { buildId, inputs });
}

const today = () => new Date().toISOString().slice(0, 10).replace(/-/g, '');

describe('files target', () => {
  it('publishes a signed version per arch, moves latest, and lists everything in SHA256SUMS', async () => {
    const template = `${root}/debian/debian-minimal/{date}/ARCH`;
    for (const arch of ['x86_64', 'aarch64']) {
      const result = await run(publishStep(arch, template.replace('ARCH', arch), await buildInputs(arch)));
      expect(result.outputs.values).toMatchObject({ target: 'files', status: 'published', latest: today() });
    }
    const base = path.join(root, 'debian', 'debian-minimal');
    expect(fs.readlinkSync(path.join(base, 'latest'))).toBe(today());
    const v = path.join(base, today(), 'x86_64');
    expect(fs.readdirSync(v).sort()).toEqual([
      'SHA256SUMS', 'SHA256SUMS.asc', 'SHA256SUMS.minisig', 'build.json', 'debian-minimal-x86_64.img', 'debian-minimal-x86_64.tar',
      'license-report.html', 'license-report.json', 'license-report.md', 'packages.lock.json', 'sbom.spdx.json',
    ]);
    execFileSync('sha256sum', ['--check', '--strict', 'SHA256SUMS'], { cwd: v });
    execFileSync('gpg', ['--batch', '--homedir', gpg.homedir, '--verify', 'SHA256SUMS.asc', 'SHA256SUMS'], { cwd: v, stdio: 'pipe' });
    execFileSync('minisign', ['-V', '-p', minisign.publicKey, '-m', 'SHA256SUMS'], { cwd: v, stdio: 'pipe' });
    const build = JSON.parse(fs.readFileSync(path.join(v, 'build.json'), 'utf8'));
    expect(build).toMatchObject({
      product: 'debian-minimal', arch: 'x86_64', buildId: 'build-1', variant: 'demo-x86_64', toolchain: { name: 'core', version: '1' },
      license: { verdict: 'pass' }, lock: { file: 'packages.lock.json' },
    });
    expect(build.files.find((f: { name: string }) => f.name === 'debian-minimal-x86_64.img')).toMatchObject({ sha256: sha256('image for x86_64'), artifact: 'img', format: 'img' });
    expect(Object.keys(build.steps).sort()).toEqual(['build-img', 'build-tar', 'resolve', 'verify-licenses']);
    // Publishing's own bookkeeping stays out of sight and no staging is left behind.
    expect(fs.readdirSync(path.join(root, '.sborka', 'staging'))).toEqual([]);
  });

  it('changes nothing when the same build is published again, and refuses other content under the version', async () => {
    const template = `${root}/nightly/{date}/x86_64`;
    const inputs = await buildInputs('x86_64');
    await run(publishStep('x86_64', template, inputs));
    const v = path.join(root, 'nightly', today(), 'x86_64');
    const snapshot = () => fs.readdirSync(v).sort().map((n) => {
      const st = fs.statSync(path.join(v, n));
      return [n, st.ino, st.mtimeMs];
    });
    const before = snapshot();
    const dirIno = fs.statSync(v).ino;
    const again = await run(publishStep('x86_64', template, inputs, 'build-1'));
    expect(again.outputs.values).toMatchObject({ status: 'unchanged' });
    expect(snapshot()).toEqual(before);
    expect(fs.statSync(v).ino).toBe(dirIno);

    const other = await buildInputs('x86_64', 'a different image');
    await expect(run(publishStep('x86_64', template, other, 'build-2'))).rejects.toMatchObject({
      type: 'BadInput', message: expect.stringContaining('already published with other content'),
    });
    expect(snapshot()).toEqual(before);
  });

  it('never shows a partial version when publishing dies between two files, and the retry completes it once', async () => {
    const template = `${root}/crash/{date}/x86_64`;
    const inputs = await buildInputs('x86_64');
    const versions = path.join(root, 'crash');
    const partial: string[] = [];
    // The watcher lists the tree as fast as it can while publishing runs.
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        for (const d of fs.existsSync(versions) ? fs.readdirSync(versions) : []) {
          // An entry can go between listing and reading it (the `latest.tmp-*` link is renamed
          // to `latest`), and an entry that is no directory holds no version: both are skipped,
          // as the existence check before them did.
          let names: string[];
          try {
            names = fs.readdirSync(path.join(versions, d, 'x86_64'));
          } catch (err) {
            if (['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) continue;
            throw err;
          }
          if (!names.includes('SHA256SUMS.asc') || names.length !== 11) partial.push(names.join(','));
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    let copied = 0;
    const crashAfterTwo = () => {
      if (++copied === 2) throw new Error('worker died between two files');
    };
    await expect(run(publishStep('x86_64', template, inputs), { afterFile: crashAfterTwo })).rejects.toMatchObject({ type: 'StepFailed' });
    expect(fs.existsSync(path.join(versions, today(), 'x86_64'))).toBe(false);
    expect(fs.existsSync(path.join(versions, 'latest'))).toBe(false);
    // A dead worker's staging (another pid) is what a kill leaves; the retry reaps it.
    const dead = path.join(root, '.sborka', 'staging', `${os.hostname()}~999999~deadbeef0000`);
    fs.mkdirSync(path.join(dead, 'version'), { recursive: true });
    fs.writeFileSync(path.join(dead, 'version', 'half.img'), 'half');
    const retry = await run(publishStep('x86_64', template, inputs));
    watching = false;
    await watcher;
    expect(retry.outputs.values).toMatchObject({ status: 'published' });
    expect(partial).toEqual([]);
    expect(fs.readdirSync(path.join(root, '.sborka', 'staging'))).toEqual([]);
    const v = path.join(versions, today(), 'x86_64');
    execFileSync('sha256sum', ['--check', '--strict', 'SHA256SUMS'], { cwd: v });
    const sums = fs.readFileSync(path.join(v, 'SHA256SUMS'), 'utf8').trim().split('\n');
    expect(new Set(sums.map((l) => l.split('  ')[1])).size).toBe(sums.length);
  });

  it('refuses templates and symlinks that lead out of the root', async () => {
    const inputs = await buildInputs('x86_64');
    await expect(run(publishStep('x86_64', `${root}/a/../../escape/{date}`, inputs))).rejects.toMatchObject({ type: 'PolicyViolation' });
    const outside = fs.mkdtempSync(path.join(dir, 'outside-'));
    fs.symlinkSync(outside, path.join(root, 'evil'));
    await expect(run(publishStep('x86_64', `${root}/evil/{date}/x86_64`, inputs))).rejects.toMatchObject({
      type: 'PolicyViolation', message: expect.stringContaining('outside the target root'),
    });
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('keeps the newest N nightlies per product and arch, never a promoted one; promote re-signs into the release channel', async () => {
    publishConfig = configWith({ files: [{ root, keep: 2 }] });
    const template = `${root}/nightly/debian-minimal/{build}/x86_64`;
    const ids = ['b1', 'b2', 'b3', 'b4'];
    for (const [i, id] of ids.entries()) {
      const inputs = await buildInputs('x86_64', `image of ${id}`);
      await run(publishStep('x86_64', template, inputs, id), { now: () => new Date(Date.UTC(2025, 0, 1 + i)) });
      if (id === 'b1') {
        const promoted = await promoteBuild({ buildId: 'b1', channel: 'release', roots: [root], signing: publishConfig.signing });
        expect(promoted).toEqual([expect.objectContaining({ status: 'published', to: 'release/nightly/debian-minimal/b1/x86_64' })]);
      }
    }
    const nightly = path.join(root, 'nightly', 'debian-minimal');
    // b1 is promoted: retention keeps it beside the newest two.
    expect(fs.readdirSync(nightly).sort()).toEqual(['b1', 'b3', 'b4', 'latest']);
    expect(fs.readlinkSync(path.join(nightly, 'latest'))).toBe('b4');
    const rel = path.join(root, 'release', 'nightly', 'debian-minimal', 'b1', 'x86_64');
    execFileSync('gpg', ['--batch', '--homedir', gpg.homedir, '--verify', 'SHA256SUMS.asc', 'SHA256SUMS'], { cwd: rel, stdio: 'pipe' });
    execFileSync('minisign', ['-V', '-p', minisign.publicKey, '-m', 'SHA256SUMS'], { cwd: rel, stdio: 'pipe' });
    execFileSync('sha256sum', ['--check', '--strict', 'SHA256SUMS'], { cwd: rel });
    expect(JSON.parse(fs.readFileSync(path.join(rel, 'build.json'), 'utf8'))).toMatchObject({ channel: 'release', buildId: 'b1', promotedFrom: 'nightly/debian-minimal/b1/x86_64' });
    // Hard-linked, not copied: the release shares the nightly's bytes.
    const img = 'debian-minimal-x86_64.img';
    expect(fs.statSync(path.join(rel, img)).ino).toBe(fs.statSync(path.join(nightly, 'b1', 'x86_64', img)).ino);
    expect(fs.readlinkSync(path.join(root, 'release', 'nightly', 'debian-minimal', 'latest'))).toBe('b1');
    // Promoting again is a no-op.
    const again = await promoteBuild({ buildId: 'b1', channel: 'release', roots: [root], signing: publishConfig.signing });
    expect(again[0]?.status).toBe('unchanged');
  });

  it('needs a signing key unless unsigned publishing is asked for', async () => {
    publishConfig = PublishConfig.parse({ files: [{ root }] });
    const inputs = await buildInputs('x86_64');
    await expect(run(publishStep('x86_64', `${root}/u/{date}/x86_64`, inputs))).rejects.toMatchObject({ message: expect.stringContaining('no signing key') });
    publishConfig = PublishConfig.parse({ files: [{ root }], signing: { unsigned: true } });
    const ok = await run(publishStep('x86_64', `${root}/u/{date}/x86_64`, inputs));
    expect(ok.outputs.values).toMatchObject({ status: 'published', signatures: [] });
  });

  it('sborka promote <build-id> --channel release promotes from the configured roots', async () => {
    publishConfig = PublishConfig.parse({ files: [{ root }], signing: { unsigned: true } });
    await run(publishStep('x86_64', `${root}/cli/{date}/x86_64`, await buildInputs('x86_64'), 'b-cli'));
    const configFile = path.join(dir, 'publish-cli.json');
    fs.writeFileSync(configFile, JSON.stringify({ files: [{ root }], signing: { unsigned: true } }));
    const out: string[] = [];
    const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: () => true }, cwd: dir } as unknown as Parameters<typeof promoteCommand.run>[1];
    process.env.SBORKA_PUBLISH_CONFIG = configFile;
    try {
      expect(await promoteCommand.run(['b-cli', '--channel', 'release'], io)).toBe(0);
      await expect(promoteCommand.run(['no-such-build', '--channel', 'release'], io)).rejects.toThrow(/has published nothing/);
      await expect(promoteCommand.run(['b-cli'], io)).rejects.toMatchObject({ exitCode: 2 });
    } finally {
      delete process.env.SBORKA_PUBLISH_CONFIG;
    }
    expect(out.join('')).toContain(`promoted release: demo-x86_64 ${fs.realpathSync(root)}/release/cli/${today()}/x86_64`);
    expect(fs.existsSync(path.join(root, 'release', 'cli', today(), 'x86_64', 'build.json'))).toBe(true);
  });
});
