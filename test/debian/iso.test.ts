// The debian toolchain's live ISO on the shared bookworm root (image-fixture.ts): written
// twice from one lock in two state directories with the same bytes, laid out as a hybrid
// (El Torito BIOS + EFI, MBR + appended EFI partition), and booted under TCG from a CD with
// SeaBIOS and with OVMF, and as a disk (a USB stick) with SeaBIOS: three boots in one step.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { StepResult } from '../../plan/step-contract';
import { defaultLabel, isoDate, volumeIdOf } from '../../activities/debian/writers/iso';
import { liveScript } from '../../activities/debian/writers/iso-live';
import { makeTmpDir, removeDir, testConfig } from '../activities/helpers';
import { buildStep, commitConfiguredRoot, debianStep, debianTestRoot, qemuUnder, runner, testStep } from './image-fixture';

jest.setTimeout(1_800_000);

const sh = (argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { maxBuffer: 256 * 1024 * 1024 }).toString();
const file = (r: StepResult) => path.join(r.outputDir, String(r.outputs.values.file));
const FILE_NAME = 'debian-live-12-x86_64.iso';

const dirs: string[] = [];
const isos: StepResult[] = [];
let run: ReturnType<typeof runner>;

/** One state directory: its own store with the root committed, and the ISO built there. */
async function buildIn(label?: string): Promise<{ r: StepResult; run: ReturnType<typeof runner> }> {
  const root = await debianTestRoot();
  const dir = makeTmpDir('sborka-debian-iso-');
  dirs.push(dir);
  const config = testConfig(dir);
  const configureKey = await commitConfiguredRoot(config, root.tar, { kernel: root.kernel, initrd: root.initrd });
  const r1 = runner(config);
  const output = { format: 'iso', ...(label ? { label } : {}) };
  const r = await r1(debianStep(buildStep('build-iso', output, FILE_NAME), { configure: configureKey }));
  return { r, run: r1 };
}

beforeAll(async () => {
  const a = await buildIn('Debian Live 12');
  isos.push(a.r);
  run = a.run;
});
afterAll(() => dirs.forEach(removeDir));
afterEach(() => dirs.forEach((d) => expect(qemuUnder(d)).toEqual([])));

describe('iso writer', () => {
  it('writes a hybrid ISO: El Torito BIOS and EFI, an MBR and an EFI partition, the live root inside', () => {
    const iso = file(isos[0]!);
    expect(isos[0]!.outputs.values).toMatchObject({ format: 'iso', label: 'Debian Live 12', volumeId: 'DEBIAN_LIVE_12', live: 'sborka-live' });
    const report = sh(['xorriso', '-indev', iso, '-report_el_torito', 'plain', '-report_system_area', 'plain']);
    expect(report).toMatch(/El Torito boot img :\s+1\s+BIOS/);
    expect(report).toMatch(/El Torito boot img :\s+2\s+UEFI/);
    expect(report).toMatch(/MBR partition table/);
    expect(report).toMatch(/GPT|0xef/i);
    const listing = sh(['xorriso', '-indev', iso, '-find', '/', '-exec', 'lsdl', '--']);
    for (const p of ['/live/vmlinuz', '/live/initrd.img', '/live/filesystem.squashfs', '/boot/grub/grub.cfg', '/boot/grub/efi.img']) expect(listing).toContain(`'${p}'`);
    const cfgFile = path.join(dirs[0]!, 'grub.cfg');
    sh(['osirrox', '-indev', iso, '-extract', '/boot/grub/grub.cfg', cfgFile]);
    const cfg = fs.readFileSync(cfgFile, 'utf8');
    expect(cfg).toContain("menuentry 'Debian Live 12'");
    expect(cfg).toContain('boot=sborka-live');
    // The volume's dates are the lock's, not the clock's.
    expect(sh(['xorriso', '-indev', iso, '-pvd_info'])).toContain(`Creation Time: ${isoDate(1_700_000_000).slice(0, 14)}`);
  });

  it('writes the same bytes from the same lock in another state directory', async () => {
    const b = await buildIn('Debian Live 12');
    isos.push(b.r);
    expect(b.r.outputs.values.sha256).toBe(isos[0]!.outputs.values.sha256);
    expect(sh(['sha256sum', file(b.r)]).split(' ')[0]).toBe(sh(['sha256sum', file(isos[0]!)]).split(' ')[0]);
  });

  it('derives a volume id from the label or the file name', () => {
    expect(defaultLabel(FILE_NAME)).toBe('debian-live-12-x86_64');
    expect(volumeIdOf('debian-live-12-x86_64')).toBe('DEBIAN_LIVE_12_X86_64');
    expect(volumeIdOf('x'.repeat(40))).toHaveLength(32);
    expect(liveScript('00000000-0000-4000-8000-000000000000')).toContain('/.disk/sborka-live-00000000-0000-4000-8000-000000000000');
  });
});

describe('iso boot test', () => {
  it('boots from a CD with BIOS and with UEFI, and as a disk with BIOS, to "login:"', async () => {
    const r = await run(debianStep(testStep('test-boot', { type: 'boot', timeoutMs: 300_000, expect: 'login:' }, ['build-iso']), { 'build-iso': isos[0]!.key }));
    expect(r.outputs.values).toMatchObject({ passed: true, image: isos[0]!.outputs.values.sha256 });
    const media = (r.outputs.values.boots as Array<{ medium: string; firmware: string; passed: boolean }>).map((b) => `${b.firmware}-${b.medium}:${b.passed}`);
    expect(media).toEqual(['bios-cdrom:true', 'uefi-cdrom:true', 'bios-disk:true']);
    for (const name of ['console-bios-cdrom.log', 'console-uefi-cdrom.log', 'console-bios-disk.log']) {
      const text = fs.readFileSync(path.join(r.outputDir, name), 'utf8');
      expect(text).toContain('sborka-live: live medium found');
      expect(text).toContain('login:');
    }
    // OVMF prints its own banner: the UEFI boot really went through the firmware's El Torito EFI entry.
    expect(fs.readFileSync(path.join(r.outputDir, 'console-uefi-cdrom.log'), 'latin1')).toMatch(/BdsDxe|UEFI/);
  });
});
