// Longest test files first, so that on 2 workers the long ones (foreign-arch pipelines, real
// roots, images and boots) start at once and the many short files fill in beside them, and
// no long file starts near the end (jest hands each free worker the next file in this order:
// longest-first list scheduling). A fresh clone has no jest timing cache and jest would order
// by file size, so the heavy files carry their seconds here (measured in full CI runs on this
// 2-core machine, two workers side by side; roots and boot less the rebuild and the two boots
// #18.4 took out, from their per-test times). Only the order matters. The other files follow
// by jest's own timing cache, then jest's order (failed first, then file size).
const Sequencer = require('@jest/test-sequencer').default;

const MEASURED_SECONDS = {
  'test/debian/secure-boot.test.ts': 560,
  'test/e2e/multi-host.test.ts': 500,
  'test/debian/roots.test.ts': 420,
  'test/debian/foreign-riscv64.test.ts': 460,
  'test/debian/foreign-aarch64.test.ts': 450,
  'test/e2e/debian-minimal.test.ts': 400,
  'test/debian/iso.test.ts': 198,
  'test/debian/images.test.ts': 160,
  'test/debian/boot.test.ts': 75,
  'test/vm/run-in-vm.test.ts': 99,
  'test/alt/workflow.test.ts': 99,
  'test/alt/boot-contract.test.ts': 65,
  'test/vm/cli.test.ts': 64,
  'test/alt/contract.test.ts': 40,
};

function measured(path) {
  const key = Object.keys(MEASURED_SECONDS).find((p) => path.endsWith(p));
  return key === undefined ? undefined : MEASURED_SECONDS[key];
}

class SlowFirstSequencer extends Sequencer {
  sort(tests) {
    const byJest = super.sort(tests);
    const order = new Map(byJest.map((t, i) => [t, i]));
    // Seconds a file is expected to take: measured, else jest's cached duration, else unknown.
    const seconds = (t) => measured(t.path) ?? (t.duration == null ? undefined : t.duration / 1000);
    return [...byJest].sort((a, b) => {
      const sa = seconds(a);
      const sb = seconds(b);
      if (sa !== undefined && sb !== undefined && sa !== sb) return sb - sa;
      if ((sa === undefined) !== (sb === undefined)) return sa === undefined ? 1 : -1;
      return order.get(a) - order.get(b);
    });
  }
}

module.exports = SlowFirstSequencer;
