// `emulate after`: parsed, inherited like a scalar (`on` blocks and variants included),
// refused where no alt host could emulate (the debian toolchain, e2k), planned as the
// variant's emulated queue, printed back by fmt.
import { emulatedTaskQueueFor } from '../../plan/arches';
import { formatRecipe } from '../../dsl/format';
import { durationLiteral } from '../../plan/literals';
import { parsePlan, PlanError } from '../../plan/plan';
import { planJson, planProduct, planText } from '../../dsl/planner';
import { compileText } from './helpers';

const RECIPE = `product base {
  branch p11
  arch x86_64, aarch64, riscv64
  profile distro/regular-server-systemd
  output iso

  on riscv64 {
    emulate after 30m
  }
}

product patient extends base {
  emulate after 2h
}

variant hasty of patient {
  on aarch64 {
    emulate after 10s
  }
}
`;

const compiled = () => compileText({ 'x.sborka': RECIPE });
const emulationOf = (product: string) => Object.fromEntries(planProduct(compiled(), product).variants.map((v) => [v.arch, v.emulation]));

describe('emulate after', () => {
  it('plans the emulated queue and the wait for the arches it applies to, later layers overriding earlier ones', () => {
    expect(compiled().diagnostics).toEqual([]);
    expect(emulationOf('base')).toEqual({ x86_64: undefined, aarch64: undefined, riscv64: { taskQueue: 'build-riscv64-emulated', afterMs: 1_800_000 } });
    // The derived product's own value for every arch; its base's `on riscv64` comes later and wins there.
    expect(emulationOf('patient')).toEqual({
      x86_64: { taskQueue: 'build-x86_64-emulated', afterMs: 7_200_000 },
      aarch64: { taskQueue: 'build-aarch64-emulated', afterMs: 7_200_000 },
      riscv64: { taskQueue: 'build-riscv64-emulated', afterMs: 1_800_000 },
    });
    expect(emulationOf('hasty')).toMatchObject({ aarch64: { afterMs: 10_000 }, x86_64: { afterMs: 7_200_000 } });
  });

  it('is in the plan the engine accepts, and `sborka plan` says where steps may go', () => {
    const plan = planProduct(compiled(), 'base');
    expect(parsePlan(JSON.parse(planJson(plan)))).toEqual(plan);
    const text = planText(plan);
    expect(text).toContain('base.x86_64  [build-x86_64]\n');
    expect(text).toContain('base.riscv64  [build-riscv64, then build-riscv64-emulated after 30m]\n');
  });

  it('changes no cache key: an emulated step builds the same thing', () => {
    const keys = (recipe: string) => planText(planProduct(compileText({ 'x.sborka': recipe }), 'base')).replace(/\[.*\]/g, '');
    expect(keys(RECIPE)).toBe(keys(RECIPE.replace('emulate after 30m', '')));
  });

  it('is printed back by fmt, comments kept', () => {
    const messy = RECIPE.replace('emulate after 2h', 'emulate    after 2h   # no hurry');
    const text = formatRecipe('x.sborka', messy).text;
    expect(text).toBe(RECIPE.replace('emulate after 2h', 'emulate after 2h  # no hurry'));
    expect(formatRecipe('x.sborka', RECIPE).text).toBe(RECIPE);
  });

  const product = (lines: string, head = 'branch p11\n  arch x86_64, riscv64\n  profile ve/base\n  output tar') =>
    compileText({ 'x.sborka': `product p {\n  ${head}\n  ${lines}\n}\n` });
  const codes = (lines: string, head?: string) => product(lines, head).diagnostics.map((d) => `${d.code} ${d.line}:${d.col}`);

  it('refuses the debian toolchain, saying it emulates in a VM on any host', () => {
    const r = product('on riscv64 {\n    emulate after 30m\n  }', 'toolchain debian\n  branch trixie\n  arch amd64, riscv64\n  output tar');
    expect(r.diagnostics).toEqual([
      expect.objectContaining({
        code: 'emulate-needs-alt',
        line: 7,
        col: 5,
        message: expect.stringContaining('which runs foreign architectures in a qemu VM on any host'),
        hint: expect.any(String),
      }),
    ]);
  });

  it('refuses e2k arches, even when set for the whole product', () => {
    const r = product('emulate after 1h', 'branch p11\n  arch x86_64, e2kv6\n  profile ve/base\n  output tar');
    expect(r.diagnostics).toEqual([expect.objectContaining({ code: 'cannot-emulate-e2k', line: 6, col: 3, message: '`e2kv6` cannot be emulated: e2k steps build only on e2k hosts that declare it' })]);
    // Only where it reaches e2k: an `on` block of another arch is fine.
    expect(codes('on x86_64 {\n    emulate after 1h\n  }', 'branch p11\n  arch x86_64, e2kv6\n  profile ve/base\n  output tar')).toEqual([]);
  });

  it('takes a duration between 1s and 24h, once per block', () => {
    expect(codes('emulate after 48h')).toEqual(['duration-out-of-range 6:17']);
    expect(codes('emulate after 500ms')).toEqual(['duration-out-of-range 6:17']);
    expect(codes('emulate after 30m\n  emulate after 1h')).toEqual(['duplicate-property 7:3']);
    expect(codes('emulate 30m')[0]).toMatch(/^syntax 6:11$/);
    expect(codes('emulate after soon')[0]).toMatch(/^syntax 6:17$/);
  });

  it('names the emulated queue after the arch queue', () => {
    expect(emulatedTaskQueueFor('riscv64')).toBe('build-riscv64-emulated');
    expect(durationLiteral(1_800_000)).toBe('30m');
    expect(durationLiteral(90_000)).toBe('90s');
    expect(durationLiteral(1500)).toBe('1500ms');
  });
});

describe('a plan variant with emulation', () => {
  const plan = (variant: Record<string, unknown>) => ({
    version: 1,
    product: 'p',
    toolchain: { name: 'core', version: '1' },
    variants: [{ id: 'p.v', product: 'p', steps: [{ id: 's', kind: 'exec', params: { argv: ['true'] } }], ...variant }],
  });

  it('is refused for e2k and for its own queue', () => {
    expect(() => parsePlan(plan({ arch: 'e2kv4', taskQueue: 'build-e2k', emulation: { taskQueue: 'build-e2k-emulated', afterMs: 1000 } }))).toThrow(
      new PlanError(['variants[0].emulation: e2kv4 cannot be emulated; its steps go only to hosts that build it natively']),
    );
    expect(() => parsePlan(plan({ arch: 'riscv64', taskQueue: 'build-riscv64', emulation: { taskQueue: 'build-riscv64', afterMs: 1000 } }))).toThrow(
      /variants\[0\]\.emulation\.taskQueue: must differ from the variant's own queue "build-riscv64"/,
    );
    expect(() => parsePlan(plan({ arch: 'riscv64', taskQueue: 'build-riscv64', emulation: { taskQueue: 'build-riscv64-emulated', afterMs: 0 } }))).toThrow(/variants\[0\]\.emulation\.afterMs/);
  });
});
