// The alt toolchain's step kinds for a registry: registerAltKinds(defaultRegistry()).
import type { KindRegistry } from '../kinds/registry';
import { loadAltHost, type AltHost } from './host';
import { buildKind, configureKind, prepareRootKind, resolveKind, testKind } from './kinds';

export interface AltOptions {
  /** The host's setup; read from SBORKA_ALT_* when the first alt step runs if absent. */
  host?: AltHost;
}

export function registerAltKinds(registry: KindRegistry, options: AltOptions = {}): KindRegistry {
  let host = options.host;
  const source = () => (host ??= loadAltHost());
  for (const k of [resolveKind(source), prepareRootKind(source), configureKind(), buildKind(source), testKind(source)]) registry.register('alt', k);
  return registry;
}

export { AltHost, loadAltHost, archMode, checkPriv } from './host';
export { RPM_QA_FILE, LIST_RPMS_FILE } from './kinds';
export { RPM_QA_COLUMNS, RPM_QUERY_FORMAT } from './rpm-list';
