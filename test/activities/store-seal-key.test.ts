// The seal key shared by several hosts (SBORKA_STORE_SEAL_KEY_FILE): read on each use,
// refused when any local user could read or write it, and what one host seals another
// host with the same file accepts (while two hosts with their own keys do not).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeSeal, sealKey, sealProblem } from '../../activities/store-seal';
import type { TreeListing } from '../../activities/store-files';

const KEY = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);
const ENTRY = 'c'.repeat(64);
const listing: TreeListing = { files: [], links: {}, dirs: [], others: [] };
let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-seal-key-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function keyFile(text: string, mode: number, name = 'seal.key'): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  fs.chmodSync(f, mode);
  return f;
}
const env = (file: string) => ({ SBORKA_STORE_SEAL_KEY_FILE: file });

describe('a seal key shared by several hosts', () => {
  it('two hosts with the same key file accept each other\'s seals; hosts with their own keys do not', async () => {
    const shared = env(keyFile(`${KEY}\n`, 0o600));
    const a = await sealKey(path.join(dir, 'host-a', 'store'), shared);
    const b = await sealKey(path.join(dir, 'host-b', 'store'), shared);
    expect(a.toString('hex')).toBe(KEY);
    const seal = JSON.stringify(makeSeal(a, ENTRY, '{"m":1}', listing));
    expect(sealProblem(b, ENTRY, '{"m":1}', seal)).toBeUndefined();
    // Without the variable each host makes its own key beside its store.
    const ownA = await sealKey(path.join(dir, 'host-a', 'store'), {});
    const ownB = await sealKey(path.join(dir, 'host-b', 'store'), {});
    expect(ownA.equals(ownB)).toBe(false);
    expect(sealProblem(ownB, ENTRY, '{"m":1}', JSON.stringify(makeSeal(ownA, ENTRY, '{"m":1}', listing)))).toMatch(/not made with this store's seal key/);
    expect(fs.existsSync(path.join(dir, 'host-a', 'store.seal-key'))).toBe(true);
  });

  it('is read when used: a rotated key is taken up, and the file is never created', async () => {
    const f = keyFile(KEY, 0o640);
    expect((await sealKey(path.join(dir, 'store'), env(f))).toString('hex')).toBe(KEY);
    fs.writeFileSync(f, OTHER);
    expect((await sealKey(path.join(dir, 'store'), env(f))).toString('hex')).toBe(OTHER);
    await expect(sealKey(path.join(dir, 'store'), env(path.join(dir, 'missing.key')))).rejects.toThrow(/cannot be opened \(ENOENT\)/);
    expect(fs.existsSync(path.join(dir, 'missing.key'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'store.seal-key'))).toBe(false);
  });

  it('refuses a key any local user may read or write', async () => {
    await expect(sealKey(dir, env(keyFile(KEY, 0o644)))).rejects.toThrow(/mode 644 lets every local user read the seal key: chmod o-rw/);
    await expect(sealKey(dir, env(keyFile(KEY, 0o602, 'w.key')))).rejects.toThrow(/mode 602 lets every local user write the seal key/);
    // A symlink is judged by the file it leads to (secret mounts are links).
    const target = keyFile(KEY, 0o604, 'target.key');
    fs.symlinkSync(target, path.join(dir, 'link.key'));
    await expect(sealKey(dir, env(path.join(dir, 'link.key')))).rejects.toThrow(/mode 604/);
    fs.chmodSync(target, 0o600);
    expect((await sealKey(dir, env(path.join(dir, 'link.key')))).toString('hex')).toBe(KEY);
  });

  it('refuses a relative path, a directory, a huge file and text that is no key', async () => {
    await expect(sealKey(dir, env('seal.key'))).rejects.toThrow(/must be an absolute path/);
    fs.mkdirSync(path.join(dir, 'd'), { mode: 0o700 });
    await expect(sealKey(dir, env(path.join(dir, 'd')))).rejects.toThrow(/not a regular file/);
    await expect(sealKey(dir, env(keyFile('a'.repeat(1 << 20), 0o600, 'big.key')))).rejects.toThrow(/1048576 bytes, not a seal key/);
    await expect(sealKey(dir, env(keyFile('not a key', 0o600, 'bad.key')))).rejects.toThrow(/must be 64 hex digits/);
  });
});
