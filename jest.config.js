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
  testSequencer: '<rootDir>/test/helpers/slow-first-sequencer.js',
};
