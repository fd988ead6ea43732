// `sborka store verify`: every entry, shared and per partner, hashed in full; each bad one
// printed with why; --quarantine moves them; exit 1 while anything is bad, 0 when clean.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { StepInput, type StepResult } from '../../plan/step-contract';
import type { Config } from '../../config/config';
import { storeCommand } from '../../cli/commands/store';
import { COMMANDS } from '../../cli/commands';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, stepInput, testConfig } from './helpers';

let dir: string;
let config: Config;
const savedEnv = { ...process.env };
beforeEach(() => {
  dir = makeTmpDir();
  config = testConfig(dir);
  process.env.SBORKA_STATE_DIR = dir;
  delete process.env.SBORKA_STORE_DIR;
});
afterEach(() => {
  process.env = { ...savedEnv };
  removeDir(dir);
});

function run(id: string, text: string, owner?: StepInput['owner']): Promise<StepResult> {
  const { runStep } = createActivities({ config, logger: silentLogger });
  const input = stepInput({ id, kind: 'exec', params: { argv: ['sh', '-c', `printf '${text}' > "$SBORKA_OUTPUT_DIR/out.txt"`] } });
  return new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(runStep, StepInput.parse({ ...input, ...(owner ? { owner } : {}) }));
}

async function verify(args: string[], tty = false) {
  const stdout = new PassThrough();
  const stderr = Object.assign(new PassThrough(), { isTTY: tty });
  const out: string[] = [];
  const err: string[] = [];
  stdout.on('data', (d: Buffer) => out.push(d.toString()));
  stderr.on('data', (d: Buffer) => err.push(d.toString()));
  const code = await storeCommand.run(['verify', ...args], { stdout, stderr, cwd: dir });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

describe('sborka store verify', () => {
  it('is a registered command', () => {
    expect(COMMANDS).toContain(storeCommand);
  });

  it('names each bad entry with why, quarantines on request, and exits 0 once clean', async () => {
    const good = await run('good', 'fine');
    const flipped = await run('flipped', 'hello');
    const partner = await run('partner', 'theirs', { kind: 'partner', name: 'acme' });
    expect(partner.outputDir).toContain(path.join('tenants', 'acme'));
    fs.writeFileSync(path.join(flipped.outputDir, 'out.txt'), 'HELLO');
    fs.writeFileSync(path.join(partner.outputDir, 'extra'), 'planted');

    const first = await verify([], true);
    expect(first.code).toBe(1);
    expect(first.stdout).toContain(`bad ${flipped.key}: outputs/out.txt has sha256`);
    expect(first.stdout).toContain(`bad ${partner.key} (tenant acme): outputs/extra is not in the manifest`);
    expect(first.stdout).not.toContain(good.key);
    expect(first.stdout).toContain('checked 3 entries');
    expect(first.stderr).toContain('verifying 3/3');
    // Without --quarantine nothing moves.
    expect(fs.existsSync(flipped.outputDir)).toBe(true);

    const second = await verify(['--quarantine']);
    expect(second.code).toBe(1);
    expect(second.stdout).toMatch(new RegExp(`bad ${flipped.key}: .*; quarantined to ${path.join(config.storeDir, 'quarantine')}/${flipped.key}-`));
    expect(second.stdout).toContain('2 bad, 2 quarantined');
    expect(second.stderr).toBe('');
    expect(fs.existsSync(flipped.outputDir)).toBe(false);
    expect(fs.readdirSync(path.join(config.storeDir, 'tenants', 'acme', 'quarantine'))).toHaveLength(1);

    const third = await verify([]);
    expect(third).toMatchObject({ code: 0, stdout: expect.stringContaining('checked 1 entries') });
    expect(third.stdout).toContain('0 bad');
  });

  it('refuses anything but verify with a usage error', async () => {
    await expect(storeCommand.run(['fix'], { stdout: new PassThrough(), stderr: new PassThrough(), cwd: dir })).rejects.toMatchObject({ exitCode: 2 });
  });
});
