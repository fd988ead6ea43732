// resolve of a product with nothing of its own (products/debian/small: the minbase root), by
// real apt against Debian's indexes: one simulation and no separate apt-cache run, and a lock
// whose packages are all base and are exactly the base layer a product with a package gets.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import { Lock, LOCK_FILE } from '../../activities/debian/lock';
import { StepInput, type StepResult } from '../../plan/step-contract';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, testConfig } from '../activities/helpers';

jest.setTimeout(10 * 60_000);

let stateDir: string;
let run: (packages: string[]) => Promise<StepResult>;

beforeAll(() => {
  stateDir = makeTmpDir('sborka-resolve-base-');
  const { runStep } = createActivities({ config: testConfig(stateDir), logger: silentLogger, registry: defaultRegistry() });
  let n = 0;
  run = (packages) => new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(runStep, StepInput.parse({
    buildId: `build-${++n}`, variantId: 'resolve-base-test', toolchain: { name: 'debian', version: '1' },
    step: { id: 'resolve', kind: 'resolve', cacheable: false, params: { toolchain: 'debian', branch: 'bookworm', arch: 'x86_64', packages } },
    inputs: {},
  }));
});

afterAll(() => removeDir(stateDir));

const lockOf = (r: StepResult) => Lock.parse(JSON.parse(fs.readFileSync(path.join(r.outputDir, LOCK_FILE), 'utf8')));
const attempts = (r: StepResult) => fs.readFileSync(r.logPath, 'utf8').split('\n').filter((l) => l.startsWith('--- sborka: attempt '));

test('no packages: one simulation gives the base set, the same base layer as a product with one package', async () => {
  const bare = await run([]);
  const withLess = await run(['less']);
  const bareRuns = attempts(bare);
  expect(bareRuns.filter((l) => l.includes('"--simulate"'))).toHaveLength(1);
  expect(bareRuns.filter((l) => l.includes('"gencaches"'))).toHaveLength(0);
  // The other path still runs both (and apt's cache once before them).
  expect(attempts(withLess).filter((l) => l.includes('"--simulate"'))).toHaveLength(2);
  expect(attempts(withLess).filter((l) => l.includes('"gencaches"'))).toHaveLength(1);

  const bareLock = lockOf(bare);
  expect(bareLock.packages.length).toBeGreaterThan(50);
  expect(bareLock.packages.every((p) => p.layer === 'base')).toBe(true);
  expect(bareLock.packages.map((p) => p.name)).toEqual(expect.arrayContaining(['apt', 'dpkg', 'libc6', 'base-files']));
  expect(bare.outputs.values).toMatchObject({ packages: bareLock.packages.length, basePackages: bareLock.packages.length });
  const lessLock = lockOf(withLess);
  expect(bareLock.packages).toEqual(lessLock.packages.filter((p) => p.layer === 'base'));
  expect(bareLock.sourceDateEpoch).toBe(lessLock.sourceDateEpoch);
});
