// Runs the longest test files first, so that on 2 workers the foreign-arch pipelines and the
// real image builds overlap with the many short files instead of starting last (jest without
// a timing cache, as on a fresh CI machine, orders by file size, and these files are small).
// The order is by measured duration on a 2-core machine; files not listed follow, as jest would.
const Sequencer = require('@jest/test-sequencer').default;

const SLOW_FIRST = [
  'test/debian/foreign-riscv64.test.ts',
  'test/debian/foreign-aarch64.test.ts',
  'test/debian/roots.test.ts',
  'test/e2e/debian-minimal.test.ts',
  'test/debian/images.test.ts',
  'test/alt/boot-contract.test.ts',
  'test/debian/boot.test.ts',
  'test/vm/run-in-vm.test.ts',
];

class SlowFirstSequencer extends Sequencer {
  sort(tests) {
    const rank = (t) => {
      const i = SLOW_FIRST.findIndex((p) => t.path.endsWith(p));
      return i === -1 ? SLOW_FIRST.length : i;
    };
    const byJest = super.sort(tests);
    return [...byJest].sort((a, b) => rank(a) - rank(b));
  }
}

module.exports = SlowFirstSequencer;
