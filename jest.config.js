// swc transpiles TypeScript and the ESM-only chevrotain packages to CommonJS for jest;
// type checking is done once by `tsc --noEmit` in scripts/test.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j|mj)s$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(chevrotain|@chevrotain|lodash-es)/)'],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  // @chevrotain/* export only an "import" condition, which jest's CommonJS resolver skips.
  moduleNameMapper: { '^@chevrotain/([a-z-]+)$': '<rootDir>/node_modules/@chevrotain/$1/lib/src/api.js' },
  testTimeout: 120000,
  // Each test file in a fresh worker process (a worker over 1 MB idle is replaced, i.e. always):
  // what a file leaves in its process (the native Temporal runtime, VM helpers' handles) must
  // not slow the next one. Seen: workflows/schedules.test timed out waiting for a workflow task
  // when it ran after alt/boot-contract and alt/partner-vm in the same process.
  workerIdleMemoryLimit: '1MB',
  testSequencer: '<rootDir>/test/helpers/slow-first-sequencer.js',
};
