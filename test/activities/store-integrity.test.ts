// A cache hit is checked before use: every way an entry can go bad on disk is caught, the
// entry is moved to quarantine (kept as evidence), the step runs again and its result and
// ledger line name what happened.
import { execFileSync } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { readLedger } from '../../activities/ledger';
import { StepStore } from '../../activities/store';
import { forgetVerified } from '../../activities/store-verify';
import type { CacheProbeResult, StepInput, StepResult } from '../../plan/step-contract';
import type { Config } from '../../config/config';
import { canonicalJson } from '../../plan/cache-key';
import { capturingLogger, makeTmpDir, quietSdkLogger, removeDir, silentLogger, stepInput, testConfig } from './helpers';

let dir: string;
let config: Config;
let counter: string;
beforeEach(() => {
  dir = makeTmpDir();
  config = testConfig(dir);
  counter = path.join(dir, 'runs');
});
afterEach(() => removeDir(dir));

const runs = () => (fs.existsSync(counter) ? fs.readFileSync(counter, 'utf8').split('\n').filter(Boolean).length : 0);
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function run(input: StepInput, logger = silentLogger): Promise<StepResult> {
  const { runStep } = createActivities({ config, logger });
  return new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(runStep, input);
}

/** An exec step that counts its runs and writes out.txt and a/b.txt. */
const twoFiles = () => stepInput({
  id: 'make', kind: 'exec',
  params: { argv: ['sh', '-c', `echo run >> '${counter}'; printf hello > "$SBORKA_OUTPUT_DIR/out.txt"; mkdir "$SBORKA_OUTPUT_DIR/a"; printf bee > "$SBORKA_OUTPUT_DIR/a/b.txt"`] },
});

/** A 96 MiB image with 1 MiB of data at 1 MiB: sparse, so hashed by the sparse-aware path. */
const sparseImage = () => stepInput({
  id: 'image', kind: 'exec',
  params: { argv: ['sh', '-c', `echo run >> '${counter}'; f="$SBORKA_OUTPUT_DIR/disk.img"; truncate -s 96M "$f"; head -c 1048576 /dev/urandom | dd of="$f" bs=1M seek=1 conv=notrunc status=none`] },
});

/** Rebuilds after damaging the first run's entry; returns both results and the quarantine record. */
async function rebuiltAfter(input: StepInput, damage: (outputsDir: string, entryDir: string) => void, expectedReason: RegExp) {
  const first = await run(input);
  expect(first.cached).toBe(false);
  const entryDir = path.dirname(first.outputDir);
  damage(first.outputDir, entryDir);
  const second = await run(input);
  expect(second.cached).toBe(false);
  expect(runs()).toBe(2);
  expect(second.key).toBe(first.key);
  const named = second.outputs.values.rebuiltAfterCorruption as Array<{ key: string; reason: string; movedTo: string }>;
  expect(named).toHaveLength(1);
  expect(named[0]).toMatchObject({ key: first.key, reason: expect.stringMatching(expectedReason) });
  // Evidence kept, under quarantine/<key>-<time>, with what was found.
  const movedTo = named[0]!.movedTo;
  expect(path.dirname(movedTo)).toBe(path.join(config.storeDir, 'quarantine'));
  expect(path.basename(movedTo).startsWith(`${first.key}-`)).toBe(true);
  expect(JSON.parse(fs.readFileSync(path.join(movedTo, 'quarantine.json'), 'utf8'))).toMatchObject({ key: first.key, reason: named[0]!.reason });
  const ledger = await readLedger(config.storeDir);
  expect(ledger.map((e) => e.outcome)).toEqual(['succeeded', 'succeeded']);
  expect(ledger[1]!.quarantined).toEqual(named);
  // The rebuilt entry is sound and served from now on, without the note.
  const third = await run(input);
  expect(third.cached).toBe(true);
  expect(third.outputs.values.rebuiltAfterCorruption).toBeUndefined();
  expect(runs()).toBe(2);
  return { first, second, movedTo };
}

function flipByte(file: string, offset = 0): void {
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, offset);
  b[0] = b[0]! ^ 0xff;
  fs.writeSync(fd, b, 0, 1, offset);
  fs.closeSync(fd);
}

describe('a cache hit checks its entry', () => {
  it('catches a flipped byte, logs it and keeps the corrupted bytes in quarantine', async () => {
    const { logger, records } = capturingLogger();
    const first = await run(twoFiles(), logger);
    flipByte(path.join(first.outputDir, 'out.txt'));
    const second = await run(twoFiles(), logger);
    expect(second.cached).toBe(false);
    expect(fs.readFileSync(path.join(second.outputDir, 'out.txt'), 'utf8')).toBe('hello');
    const [q] = second.outputs.values.rebuiltAfterCorruption as Array<{ movedTo: string; reason: string }>;
    expect(q!.reason).toMatch(/outputs\/out\.txt has sha256 [0-9a-f]{64}, the manifest says/);
    expect(fs.readFileSync(path.join(q!.movedTo, 'outputs', 'out.txt'), 'utf8')).not.toBe('hello');
    expect(records.some((r) => r.msg === 'store entry failed verification: quarantined, the step will run again' && r.key === first.key)).toBe(true);
    expect(fs.readFileSync(second.logPath, 'utf8')).toContain(`store entry ${first.key} failed verification`);
  });

  it('catches a flipped byte, with the whole rebuild story', async () => {
    await rebuiltAfter(twoFiles(), (out) => flipByte(path.join(out, 'a', 'b.txt'), 1), /a\/b\.txt has sha256/);
  });

  it('catches a truncated sparse image', async () => {
    await rebuiltAfter(sparseImage(), (out) => fs.truncateSync(path.join(out, 'disk.img'), 64 * 1024 * 1024), /disk\.img is 67108864 bytes, the manifest says 100663296/);
  });

  it('catches a flipped byte inside a sparse image, hashed by the sparse-aware path on a fresh start', async () => {
    const first = await run(sparseImage());
    const image = path.join(first.outputDir, 'disk.img');
    const st = fs.statSync(image);
    expect(st.blocks * 512).toBeLessThan(st.size / 2);
    flipByte(image, 1024 * 1024 + 4096);
    forgetVerified(); // as after a worker restart: nothing is taken on trust
    const second = await run(sparseImage());
    expect(second.cached).toBe(false);
    expect(second.outputs.values.rebuiltAfterCorruption).toEqual([expect.objectContaining({ reason: expect.stringMatching(/disk\.img has sha256/) })]);
  });

  it('catches a missing file', async () => {
    await rebuiltAfter(twoFiles(), (out) => fs.rmSync(path.join(out, 'a', 'b.txt')), /outputs\/a\/b\.txt is missing/);
  });

  it('catches an extra file', async () => {
    await rebuiltAfter(twoFiles(), (out) => fs.writeFileSync(path.join(out, 'a', 'planted.sh'), 'evil'), /outputs\/a\/planted\.sh is not in the manifest/);
  });

  it('catches an extra symbolic link', async () => {
    await rebuiltAfter(twoFiles(), (out) => fs.symlinkSync('/etc/shadow', path.join(out, 'shadow')), /shadow is a symbolic link the entry was not sealed with/);
  });

  it('catches a manifest edited to match the corrupted file', async () => {
    await rebuiltAfter(twoFiles(), (out, entry) => {
      fs.writeFileSync(path.join(out, 'out.txt'), 'HELLO');
      const manifestPath = path.join(entry, 'manifest.json');
      const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as { outputs: { files: Array<{ path: string; sha256: string; size: number }> } };
      manifest.outputs.files.find((f) => f.path === 'out.txt')!.sha256 = sha('HELLO');
      fs.writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    }, /manifest\.json changed after the entry was sealed/);
  });

  it('catches a manifest made to match and its seal made again without the store\'s key', async () => {
    await rebuiltAfter(twoFiles(), (out, entry) => {
      fs.writeFileSync(path.join(out, 'out.txt'), 'HELLO');
      const manifestPath = path.join(entry, 'manifest.json');
      const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as { outputs: { files: Array<{ path: string; sha256: string }> } };
      manifest.outputs.files.find((f) => f.path === 'out.txt')!.sha256 = sha('HELLO');
      const text = `${JSON.stringify(manifest, null, 2)}\n`;
      fs.writeFileSync(manifestPath, text);
      const sealPath = path.join(entry, 'seal.json');
      const { mac: _mac, ...body } = JSON.parse(fs.readFileSync(sealPath, 'utf8')) as Record<string, unknown>;
      const forged = { ...body, manifestSha256: sha(text) };
      const mac = createHmac('sha256', randomBytes(32)).update(canonicalJson(forged)).digest('hex');
      fs.writeFileSync(sealPath, JSON.stringify({ ...forged, mac }));
    }, /not made with this store's seal key/);
  });

  it('catches a removed seal', async () => {
    await rebuiltAfter(twoFiles(), (_out, entry) => fs.rmSync(path.join(entry, 'seal.json')), /seal\.json is missing/);
  });

  it('is not fooled by a change of content with size and mtime restored (the ctime moves)', async () => {
    const first = await run(twoFiles());
    const file = path.join(first.outputDir, 'out.txt');
    const before = fs.statSync(file, { bigint: true });
    const reference = path.join(dir, 'reference');
    execFileSync('cp', ['--preserve=timestamps', file, reference]);
    fs.writeFileSync(file, 'HELLO'); // same size
    execFileSync('touch', ['-r', reference, file]); // the mtime to the nanosecond
    const after = fs.statSync(file, { bigint: true });
    expect([after.mtimeNs, after.size, after.ino]).toEqual([before.mtimeNs, before.size, before.ino]);
    const second = await run(twoFiles());
    expect(second.cached).toBe(false);
    expect(second.outputs.values.rebuiltAfterCorruption).toEqual([expect.objectContaining({ reason: expect.stringMatching(/out\.txt has sha256/) })]);
  });

  it('is not fooled by a file replaced with one of the same size and mtime (the inode moves)', async () => {
    const first = await run(twoFiles());
    const file = path.join(first.outputDir, 'out.txt');
    const before = fs.statSync(file);
    const aside = path.join(dir, 'aside');
    fs.writeFileSync(aside, 'HELLO');
    fs.utimesSync(aside, before.atime, before.mtime);
    fs.renameSync(aside, file);
    const second = await run(twoFiles());
    expect(second.cached).toBe(false);
  });

  it('leaves a bad entry to runStep when the cache probe meets it, so the rebuild is named', async () => {
    const first = await run(twoFiles());
    flipByte(path.join(first.outputDir, 'out.txt'));
    const { probeCache } = createActivities({ config, logger: silentLogger });
    const probe: CacheProbeResult = await new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(probeCache, {
      buildId: 'build-2', variantId: 'demo-x86_64', toolchain: twoFiles().toolchain, steps: [twoFiles().step],
    });
    expect(probe.hits).toEqual([]);
    expect(fs.existsSync(path.dirname(first.outputDir))).toBe(true);
    const second = await run(twoFiles());
    expect(second.outputs.values.rebuiltAfterCorruption).toHaveLength(1);
  });

  it('fails a step whose input went bad with a non-retryable error naming the quarantine', async () => {
    const first = await run(twoFiles());
    fs.rmSync(path.join(first.outputDir, 'out.txt'));
    const sums = stepInput({ id: 'sums', kind: 'checksum', params: {}, needs: ['make'] }, { inputs: { make: first.key } });
    const err = await run(sums).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'BadInput', nonRetryable: true, message: expect.stringMatching(/failed verification and was quarantined to .*quarantine.*out\.txt is missing/) });
    expect((await readLedger(config.storeDir)).at(-1)!.quarantined).toHaveLength(1);
  });
});

describe('StepStore.lookup outside runStep', () => {
  it('never returns a bad entry, and a sound entry survives a restart-style full check', async () => {
    const first = await run(twoFiles());
    const store = new StepStore(config.storeDir, { logger: silentLogger });
    forgetVerified();
    await expect(store.lookup(first.key)).resolves.toMatchObject({ key: first.key });
    fs.appendFileSync(path.join(first.outputDir, 'out.txt'), '!');
    await expect(store.lookup(first.key)).resolves.toBeUndefined();
    expect(fs.readdirSync(path.join(config.storeDir, 'quarantine'))).toHaveLength(1);
    expect(fs.existsSync(path.dirname(first.outputDir))).toBe(false);
  });
});
