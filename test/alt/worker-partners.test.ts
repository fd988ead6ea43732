// `sborka worker --toolchain alt` at start: what only partner builds need (vm-run for the
// host's arches, /dev/kvm through hasher-priv) is a warning, or with --partners a refusal.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AltHost } from '../../activities/alt/host';
import { altWorkerChecks } from '../../cli/commands/worker';
import { fakeHostEach } from './helpers';

const fx = fakeHostEach({ arches: ['x86_64'] });

describe('worker start checks for partner builds', () => {
  it('a host fit for partner VMs passes both ways', () => {
    expect(altWorkerChecks(fx.fake.host, ['build-x86_64'], { kvm: false })).toEqual({ refuse: [], warn: [] });
    expect(altWorkerChecks(fx.fake.host, ['build-x86_64'], { kvm: false, partners: true })).toEqual({ refuse: [], warn: [] });
  });

  it('hasher-priv without /dev/kvm is a warning, and with --partners a refusal naming the fix', () => {
    fx.fake.privFile('system', 'prefix=~:/tmp/.private\nallowed_mountpoints=/proc,/dev/pts\n');
    const fix = expect.stringContaining('partner VMs: hasher-priv does not allow /dev/kvm: add the line "allowed_devices=/dev/kvm"');
    expect(altWorkerChecks(fx.fake.host, ['build-x86_64'], { kvm: false })).toEqual({ refuse: [], warn: [fix] });
    expect(altWorkerChecks(fx.fake.host, ['build-x86_64'], { kvm: false, partners: true })).toEqual({ refuse: [fix], warn: [] });
  });

  it('an arch vm-run cannot boot is a partner problem; a queue the host cannot serve is refused either way', () => {
    const host = AltHost.parse({ ...fx.fake.host, arches: ['riscv64'] });
    const noVm = expect.stringMatching(/^partner variants for riscv64 cannot be isolated: vm-run has no VM for riscv64/);
    expect(altWorkerChecks(host, ['build-riscv64'], { kvm: true })).toEqual({ refuse: [], warn: [noVm] });
    expect(altWorkerChecks(host, ['build-riscv64'], { kvm: true, partners: true }).refuse).toEqual([noVm]);
    const wrongQueue = altWorkerChecks(host, ['build-e2k'], { kvm: true });
    expect(wrongQueue.refuse).toEqual([expect.stringContaining('queue build-e2k')]);
    expect(wrongQueue.warn).toEqual([noVm]);
  });

  it('a host without hsh-copy (partner RPMs go into the chroot with it) is a partner problem', () => {
    fs.rmSync(path.join(fx.fake.bin, 'hsh-copy'));
    const noCopy = expect.stringContaining('partner RPMs: hsh-copy is not on PATH');
    expect(altWorkerChecks(fx.fake.host, ['build-x86_64'], { kvm: false })).toEqual({ refuse: [], warn: [noCopy] });
    expect(altWorkerChecks(fx.fake.host, ['build-x86_64'], { kvm: false, partners: true })).toEqual({ refuse: [noCopy], warn: [] });
  });
});
