// Fetching a later layer's debs while an earlier layer builds. The base layer spends most of
// its time installing (CPU and disk); the product layer would then wait on the network for
// its own downloads. apt fetches them now, checked against the signed indexes of resolve's
// lists, into the shared .deb cache, where the product layer's mmdebstrap finds them. A
// prefetch that fails costs only its time: that run downloads whatever is still missing.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { KindContext } from '../kinds/registry';
import { appendLogLines } from '../step-log';
import { makeAptRoot } from './apt';
import { debFileName, pinned, type Lock, type LockedPackage } from './lock';
import { keepDebs } from './mmdebstrap';
import { runTool } from './run-tool';

/** Downloads the packages the cache lacks into it; returns how many it added. */
export async function prefetchDebs(ctx: KindContext, lock: Lock, packages: readonly LockedPackage[], lists: string, cacheDir: string): Promise<number> {
  const missing: LockedPackage[] = [];
  for (const p of packages) {
    if (!(await fs.access(path.join(cacheDir, debFileName(p))).then(() => true, () => false))) missing.push(p);
  }
  if (missing.length === 0) return 0;
  const dir = await fs.mkdtemp(path.join(ctx.workDir, 'prefetch-'));
  const apt = await makeAptRoot(path.join(dir, 'apt'), lock.debArch, lock.sources);
  // Copies: linking would change the ctime of files mmdebstrap's tar may be reading right now.
  for (const name of await fs.readdir(lists)) await fs.copyFile(path.join(lists, name), path.join(apt.listsDir, name));
  const debs = path.join(dir, 'debs');
  await fs.mkdir(debs);
  const run = await runTool(ctx, ['apt-get', 'download', '--quiet', ...missing.map(pinned)], { env: { APT_CONFIG: apt.config }, cwd: debs, phase: 'fetching the packages' });
  const added = await keepDebs(debs, cacheDir);
  await appendLogLines(ctx.logPath, [`--- sborka: fetched ${added} of the ${missing.length} debs the next layer lacks while this one was built${run.ok ? '' : ' (apt-get download failed: that layer fetches the rest)'}`]);
  await fs.rm(dir, { recursive: true, force: true });
  return added;
}
