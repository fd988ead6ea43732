import * as fs from 'node:fs';
import * as path from 'node:path';
import { StepStore } from '../../activities/store';
import { gcStore } from '../../activities/store-gc';
import { makeTmpDir, removeDir } from './helpers';

const HOUR = 3_600_000;
const NOW = Date.parse('2025-06-01T12:00:00Z');
const key = (c: string) => c.repeat(64);

let dir: string;
let store: StepStore;
beforeEach(() => {
  dir = makeTmpDir();
  store = new StepStore(path.join(dir, 'store'));
});
afterEach(() => removeDir(dir));

/** An entry of `size` bytes last used `ageMs` before NOW. */
async function entry(k: string, size: number, ageMs: number): Promise<void> {
  const staging = await store.createStaging();
  fs.writeFileSync(path.join(staging.outputsDir, 'blob'), Buffer.alloc(size));
  const e = await store.commit(staging, { key: k, kind: 'exec' });
  const t = new Date(NOW - ageMs);
  fs.utimesSync(e.dir, t, t);
}

const keys = async () => (await store.list()).map((e) => e.key).sort();

describe('gcStore', () => {
  beforeEach(async () => {
    await entry(key('a'), 1000, 48 * HOUR);
    await entry(key('b'), 1000, 24 * HOUR);
    await entry(key('c'), 1000, 2 * HOUR);
    await entry(key('d'), 1000, 60_000); // just used
  });

  it('removes entries older than the age limit, except protected ones', async () => {
    const result = await gcStore(store, { maxAgeMs: 12 * HOUR, protectedKeys: new Set([key('a')]), now: NOW });
    expect(result.removed.map((r) => r.key)).toEqual([key('b')]);
    expect(await keys()).toEqual([key('a'), key('c'), key('d')]);
    expect(result.freedBytes).toBe(result.removed[0]!.bytes);
    expect(result.freedBytes).toBeGreaterThan(1000);
    expect(result.keptEntries).toBe(3);
  });

  it('shrinks to the size limit oldest-used first and never touches recently used entries', async () => {
    const result = await gcStore(store, { maxTotalBytes: 0, now: NOW });
    expect(result.removed.map((r) => r.key)).toEqual([key('a'), key('b'), key('c')]);
    expect(await keys()).toEqual([key('d')]);
  });

  it('stops removing once the store fits', async () => {
    const sizes = await store.list();
    const total = sizes.reduce((s, e) => s + e.bytes, 0);
    const result = await gcStore(store, { maxTotalBytes: total - 1, now: NOW });
    expect(result.removed.map((r) => r.key)).toEqual([key('a')]);
    expect(result.keptBytes).toBe(total - result.freedBytes);
  });

  it('skips protected keys when shrinking', async () => {
    const result = await gcStore(store, { maxTotalBytes: 0, protectedKeys: new Set([key('a'), key('c')]), now: NOW });
    expect(result.removed.map((r) => r.key)).toEqual([key('b')]);
  });

  it('changes nothing in a dry run', async () => {
    const result = await gcStore(store, { maxAgeMs: HOUR, dryRun: true, now: NOW });
    expect(result.removed.map((r) => r.key)).toEqual([key('a'), key('b'), key('c')]);
    expect(await keys()).toHaveLength(4);
  });
});
