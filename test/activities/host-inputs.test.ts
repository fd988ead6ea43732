// An archive of a host directory keys on the files' content: editing a source file makes
// the step run again instead of returning the old archive from the store.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../activities';
import type { StepInput, StepResult } from '../../plan/step-contract';
import type { Config } from '../../config/config';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, stepInput, testConfig } from './helpers';

let dir: string;
let src: string;
let config: Config;
beforeEach(() => {
  dir = makeTmpDir();
  src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, 'docs'), { recursive: true });
  fs.writeFileSync(path.join(src, 'docs', 'a.txt'), 'first\n');
  config = testConfig(dir);
});
afterEach(() => removeDir(dir));

const run = (input: StepInput): Promise<StepResult> =>
  new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(createActivities({ config, logger: silentLogger }).runStep, input);

const archiveStep = () =>
  stepInput({ id: 'docs', kind: 'archive', params: { sourceDir: src, include: ['docs'], name: 'docs.tar.gz' } });

test('an unchanged source directory is a cache hit; an edited file is a miss with a new key', async () => {
  const first = await run(archiveStep());
  expect((await run(archiveStep())).cached).toBe(true);

  fs.writeFileSync(path.join(src, 'docs', 'a.txt'), 'edited\n');
  const edited = await run(archiveStep());
  expect(edited.cached).toBe(false);
  expect(edited.key).not.toBe(first.key);
  expect(edited.outputs.files[0]!.sha256).not.toBe(first.outputs.files[0]!.sha256);

  fs.chmodSync(path.join(src, 'docs', 'a.txt'), 0o755);
  expect((await run(archiveStep())).key).not.toBe(edited.key);
});

test('a missing source directory fails as bad input, with a log line', async () => {
  fs.rmSync(src, { recursive: true });
  const error = await run(archiveStep()).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ApplicationFailure);
  expect((error as ApplicationFailure).type).toBe('BadInput');
  expect((error as ApplicationFailure).nonRetryable).toBe(true);
  expect((error as Error).message).toMatch(/cannot read its host inputs/);
});
