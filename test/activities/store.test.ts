import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StepStore, outputsKey } from '../../activities/store';
import { forgetVerified } from '../../activities/store-verify';
import { makeTmpDir, removeDir } from './helpers';

const KEY_A = 'a'.repeat(64);
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

let dir: string;
let store: StepStore;
beforeEach(() => {
  dir = makeTmpDir();
  store = new StepStore(path.join(dir, 'store'));
});
afterEach(() => removeDir(dir));

async function stage(files: Record<string, string>) {
  const staging = await store.createStaging();
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(staging.outputsDir, rel)), { recursive: true });
    fs.writeFileSync(path.join(staging.outputsDir, rel), text);
  }
  return staging;
}

describe('StepStore', () => {
  it('commits outputs with a manifest listing every file, sorted, and finds them again', async () => {
    const staging = await stage({ 'b.txt': 'bee', 'a/z.txt': 'zed', 'a/b.txt': '' });
    fs.writeFileSync(path.join(staging.workDir, 'scratch'), 'not an output');
    const entry = await store.commit(staging, { key: KEY_A, kind: 'exec', values: { n: 1 } });
    expect(entry.dir).toBe(path.join(dir, 'store', 'objects', 'aa', KEY_A));
    expect(entry.manifest.outputs).toEqual({
      files: [
        { path: 'a/b.txt', sha256: sha(''), size: 0 },
        { path: 'a/z.txt', sha256: sha('zed'), size: 3 },
        { path: 'b.txt', sha256: sha('bee'), size: 3 },
      ],
      values: { n: 1 },
    });
    expect(fs.existsSync(staging.dir)).toBe(false);
    expect(fs.existsSync(path.join(entry.dir, 'work'))).toBe(false);
    const found = await store.lookup(KEY_A);
    expect(found?.manifest).toEqual(entry.manifest);
    expect(fs.readFileSync(path.join(found!.outputsDir, 'a', 'z.txt'), 'utf8')).toBe('zed');
    await expect(store.lookup('b'.repeat(64))).resolves.toBeUndefined();
  });

  it('takes the digests a step already knows instead of reading those files, and leaves no scratch behind', async () => {
    const staging = await stage({ 'image.img': 'disk bytes', 'other.txt': 'other' });
    fs.mkdirSync(path.join(staging.workDir, 'root', 'etc'), { recursive: true });
    fs.writeFileSync(path.join(staging.workDir, 'root', 'etc', 'hostname'), 'scratch\n');
    // A digest that is not the content's shows that the known one is used as given.
    const known = 'f'.repeat(64);
    const entry = await store.commit(staging, { key: KEY_A, kind: 'build', digests: { 'image.img': known } });
    expect(entry.manifest.outputs.files).toEqual([
      { path: 'image.img', sha256: known, size: 10 },
      { path: 'other.txt', sha256: sha('other'), size: 5 },
    ]);
    expect(fs.readdirSync(store.tmpDir)).toEqual([]);
    // Taken on trust by the process that wrote it; any other process checks and refuses it.
    await expect(store.lookup(KEY_A)).resolves.toBeDefined();
    forgetVerified();
    await expect(store.lookup(KEY_A)).resolves.toBeUndefined();
    expect(fs.readdirSync(store.quarantineDir)).toEqual([expect.stringMatching(new RegExp(`^${KEY_A}-`))]);
  });

  it('seals what the manifest cannot list (links, directories) and quarantines an entry made before seals', async () => {
    const staging = await stage({ 'a/f': 'x' });
    fs.symlinkSync('f', path.join(staging.outputsDir, 'a', 'link'));
    fs.mkdirSync(path.join(staging.outputsDir, 'empty'));
    const entry = await store.commit(staging, { key: KEY_A, kind: 'exec' });
    expect(JSON.parse(fs.readFileSync(path.join(entry.dir, 'seal.json'), 'utf8'))).toMatchObject({ key: KEY_A, links: { 'a/link': 'f' }, dirs: ['a', 'empty'] });
    fs.rmSync(path.join(entry.outputsDir, 'empty'), { recursive: true });
    await expect(store.lookup(KEY_A)).resolves.toBeUndefined();

    const legacy = await store.commit(await stage({ f: 'old' }), { key: KEY_A, kind: 'exec' });
    fs.rmSync(path.join(legacy.dir, 'seal.json'));
    await expect(store.lookup(KEY_A)).resolves.toBeUndefined();
    expect(fs.readdirSync(store.quarantineDir)).toHaveLength(2);
  });

  it('never shows an entry without its manifest (a writer that died mid-way)', async () => {
    const staging = await stage({ 'x': 'x' });
    await expect(store.lookup(KEY_A)).resolves.toBeUndefined();
    // What a crash between mkdir and manifest would leave if writes went in place.
    const half = store.entryDir(KEY_A);
    fs.mkdirSync(path.join(half, 'outputs'), { recursive: true });
    await expect(store.lookup(KEY_A)).resolves.toBeUndefined();
    expect((await store.list()).map((e) => e.key)).toEqual([]);
    await store.discard(staging);
  });

  it('lets the first of two writers of one key win and discards the other', async () => {
    const first = await stage({ 'out': 'first' });
    const second = await stage({ 'out': 'second' });
    const [a, b] = await Promise.all([
      store.commit(first, { key: KEY_A, kind: 'exec' }),
      store.commit(second, { key: KEY_A, kind: 'exec' }),
    ]);
    expect(a.manifest).toEqual(b.manifest);
    const content = fs.readFileSync(path.join(store.entryDir(KEY_A), 'outputs', 'out'), 'utf8');
    expect(a.manifest.outputs.files[0]?.sha256).toBe(sha(content));
    expect(fs.readdirSync(store.tmpDir)).toEqual([]);
  });

  it('keys an entry by its outputs when no key is given', async () => {
    const one = await store.commit(await stage({ f: 'same' }), { kind: 'exec' });
    const two = await store.commit(await stage({ f: 'same' }), { kind: 'exec' });
    const other = await store.commit(await stage({ f: 'different' }), { kind: 'exec' });
    expect(one.key).toBe(two.key);
    expect(one.key).toBe(outputsKey('exec', one.manifest.outputs));
    expect(other.key).not.toBe(one.key);
  });

  it('records the last use on a hit', async () => {
    const entry = await store.commit(await stage({ f: 'x' }), { key: KEY_A, kind: 'noop' });
    const old = new Date('2020-01-01T00:00:00Z');
    fs.utimesSync(entry.dir, old, old);
    await store.lookup(KEY_A, { touch: false });
    expect(fs.statSync(entry.dir).mtimeMs).toBe(old.getTime());
    await store.lookup(KEY_A);
    expect(fs.statSync(entry.dir).mtimeMs).toBeGreaterThan(old.getTime());
  });

  it('refuses keys that are not sha256 hex (no path tricks)', async () => {
    await expect(store.lookup('../../etc')).rejects.toThrow(/64 lower-case hex/);
  });

  it('removes entries and cleans staging of dead writers only', async () => {
    await store.commit(await stage({ f: 'x' }), { key: KEY_A, kind: 'noop' });
    await expect(store.remove(KEY_A)).resolves.toBe(true);
    await expect(store.lookup(KEY_A)).resolves.toBeUndefined();
    await expect(store.remove(KEY_A)).resolves.toBe(false);

    const mine = await store.createStaging();
    const deadName = path.basename(mine.dir).replace(`~${process.pid}~`, '~999999999~');
    fs.mkdirSync(path.join(store.tmpDir, deadName));
    fs.mkdirSync(path.join(store.tmpDir, 'otherhost~1~abc'));
    const removed = await store.cleanTmp((pid) => pid === process.pid);
    expect(removed).toBe(1);
    expect(fs.readdirSync(store.tmpDir).sort()).toEqual([path.basename(mine.dir), 'otherhost~1~abc'].sort());
  });
});
