// resolve against a mirror the test controls: a fake apt-get (first in PATH) that "updates"
// by copying the mirror's InRelease and Packages into the private lists and answers simulated
// installs from them, and a fake apt-cache, both recording every call. It proves both sides
// of the lock memo: unchanged Release files and request → the lock is reused (no
// simulation); a changed mirror → a fresh resolve and a new lock. And that builds sharing
// one apt tree update it one at a time.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import { Lock, LOCK_FILE } from '../../activities/debian/lock';
import { StepInput, type StepResult } from '../../plan/step-contract';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, testConfig } from '../activities/helpers';

const MIRROR = 'http://fake.invalid/debian';
let dir: string;
let mirror: string;
let calls: string;
let run: (packages: string[]) => Promise<StepResult>;
const saved = { path: process.env.PATH, mirror: process.env.SBORKA_DEBIAN_MIRROR };

/** The fake apt-get: plain Node, no dependencies; its state lives in the test's directory. */
const FAKE_APT = (mirrorDir: string, callsFile: string, markerFile: string) => `#!${process.execPath}
const fs = require('fs'); const path = require('path');
const args = process.argv.slice(2);
const conf = fs.readFileSync(process.env.APT_CONFIG, 'utf8');
const lists = path.join(/^Dir "(.*)";/m.exec(conf)[1], 'var/lib/apt/lists');
const log = (what) => fs.appendFileSync(${JSON.stringify(callsFile)}, what + '\\n');
if (args[0] === '--version') { console.log('apt 2.6.1 (amd64)'); process.exit(0); }
if (args[0] === 'update') {
  try { fs.writeFileSync(${JSON.stringify(markerFile)}, '', { flag: 'wx' }); } catch { log('OVERLAP'); }
  log('update');
  setTimeout(() => {
    for (const f of fs.readdirSync(${JSON.stringify(mirrorDir)})) fs.copyFileSync(path.join(${JSON.stringify(mirrorDir)}, f), path.join(lists, 'fake.invalid_debian_dists_sid_' + f));
    fs.rmSync(${JSON.stringify(markerFile)}, { force: true });
  }, 300);
} else if (args.includes('--simulate')) {
  log('simulate');
  const stanzas = fs.readFileSync(path.join(lists, 'fake.invalid_debian_dists_sid_main_binary-amd64_Packages'), 'utf8').trim().split(/\\n\\n+/)
    .map((s) => Object.fromEntries(s.split('\\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()])));
  const wanted = (p) => (args.includes('?essential') && p.Essential === 'yes') || args.includes(p.Package);
  for (const p of stanzas.filter(wanted)) console.log('Inst ' + p.Package + ' (' + p.Version + ' fake:sid [' + p.Architecture + '])');
} else { console.error('fake apt-get: unexpected ' + args.join(' ')); process.exit(100); }
`;

function publish(date: string, helloVersion: string): void {
  const stanza = (name: string, version: string, essential: boolean) =>
    [`Package: ${name}`, `Version: ${version}`, 'Architecture: amd64', ...(essential ? ['Essential: yes'] : []), `SHA256: ${name === 'hello' ? 'a'.repeat(63) + version.length : 'b'.repeat(64)}`, ''].join('\n');
  const packages = [stanza('base-files', '13', true), stanza('dpkg', '1.22', true), stanza('hello', helloVersion, false), stanza('extra', '1', false)].join('\n');
  fs.writeFileSync(path.join(mirror, 'main_binary-amd64_Packages'), packages);
  fs.writeFileSync(path.join(mirror, 'InRelease'), `Origin: Fake\nSuite: sid\nDate: ${date}\nSHA256:\n ${packages.length} main/binary-amd64/Packages\n`);
}

const callsSoFar = () => fs.readFileSync(calls, 'utf8').trim().split('\n');
const lockOf = (r: StepResult) => Lock.parse(JSON.parse(fs.readFileSync(path.join(r.outputDir, LOCK_FILE), 'utf8')));
const logOf = (r: StepResult) => fs.readFileSync(r.logPath, 'utf8');

beforeAll(() => {
  dir = makeTmpDir('sborka-resolve-memo-');
  mirror = path.join(dir, 'mirror');
  calls = path.join(dir, 'calls');
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(mirror);
  fs.mkdirSync(bin);
  fs.writeFileSync(calls, '');
  fs.writeFileSync(path.join(bin, 'apt-get'), FAKE_APT(mirror, calls, path.join(dir, 'updating')), { mode: 0o755 });
  fs.writeFileSync(path.join(bin, 'apt-cache'), `#!/bin/sh\necho "$1" >> ${JSON.stringify(calls)}\n`, { mode: 0o755 });
  process.env.PATH = `${bin}:${saved.path}`;
  process.env.SBORKA_DEBIAN_MIRROR = MIRROR;
  const config = testConfig(path.join(dir, 'state'));
  const { runStep } = createActivities({ config, logger: silentLogger, registry: defaultRegistry() });
  let n = 0;
  run = (packages) => new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(runStep, StepInput.parse({
    buildId: `build-${++n}`, variantId: 'memo-test', toolchain: { name: 'debian', version: '1' },
    step: { id: 'resolve', kind: 'resolve', cacheable: false, params: { toolchain: 'debian', branch: 'sid', arch: 'x86_64', packages } },
    inputs: {},
  }));
});

afterAll(() => {
  process.env.PATH = saved.path;
  if (saved.mirror === undefined) delete process.env.SBORKA_DEBIAN_MIRROR;
  else process.env.SBORKA_DEBIAN_MIRROR = saved.mirror;
  removeDir(dir);
});

test('unchanged Release files and request: the mirror is asked, the lock is reused; a changed mirror resolves afresh', async () => {
  publish('Mon, 02 Nov 2026 10:00:00 UTC', '1.0');
  const first = await run(['hello']);
  expect(callsSoFar()).toEqual(['update', 'gencaches', 'simulate', 'simulate']);
  expect(lockOf(first).packages.find((p) => p.name === 'hello')).toMatchObject({ version: '1.0', layer: 'product' });
  expect(lockOf(first).packages.find((p) => p.name === 'dpkg')).toMatchObject({ layer: 'base' });

  // The same mirror: updated (a change would be seen), nothing simulated, the same lock and key.
  const again = await run(['hello']);
  expect(callsSoFar()).toEqual(['update', 'gencaches', 'simulate', 'simulate', 'update']);
  expect(again.key).toBe(first.key);
  expect(logOf(again)).toContain('its lock is reused');

  // Another request against the same mirror is not this one's lock.
  const other = await run(['hello', 'extra']);
  expect(callsSoFar().slice(5)).toEqual(['update', 'gencaches', 'simulate', 'simulate']);
  expect(lockOf(other).packages.map((p) => p.name)).toContain('extra');

  // The mirror publishes hello 2.0 (a new index, so a new Release): a fresh resolve, a new lock.
  publish('Tue, 03 Nov 2026 10:00:00 UTC', '2.0');
  const changed = await run(['hello']);
  expect(callsSoFar().slice(9)).toEqual(['update', 'gencaches', 'simulate', 'simulate']);
  expect(changed.key).not.toBe(first.key);
  expect(lockOf(changed).packages.find((p) => p.name === 'hello')?.version).toBe('2.0');
  expect(lockOf(changed).sourceDateEpoch).toBe(Date.parse('2026-11-03T10:00:00Z') / 1000);
  expect(logOf(changed)).not.toContain('its lock is reused');

  // And that new lock is the one reused next.
  const settled = await run(['hello']);
  expect(callsSoFar().slice(13)).toEqual(['update']);
  expect(settled.key).toBe(changed.key);
});

test('resolves that share one apt tree update it one at a time', async () => {
  publish('Wed, 04 Nov 2026 10:00:00 UTC', '3.0');
  fs.writeFileSync(calls, '');
  const results = await Promise.all([run(['hello']), run(['hello']), run(['hello', 'extra'])]);
  expect(callsSoFar().filter((c) => c === 'update')).toHaveLength(3);
  expect(callsSoFar()).not.toContain('OVERLAP');
  expect(results[0]!.key).toBe(results[1]!.key);
  expect(lockOf(results[2]!).packages.find((p) => p.name === 'hello')?.version).toBe('3.0');
});
