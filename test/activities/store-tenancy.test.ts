// A partner's entries live in its own namespace of the store and no other build sees them,
// even when another partner's step has exactly the same key; public steps stay shared.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { gcStore } from '../../activities/store-gc';
import { StepStore } from '../../activities/store';
import type { Owner } from '../../plan/plan';
import { StepInput, type CacheProbeResult, type StepResult } from '../../plan/step-contract';
import type { Config } from '../../config/config';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, stepInput, testConfig } from './helpers';

let dir: string;
let config: Config;
let counter: string;
beforeEach(() => {
  dir = makeTmpDir();
  config = testConfig(dir);
  counter = path.join(dir, 'runs');
});
afterEach(() => removeDir(dir));

const acme: Owner = { kind: 'partner', name: 'acme' };
const globex: Owner = { kind: 'partner', name: 'globex' };
const runs = () => (fs.existsSync(counter) ? fs.readFileSync(counter, 'utf8').split('\n').filter(Boolean).length : 0);
const env = () => new MockActivityEnvironment({}, { logger: quietSdkLogger });

function run(input: StepInput, owner?: Owner): Promise<StepResult> {
  const { runStep } = createActivities({ config, logger: silentLogger });
  return env().run(runStep, StepInput.parse({ ...input, ...(owner ? { owner } : {}) }));
}

const partnerStep = (inputs: Record<string, string> = {}) => stepInput({
  id: 'overlay', kind: 'exec',
  params: { argv: ['sh', '-c', `echo run >> '${counter}'; printf 'partner secret' > "$SBORKA_OUTPUT_DIR/secret.txt"`] },
}, { inputs });

describe('store tenancy', () => {
  it('never gives partner B a hit on partner A\'s entry, although their keys are equal', async () => {
    const a = await run(partnerStep(), acme);
    const b = await run(partnerStep(), globex);
    expect(b.key).toBe(a.key);
    expect(b.cached).toBe(false);
    expect(runs()).toBe(2);
    expect(a.outputDir).toBe(path.join(config.storeDir, 'tenants', 'acme', 'objects', a.key.slice(0, 2), a.key, 'outputs'));
    expect(b.outputDir).toBe(path.join(config.storeDir, 'tenants', 'globex', 'objects', a.key.slice(0, 2), a.key, 'outputs'));
    expect(await new StepStore(config.storeDir).list()).toEqual([]);

    // A community build does not see them either; the partner itself does.
    const community = await run(partnerStep());
    expect(community.cached).toBe(false);
    expect(runs()).toBe(3);
    await expect(run(partnerStep(), acme)).resolves.toMatchObject({ cached: true, outputDir: a.outputDir });
    expect(runs()).toBe(3);

    // Public steps stay shared: a partner's noop is every tenant's hit.
    const publicStep = stepInput({ id: 'nothing', kind: 'noop', params: {} });
    const p = await run(publicStep, acme);
    expect(p.outputDir.startsWith(path.join(config.storeDir, 'objects'))).toBe(true);
    await expect(run(publicStep, globex)).resolves.toMatchObject({ cached: true, key: p.key });
  });

  it('puts a public kind in the partner\'s namespace when an input is the partner\'s', async () => {
    const made = await run(partnerStep(), acme);
    const sums = stepInput({ id: 'sums', kind: 'checksum', params: {}, needs: ['overlay'] }, { inputs: { overlay: made.key } });
    const a = await run(sums, acme);
    expect(a.outputDir.startsWith(path.join(config.storeDir, 'tenants', 'acme'))).toBe(true);
    // Another partner naming acme's key as its input finds nothing.
    const err = await run(sums, globex).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'BadInput', message: expect.stringContaining('is not in the store') });
  });

  it('gives no probe hit across tenants', async () => {
    await run(partnerStep(), acme);
    const { probeCache } = createActivities({ config, logger: silentLogger });
    const probe = (owner: Owner): Promise<CacheProbeResult> =>
      env().run(probeCache, { buildId: 'b2', variantId: 'demo-x86_64', toolchain: partnerStep().toolchain, steps: [partnerStep().step], owner });
    expect((await probe(globex)).hits).toEqual([]);
    expect((await probe(acme)).hits.map((h) => h.stepId)).toEqual(['overlay']);
  });

  it('collects the partners\' namespaces too when the store is over its size', async () => {
    await run(partnerStep(), acme);
    await run(partnerStep(), globex);
    const result = await gcStore(new StepStore(config.storeDir), { maxTotalBytes: 0, minIdleMs: 0 });
    expect(result.removed.map((r) => r.tenant).sort()).toEqual(['acme', 'globex']);
  });

  it('refuses a tenant name that could leave the store', () => {
    expect(() => new StepStore(config.storeDir).forTenant('../x')).toThrow(/not a valid name/);
  });
});
