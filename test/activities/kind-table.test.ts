// The step kind table (activities/kinds/all.ts): every kind a plan may hold has an executor
// for every toolchain that builds products, each row's executor runs the row's kind, and the
// alt toolchain's own kinds exist only on a worker with an ALT host.
import { defaultRegistry, KIND_TABLE } from '../../activities';
import { STEP_KINDS } from '../../plan/step-params';

const CORE = ['noop', 'exec', 'checksum', 'archive'];
const PRODUCT = ['resolve', 'prepare-root', 'configure', 'build', 'test'];

describe('step kind table', () => {
  it('has one row per kind and toolchain', () => {
    const keys = KIND_TABLE.map((r) => `${r.toolchain}/${r.kind}`);
    expect(keys.length).toBe(new Set(keys).size);
  });

  it("gives each row an executor for the row's kind", () => {
    const deps = { altHost: () => { throw new Error('not read while registering'); }, licenses: {}, publish: {} };
    for (const row of KIND_TABLE) expect(`${row.toolchain}/${row.executor(deps)?.kind}`).toBe(`${row.toolchain}/${row.kind}`);
  });

  it('runs every kind of the plan on debian and, with an ALT host, on alt', () => {
    const registry = defaultRegistry({ alt: {} });
    for (const toolchain of ['debian', 'alt'] as const) {
      expect(STEP_KINDS.filter((k) => !registry.resolve(toolchain, k)).map((k) => `${toolchain}/${k}`)).toEqual([]);
    }
    // The toolchains' own executors, not a shared one.
    for (const k of PRODUCT) expect(registry.resolve('alt', k)).not.toBe(registry.resolve('debian', k));
  });

  it('leaves the alt product kinds out without an ALT host, but not its license check', () => {
    const registry = defaultRegistry();
    expect(PRODUCT.filter((k) => registry.resolve('alt', k))).toEqual([]);
    expect(registry.resolve('alt', 'verify-licenses')).toBeDefined();
    expect(STEP_KINDS.filter((k) => registry.resolve('core', k))).toEqual([...CORE, 'publish']);
  });
});
