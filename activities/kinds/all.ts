// Every step kind a worker can run, one row per (kind, toolchain): adding a kind is its
// file and a row here. The worker and the tests build their registries from this table.
import type { StepKind } from '../../plan/step-params';
import { loadAltHost, type AltHost } from '../alt/host';
import { buildKind as altBuild } from '../alt/kinds/build';
import { configureKind as altConfigure } from '../alt/kinds/configure';
import { prepareRootKind as altPrepareRoot } from '../alt/kinds/prepare-root';
import { resolveKind as altResolve } from '../alt/kinds/resolve';
import { testKind as altTest } from '../alt/kinds/test';
import type { HostSource } from '../alt/kinds/shared';
import { configureKind as debianConfigure } from '../debian/configure';
import { debianBuildKind, debianTestKind } from '../debian/images';
import { prepareRootKind as debianPrepareRoot } from '../debian/prepare-root';
import { resolveKind as debianResolve } from '../debian/resolve';
import { verifyLicensesKind, type LicenseKindOptions } from '../licenses/kind';
import { publishKind, type PublishKindDeps } from '../publish/kind';
import { archiveKind, checksumKind, execKind, noopKind } from './core';
import { KindRegistry, type KindExecutor, type ToolchainName } from './registry';

export interface KindOptions {
  /**
   * The alt toolchain's own kinds need a configured ALT host (`sborka worker --toolchain
   * alt`); without this option a worker has none of them. Without `host` it is read from
   * SBORKA_ALT_* when the first alt step runs.
   */
  alt?: { host?: AltHost };
  licenses?: LicenseKindOptions;
  publish?: PublishKindDeps;
}

/** What the rows' executors are made from. */
export interface KindDeps {
  altHost?: HostSource;
  licenses: LicenseKindOptions;
  publish: PublishKindDeps;
}

export interface KindRow {
  kind: StepKind;
  /** '*': every toolchain; a toolchain's own row for the same kind takes precedence. */
  toolchain: ToolchainName | '*';
  /** Undefined where this worker lacks what the executor needs. */
  executor(deps: KindDeps): KindExecutor | undefined;
}

const always = (executor: KindExecutor) => () => executor;
const onAltHost = (make: (host: HostSource) => KindExecutor) => (deps: KindDeps) => (deps.altHost ? make(deps.altHost) : undefined);

export const KIND_TABLE: readonly KindRow[] = [
  // The engine's own (core.ts).
  { kind: 'noop', toolchain: '*', executor: always(noopKind) },
  { kind: 'exec', toolchain: '*', executor: always(execKind) },
  { kind: 'checksum', toolchain: '*', executor: always(checksumKind) },
  { kind: 'archive', toolchain: '*', executor: always(archiveKind) },
  // debian: mmdebstrap roots and our own image writers; runs wherever Debian's tools do.
  { kind: 'resolve', toolchain: 'debian', executor: always(debianResolve) },
  { kind: 'prepare-root', toolchain: 'debian', executor: always(debianPrepareRoot) },
  { kind: 'configure', toolchain: 'debian', executor: always(debianConfigure) },
  { kind: 'build', toolchain: 'debian', executor: always(debianBuildKind) },
  { kind: 'test', toolchain: 'debian', executor: always(debianTestKind) },
  // alt: hasher roots and mkimage-profiles on a configured ALT host.
  { kind: 'resolve', toolchain: 'alt', executor: onAltHost(altResolve) },
  { kind: 'prepare-root', toolchain: 'alt', executor: onAltHost(altPrepareRoot) },
  { kind: 'configure', toolchain: 'alt', executor: onAltHost(altConfigure) },
  { kind: 'build', toolchain: 'alt', executor: onAltHost(altBuild) },
  { kind: 'test', toolchain: 'alt', executor: onAltHost(altTest) },
  // License verification reads dpkg roots for debian and RPM roots for alt (on any worker).
  { kind: 'verify-licenses', toolchain: 'debian', executor: (d) => verifyLicensesKind('debian', d.licenses) },
  { kind: 'verify-licenses', toolchain: 'alt', executor: (d) => verifyLicensesKind('rpm', d.licenses) },
  { kind: 'publish', toolchain: '*', executor: (d) => publishKind(d.publish) },
];

/** The kinds a worker runs: every row of KIND_TABLE its options allow. */
export function defaultRegistry(options: KindOptions = {}): KindRegistry {
  const alt = options.alt;
  let host = alt?.host;
  // The host is read once per worker, when the first alt step runs.
  const deps: KindDeps = { altHost: alt && (() => (host ??= loadAltHost())), licenses: options.licenses ?? {}, publish: options.publish ?? {} };
  const registry = new KindRegistry();
  for (const row of KIND_TABLE) {
    const executor = row.executor(deps);
    if (!executor) continue;
    if (executor.kind !== row.kind) throw new Error(`step kind table: the ${row.toolchain}/${row.kind} row's executor runs "${executor.kind}"`);
    registry.register(row.toolchain, executor);
  }
  return registry;
}
