// Shared test fixtures: a throw-away state directory, a config pointing into it, loggers.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import type { z } from 'zod';
import { StepInput } from '../../plan/step-contract';
import { loadConfig, type Config } from '../../config/config';

export function makeTmpDir(prefix = 'sborka-act-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export function testConfig(stateDir: string): Config {
  return loadConfig({ SBORKA_STATE_DIR: stateDir });
}

export const silentLogger = pino({ level: 'silent' });

/** For MockActivityEnvironment, whose default logger prints every failure the tests provoke. */
const quiet = () => undefined;
export const quietSdkLogger = { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet };

/** A debug-level pino logger whose records land in `records`. */
export function capturingLogger(): { logger: pino.Logger; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => records.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, records };
}

type StepIn = z.input<typeof StepInput>['step'];

/** A parsed StepInput (defaults filled in) for one step of a core-toolchain build. */
export function stepInput(step: StepIn, options: { buildId?: string; inputs?: Record<string, string> } = {}): StepInput {
  return StepInput.parse({
    buildId: options.buildId ?? 'build-1',
    variantId: 'demo-x86_64',
    toolchain: { name: 'core', version: '1' },
    step,
    inputs: options.inputs ?? {},
  });
}

/** Resolves with the first value `take` returns for an emitted event (a heartbeat, a line). */
export function waitFor<T>(subscribe: (listener: (value: unknown) => void) => void, take: (value: unknown) => T | undefined): Promise<T> {
  return new Promise((resolve) => {
    let done = false;
    subscribe((value) => {
      if (done) return;
      const got = take(value);
      if (got !== undefined) {
        done = true;
        resolve(got);
      }
    });
  });
}
