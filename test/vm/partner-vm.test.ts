// A partner's post-install script runs in a qemu VM (one boot, TCG or KVM), not on the host
// kernel: from inside it, it looks for the worker's environment (/proc/1/environ), the host's
// /etc/shadow and the state directory (signing keys, the API database) and finds none of
// them. The same script with the distribution's host sandbox runs in bubblewrap's user
// namespace with no capabilities, on the host kernel: the probe tells the two apart. The VM
// has no network either: no interface but lo, no route, and the host's loopback (where
// qemu's user networking would put 10.0.2.2) cannot be reached from it.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import { StepStore } from '../../activities/store';
import { fetchArchPackage } from '../../activities/vm/kernels';
import { loadConfig, type Config } from '../../config/config';
import { StepInput, type StepResult } from '../../plan/step-contract';
import { quietSdkLogger, silentLogger } from '../activities/helpers';
import { noneAlive, stateDir as kernelCache, tmpDir } from './fixtures';

jest.setTimeout(900_000);

const MARKER = `sborka-host-secret-${process.pid}`;
const work = tmpDir('sborka-partner-vm-');
let config: Config;
let rootKey: string;
// A host service on 127.0.0.1 that the VM must not reach; it counts who connects. (The probe
// uses busybox's nc: busybox-static's wget crashes in glibc's static resolver, even on the host.)
let listener: net.Server;
let port = 0;
let connections = 0;
const recipes = path.join(work, 'recipes');

// What the partner's script tries; it writes what it found into the image (/probe.txt).
const PROBE = (state: string, hostPort: number) => `#!/bin/sh
{
  echo "== uname"; uname -r
  echo "== environ"; tr '\\000' '\\n' < /proc/1/environ 2>&1
  echo "== self-environ"; tr '\\000' '\\n' < /proc/self/environ 2>&1
  echo "== shadow"; cat /etc/shadow 2>&1
  echo "== state"; ls -la ${state} 2>&1; cat ${state}/api.db ${state}/gnupg/* 2>&1
  echo "== caps"; grep CapEff /proc/self/status
  echo "== mounts"; cat /proc/mounts
  echo "== netdev"; cat /proc/net/dev 2>&1
  echo "== routes"; cat /proc/net/route 2>&1; ip route 2>&1; ip -6 route 2>&1
  echo "== connect"
  for a in 10.0.2.2 10.0.2.3 127.0.0.1; do echo | nc -w 3 "$a" ${hostPort} 2>&1; echo "$a rc=$?"; done
  echo "== end"
} > /probe.txt 2>&1
`;

async function busyboxRootTar(): Promise<string> {
  const { deb } = await fetchArchPackage('x86_64', 'busybox-static', { stateDir: kernelCache });
  const x = path.join(work, 'bb');
  execFileSync('dpkg-deb', ['-x', deb, x]);
  const root = path.join(work, 'root');
  for (const d of ['bin', 'etc', 'tmp', 'usr/sbin', 'proc', 'sys', 'dev', 'run']) fs.mkdirSync(path.join(root, d), { recursive: true });
  const bin = [path.join(x, 'bin/busybox'), path.join(x, 'usr/bin/busybox')].find((f) => fs.existsSync(f))!;
  fs.copyFileSync(bin, path.join(root, 'bin/busybox'));
  fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
  // Every applet (sh, xargs, tr, chroot, ...): the batch driver and the probe need them.
  for (const a of execFileSync(bin, ['--list']).toString().split('\n').filter((a) => a && a !== 'busybox')) fs.symlinkSync('busybox', path.join(root, 'bin', a));
  const tar = path.join(work, 'root.tar');
  execFileSync('tar', ['--create', `--file=${tar}`, `--directory=${root}`, '--numeric-owner', '.']);
  return tar;
}

beforeAll(async () => {
  listener = net.createServer((socket) => {
    connections += 1;
    socket.end('HTTP/1.0 200 OK\r\n\r\nreached\n');
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  port = (listener.address() as net.AddressInfo).port;
  process.env.SBORKA_PROBE_MARKER = MARKER; // in the worker's (this process's) environment
  config = loadConfig({ SBORKA_STATE_DIR: path.join(work, 'state'), SBORKA_STORE_DIR: path.join(work, 'store') });
  fs.mkdirSync(path.join(config.stateDir, 'gnupg'), { recursive: true });
  fs.writeFileSync(path.join(config.stateDir, 'gnupg', 'secring.gpg'), `${MARKER}-gpg\n`);
  fs.writeFileSync(path.join(config.stateDir, 'api.db'), `${MARKER}-db\n`);
  // The VM's kernel comes from the tests' shared download cache (fixtures.ts), not from this test's state.
  fs.symlinkSync(path.join(kernelCache, 'vm-kernels'), path.join(config.stateDir, 'vm-kernels'));
  fs.mkdirSync(path.join(kernelCache, 'vm-kernels'), { recursive: true });
  fs.mkdirSync(recipes);
  fs.writeFileSync(path.join(recipes, 'probe.sh'), PROBE(config.stateDir, port));
  const store = new StepStore(config.storeDir);
  const staging = await store.createStaging();
  fs.copyFileSync(await busyboxRootTar(), path.join(staging.outputsDir, 'rootfs.tar'));
  rootKey = (await store.commit(staging, { kind: 'prepare-root', values: { arch: 'x86_64', debArch: 'amd64', suite: 'bookworm', sourceDateEpoch: 1_700_000_000 } })).key;
});

afterAll(() => {
  listener?.close();
  delete process.env.SBORKA_PROBE_MARKER;
  expect(noneAlive()).toEqual([]);
  fs.rmSync(work, { recursive: true, force: true });
});

async function configure(isolation: 'vm' | 'host-sandbox'): Promise<{ probe: string; log: string }> {
  const { runStep } = createActivities({ config, logger: silentLogger, registry: defaultRegistry(), killGraceMs: 3000 });
  const input = StepInput.parse({
    buildId: `partner-${isolation}`, variantId: 'acme.x86_64', toolchain: { name: 'debian', version: '1' },
    step: { id: 'configure', kind: 'configure', needs: ['prepare'], retry: { maximumAttempts: 1 }, timeouts: { startToCloseMs: 800_000, heartbeatMs: 800_000 },
      params: { toolchain: 'debian', branch: 'bookworm', arch: 'x86_64', settings: {}, recipeDir: recipes, isolation, scripts: [{ stage: 'post-install', interpreter: '/bin/sh', file: 'probe.sh' }] } },
    inputs: { prepare: rootKey },
  });
  const r: StepResult = await new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(runStep, input);
  const probe = execFileSync('tar', ['--extract', '--to-stdout', `--file=${path.join(r.outputDir, 'rootfs.tar')}`, './probe.txt']).toString();
  return { probe, log: fs.readFileSync(r.logPath, 'utf8') };
}

// One VM run serves both VM tests; the connections the host service saw during it are kept.
let vmRun: Promise<{ probe: string; log: string; connections: number }> | undefined;
const inVm = () => (vmRun ??= configure('vm').then((r) => ({ ...r, connections })));

// Up to the next "== " line (an empty section included).
const section = (probe: string, name: string) => probe.split(`== ${name}\n`)[1]!.split(/^== /m)[0]!;

it('a partner script in its VM finds neither the worker\'s environment, the host\'s /etc/shadow nor the state directory', async () => {
  const { probe, log } = await inVm();
  expect(log).toMatch(/--- sborka: isolation vm: .*qemu VM/);
  expect(section(probe, 'uname').trim()).not.toBe(os.release()); // the VM's own kernel, not the host's
  expect(probe).not.toContain(MARKER);
  const hostShadow = fs.readFileSync('/etc/shadow', 'utf8').split('\n').find((l) => l.startsWith('root:'))!;
  expect(probe).not.toContain(hostShadow);
  expect(section(probe, 'shadow')).toMatch(/No such file/);
  expect(section(probe, 'state')).toMatch(/No such file/);
  expect(section(probe, 'mounts')).not.toContain(config.stateDir);
});

it('the host sandbox (the distribution\'s scripts): a user namespace without capabilities', async () => {
  const { probe, log } = await configure('host-sandbox');
  expect(log).toMatch(/--- sborka: isolation host-sandbox: .*user namespace, no capabilities/);
  expect(section(probe, 'caps').trim()).toBe('CapEff:\t0000000000000000');
  expect(probe).not.toContain(MARKER);
  expect(section(probe, 'state')).toMatch(/No such file/);
});

it('a partner script in its VM has no network: only lo, no route, and the host\'s 127.0.0.1 services out of reach', async () => {
  const { probe, connections: seen } = await inVm();
  // /proc/net/dev: two header lines, then one "name: counters" line per interface (a kernel without networking has none).
  const interfaces = section(probe, 'netdev').split('\n').filter((l) => /^\s*[\w.-]+:\s*\d/.test(l)).map((l) => l.split(':')[0]!.trim());
  expect(interfaces.filter((i) => i !== 'lo')).toEqual([]);
  // /proc/net/route: its header and lo's lines only; `ip route` (v4 and v6) nothing but lo's either.
  const routes = section(probe, 'routes').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('Iface'));
  const noNetwork = /No such file or directory|Address family not supported|ip: not found|^RTNETLINK/;
  expect(routes.filter((l) => !/^lo\t|\bdev lo\b/.test(l) && !noNetwork.test(l))).toEqual([]);
  const connect = section(probe, 'connect');
  for (const a of ['10.0.2.2', '10.0.2.3', '127.0.0.1']) expect(connect).toMatch(new RegExp(`^${a.replace(/\./g, '\\.')} rc=[1-9]`, 'm'));
  expect(connect).not.toContain('reached');
  expect(seen).toBe(0);
});
