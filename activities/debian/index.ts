// The debian toolchain's build-root kinds: resolve, prepare-root, configure.
import type { KindRegistry } from '../kinds/registry';
import { configureKind } from './configure';
import { prepareRootKind } from './prepare-root';
import { resolveKind } from './resolve';

export { Lock, LOCK_FILE } from './lock';
export { ROOTFS } from './prepare-root';

export function registerDebianKinds(registry: KindRegistry): KindRegistry {
  for (const k of [resolveKind, prepareRootKind, configureKind]) registry.register('debian', k);
  return registry;
}
