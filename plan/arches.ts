// Which architectures each toolchain builds, and the Debian ⇄ ALT arch names.
import type { Arch } from './schemas';

export type ToolchainName = 'alt' | 'debian';
export const TOOLCHAINS: readonly ToolchainName[] = ['alt', 'debian'];

export const ALT_ARCHES: readonly Arch[] = ['x86_64', 'i586', 'aarch64', 'armh', 'ppc64le', 'riscv64', 'loongarch64', 'e2kv4', 'e2kv5', 'e2kv6'];
export const DEBIAN_ARCHES: readonly Arch[] = ['x86_64', 'aarch64', 'riscv64'];

const DEBIAN_TO_ALT: Record<string, Arch> = { amd64: 'x86_64', arm64: 'aarch64', riscv64: 'riscv64' };
const ALT_TO_DEBIAN: Partial<Record<Arch, string>> = { x86_64: 'amd64', aarch64: 'arm64', riscv64: 'riscv64' };

/** The canonical (plan) name of an arch as written in a recipe for a toolchain, or undefined. */
export function canonicalArch(toolchain: ToolchainName, written: string): Arch | undefined {
  if (toolchain === 'alt') return (ALT_ARCHES as readonly string[]).includes(written) ? (written as Arch) : undefined;
  if (written in DEBIAN_TO_ALT) return DEBIAN_TO_ALT[written];
  return (DEBIAN_ARCHES as readonly string[]).includes(written) ? (written as Arch) : undefined;
}

/** Every spelling a recipe may use for a toolchain's arches (for hints). */
export function archSpellings(toolchain: ToolchainName): string[] {
  return toolchain === 'alt' ? [...ALT_ARCHES] : [...DEBIAN_ARCHES, ...Object.keys(DEBIAN_TO_ALT)];
}

/** Debian's name for a canonical arch (amd64 for x86_64). */
export function debianArch(arch: Arch): string | undefined {
  return ALT_TO_DEBIAN[arch];
}

/** The task queue whose workers build an arch (all e2k generations share hosts under NDA). */
export function taskQueueFor(arch: Arch): string {
  return arch.startsWith('e2k') ? 'build-e2k' : `build-${arch}`;
}

/** e2k has no qemu-user: its steps go only to e2k hosts that declare it. */
export function canBeEmulated(arch: Arch): boolean {
  return !arch.startsWith('e2k');
}

/**
 * The task queue of hosts that build an arch under qemu-user (SBORKA_ALT_EMULATE). A queue
 * of its own, so a variant reaches it only after no native worker took a step in time.
 */
export function emulatedTaskQueueFor(arch: Arch): string {
  return `${taskQueueFor(arch)}-emulated`;
}
