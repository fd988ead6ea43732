// Micro-benchmark of the runStep activity alone (no Temporal server): what a step costs on
// a store miss and on a hit, for noop and for one spawned `true`. Prints JSON.
// Run: npx tsc -p . && node build/bench/activities-runstep.js
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../activities';
import { StepInput } from '../plan/step-contract';
import { loadConfig } from '../config/config';

const N = Number(process.env.BENCH_N ?? 200);
const quiet = () => undefined;

async function main(): Promise<void> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-bench-'));
  try {
    const { runStep } = createActivities({ config: loadConfig({ SBORKA_STATE_DIR: stateDir }), logger: pino({ level: 'silent' }) });
    const env = new MockActivityEnvironment({}, { logger: { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet } });
    const input = (i: number, kind: 'noop' | 'exec') =>
      StepInput.parse({
        buildId: 'bench', variantId: 'v', toolchain: { name: 'core', version: '1' }, inputs: {},
        step: kind === 'noop'
          ? { id: `noop-${i}`, kind, params: {}, cacheable: false }
          : { id: `exec-${i}`, kind, params: { argv: ['true', String(i)] } },
      });
    const timeEach = async (kind: 'noop' | 'exec', count: number) => {
      const ms: number[] = [];
      for (let i = 0; i < count; i++) {
        const t = process.hrtime.bigint();
        await env.run(runStep, input(i, kind));
        ms.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
      return median(ms);
    };
    const result = {
      steps: N,
      noopMedianMs: await timeEach('noop', N),
      execMissMedianMs: await timeEach('exec', N),
      execHitMedianMs: await timeEach('exec', N),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Number((s[Math.floor(s.length / 2)] ?? 0).toFixed(3));
}

void main();
