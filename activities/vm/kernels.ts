// Kernels for VM runs: the generic Debian kernel of each architecture (the cloud flavours
// are built without 9p) plus our own initramfs, cached under
// <stateDir>/vm-kernels/<arch>/<kernel package>_<version>+busybox_<version>+init-<hash>/.
// Downloads are verified against Debian's signed indexes (see debian-mirror.ts).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { fetchDeb, loadPackageIndex, run, sha256File, type MirrorOptions } from './debian-mirror';
import { buildInitramfs, INITRAMFS_RECIPE_HASH, moduleClosure, readModule, WANTED_MODULES } from './initramfs';

export const VmArch = z.enum(['x86_64', 'aarch64', 'riscv64']);
export type VmArch = z.infer<typeof VmArch>;

/** Where each architecture's kernel comes from: riscv64 exists only from trixie on. */
export const KERNEL_SOURCES: Record<VmArch, { suite: string; debArch: string; kernelMeta: string }> = {
  x86_64: { suite: 'bookworm', debArch: 'amd64', kernelMeta: 'linux-image-amd64' },
  aarch64: { suite: 'bookworm', debArch: 'arm64', kernelMeta: 'linux-image-arm64' },
  riscv64: { suite: 'trixie', debArch: 'riscv64', kernelMeta: 'linux-image-riscv64' },
};

export const VmKernel = z.object({
  arch: VmArch,
  /** The directory holding kernel, initrd.img and manifest.json. */
  dir: z.string(),
  kernelPath: z.string(),
  initrdPath: z.string(),
  /** uname -r of the kernel. */
  kernelRelease: z.string(),
  suite: z.string(),
  kernelPackage: z.string(),
  kernelVersion: z.string(),
  busyboxVersion: z.string(),
  modules: z.array(z.string()),
  kernelSha256: z.string(),
  initrdSha256: z.string(),
});
export type VmKernel = z.infer<typeof VmKernel>;

export interface PrepareKernelOptions {
  /** config.stateDir: the cache lives in <stateDir>/vm-kernels. */
  stateDir: string;
  mirror?: string;
  signal?: AbortSignal;
  /** Reuse a cached index younger than this without asking the mirror. */
  indexMaxAgeMs?: number;
}

const memo = new Map<string, Promise<VmKernel>>();

/**
 * The kernel and initramfs for `arch`: the newest in the Debian suite's index, built once
 * and cached. When the mirror cannot be reached and nothing newer is known, the newest
 * cached build is used. Concurrent callers in one process share one preparation.
 */
export function prepareVmKernel(arch: VmArch, options: PrepareKernelOptions): Promise<VmKernel> {
  const key = `${path.resolve(options.stateDir)}|${arch}`;
  let p = memo.get(key);
  if (!p) {
    p = prepareUncached(arch, options);
    memo.set(key, p);
    p.catch(() => memo.delete(key));
  }
  return p;
}

/**
 * A package of `arch`'s Debian suite (the same suite its kernel comes from), downloaded into
 * the cache and verified against the signed index; returns the .deb's path. For roots of
 * foreign architectures that only need a few binaries (busybox-static in tests).
 */
export async function fetchArchPackage(arch: VmArch, name: string, options: PrepareKernelOptions): Promise<{ deb: string; version: string }> {
  const src = KERNEL_SOURCES[arch];
  const mirror: MirrorOptions = { cacheDir: vmKernelCacheDir(options.stateDir), mirror: options.mirror, signal: options.signal, indexMaxAgeMs: options.indexMaxAgeMs };
  const pkg = (await loadPackageIndex(src.suite, src.debArch, mirror)).get(name);
  return { deb: await fetchDeb(pkg, mirror), version: pkg.version };
}

export function vmKernelCacheDir(stateDir: string): string {
  return path.join(stateDir, 'vm-kernels');
}

async function prepareUncached(arch: VmArch, options: PrepareKernelOptions): Promise<VmKernel> {
  const cacheDir = vmKernelCacheDir(options.stateDir);
  const src = KERNEL_SOURCES[arch];
  const mirror: MirrorOptions = { cacheDir, mirror: options.mirror, signal: options.signal, indexMaxAgeMs: options.indexMaxAgeMs };
  let index;
  try {
    index = await loadPackageIndex(src.suite, src.debArch, mirror);
  } catch (err) {
    const cached = await newestCached(path.join(cacheDir, arch));
    if (cached) return cached;
    throw new Error(`cannot get a ${arch} kernel: the Debian index of ${src.suite}/${src.debArch} is unavailable: ${(err as Error).message}`);
  }
  const kernelPkg = index.resolveMeta(src.kernelMeta, 'linux-image-');
  const busyboxPkg = index.get('busybox-static');
  const id = safeName(`${kernelPkg.name}_${kernelPkg.version}+busybox_${busyboxPkg.version}+init-${INITRAMFS_RECIPE_HASH.slice(0, 12)}`);
  const archDir = path.join(cacheDir, arch);
  const dir = path.join(archDir, id);
  const ready = await readManifest(dir);
  if (ready) return ready;

  const [kernelDeb, busyboxDeb] = [await fetchDeb(kernelPkg, mirror), await fetchDeb(busyboxPkg, mirror)];
  await fs.promises.mkdir(archDir, { recursive: true });
  const tmp = path.join(archDir, `.tmp-${randomBytes(6).toString('hex')}`);
  await fs.promises.mkdir(tmp);
  try {
    const kx = path.join(tmp, 'x-kernel');
    const bx = path.join(tmp, 'x-busybox');
    await run(['dpkg-deb', '-x', kernelDeb, kx]);
    await run(['dpkg-deb', '-x', busyboxDeb, bx]);
    const boot = await fs.promises.readdir(path.join(kx, 'boot'));
    const image = boot.find((f) => /^vmlinu[xz]-/.test(f));
    if (!image) throw new Error(`${kernelPkg.name} ${kernelPkg.version} ships no /boot/vmlinuz-*`);
    const release = image.replace(/^vmlinu[xz]-/, '');
    const modulesDir = [path.join(kx, 'lib/modules', release), path.join(kx, 'usr/lib/modules', release)].find((d) => fs.existsSync(d));
    if (!modulesDir) throw new Error(`${kernelPkg.name} ships no modules for ${release}`);
    const busyboxPath = [path.join(bx, 'bin/busybox'), path.join(bx, 'usr/bin/busybox')].find((f) => fs.existsSync(f));
    if (!busyboxPath) throw new Error(`busybox-static ${busyboxPkg.version} ships no busybox binary`);

    const closure = await moduleClosure(modulesDir, WANTED_MODULES);
    const modules = [];
    for (const m of closure) modules.push({ name: m.name, data: await readModule(path.join(modulesDir, m.file)) });
    const initrd = buildInitramfs({ busybox: await fs.promises.readFile(busyboxPath), modules });

    const out = path.join(tmp, 'out');
    await fs.promises.mkdir(out);
    await fs.promises.copyFile(path.join(kx, 'boot', image), path.join(out, 'kernel'));
    await fs.promises.writeFile(path.join(out, 'initrd.img'), initrd);
    const manifest = {
      arch,
      kernelRelease: release,
      suite: src.suite,
      kernelPackage: kernelPkg.name,
      kernelVersion: kernelPkg.version,
      busyboxVersion: busyboxPkg.version,
      modules: closure.map((m) => m.name),
      kernelSha256: await sha256File(path.join(out, 'kernel')),
      initrdSha256: await sha256File(path.join(out, 'initrd.img')),
    };
    await fs.promises.writeFile(path.join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    try {
      await fs.promises.rename(out, dir);
    } catch (err) {
      // Another process finished the same build first: theirs is as good as ours.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw err;
    }
  } finally {
    await fs.promises.rm(tmp, { recursive: true, force: true });
  }
  const built = await readManifest(dir);
  if (!built) throw new Error(`the ${arch} kernel cache entry ${dir} is incomplete`);
  return built;
}

async function readManifest(dir: string): Promise<VmKernel | undefined> {
  let raw: string;
  try {
    raw = await fs.promises.readFile(path.join(dir, 'manifest.json'), 'utf8');
  } catch {
    return undefined;
  }
  const parsed = VmKernel.safeParse({
    ...(JSON.parse(raw) as object),
    dir,
    kernelPath: path.join(dir, 'kernel'),
    initrdPath: path.join(dir, 'initrd.img'),
  });
  return parsed.success ? parsed.data : undefined;
}

async function newestCached(archDir: string): Promise<VmKernel | undefined> {
  const names = await fs.promises.readdir(archDir).catch(() => [] as string[]);
  let best: { k: VmKernel; mtime: number } | undefined;
  // Only builds of this initramfs recipe: an older init may not speak today's protocol.
  for (const n of names.filter((x) => !x.startsWith('.') && x.endsWith(`+init-${INITRAMFS_RECIPE_HASH.slice(0, 12)}`))) {
    const k = await readManifest(path.join(archDir, n));
    if (!k) continue;
    const mtime = (await fs.promises.stat(path.join(archDir, n, 'manifest.json'))).mtimeMs;
    if (!best || mtime > best.mtime) best = { k, mtime };
  }
  return best?.k;
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._+-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
