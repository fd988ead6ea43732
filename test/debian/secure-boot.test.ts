// Secure Boot on the debian toolchain: a bookworm root with Debian's signed shim, GRUB and
// kernel (from the archive, by mmdebstrap) written as an img with `secure-boot on`, booted
// under TCG with OVMF's Secure Boot firmware and the Microsoft keys (q35, SMM): mokutil
// inside says Secure Boot is enabled, and the same image with one byte of its kernel changed
// does not boot under the same firmware. An unsigned kernel is refused before any disk is written.
// With the recipe's own key (`secure-boot key`), the image boots through a unified kernel image
// signed with it once its cert is in the firmware's db; signed with another key, the firmware
// refuses it; and the key's bytes are in neither the image nor any log or store file.
import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StepStore } from '../../activities/store';
import { signatureIssuers } from '../../activities/debian/secure-boot';
import type { StepResult } from '../../plan/step-contract';
import { makeTmpDir, removeDir, testConfig } from '../activities/helpers';
import { compileText } from '../dsl/helpers';
import { buildStep, commitConfiguredRoot, debianStep, debianTestRoot, IMAGE_ROOT_PACKAGES, qemuUnder, runner, testStep } from './image-fixture';

jest.setTimeout(2_400_000);

const sh = (argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { maxBuffer: 256 * 1024 * 1024 }).toString();
const file = (r: StepResult) => path.join(r.outputDir, String(r.outputs.values.file));

/** The image tests' root with the signed chain: the shared fixture (image-fixture.ts), built once per machine. */
// systemd-boot-efi: its EFI stub carries the kernel in the unified image `secure-boot key` signs.
const secureRoot = () => debianTestRoot([...IMAGE_ROOT_PACKAGES, 'shim-signed', 'grub-efi-amd64-signed', 'mokutil', 'systemd-boot-efi']);

const dirs: string[] = [];
let dir: string;
let run: ReturnType<typeof runner>;
let root: Awaited<ReturnType<typeof secureRoot>>;
let configureKey: string;
let img: StepResult;

beforeAll(async () => {
  root = await secureRoot();
  dir = makeTmpDir('sborka-debian-secure-boot-');
  dirs.push(dir);
  const config = testConfig(dir);
  configureKey = await commitConfiguredRoot(config, root.tar, { kernel: root.kernel, initrd: root.initrd });
  run = runner(config);
  img = await run(debianStep(buildStep('build-img', { format: 'img', secureBoot: true }, 'debian-sb.img'), { configure: configureKey }));
});
afterAll(() => dirs.forEach(removeDir));
afterEach(() => dirs.forEach((d) => expect(qemuUnder(d)).toEqual([])));

describe('secure-boot on: the language', () => {
  const recipe = (arch: string, value: string) => ['product p {', '  toolchain debian', '  branch bookworm', `  arch ${arch}`, '  output img {', `    secure-boot ${value}`, '  }', '}', ''].join('\n');
  const codes = (text: string) => compileText({ 'p.sborka': text }).diagnostics.map((d) => d.code);

  it('takes on and off on x86_64 and puts it in the plan', () => {
    const c = compileText({ 'p.sborka': recipe('amd64', 'on') });
    expect(c.diagnostics).toEqual([]);
    expect(c.variants.get('p')?.[0]?.outputs).toEqual([{ format: 'img', secureBoot: true }]);
    expect(codes(recipe('amd64', 'off'))).toEqual([]);
  });

  it('refuses other words, and arches whose signed chain is not laid out, with the reason', () => {
    expect(codes(recipe('amd64', 'yes'))).toEqual(['invalid-secure-boot']);
    const arm = compileText({ 'p.sborka': recipe('arm64', 'on') }).diagnostics;
    expect(arm.map((d) => d.code)).toEqual(['unsupported-secure-boot']);
    expect(arm[0]?.message).toMatch(/x86_64 only/);
  });
});

describe('secure-boot on: the img writer', () => {
  it('adds an EFI system partition with Debian\'s signed shim and GRUB, and keeps the BIOS boot', () => {
    expect(img.outputs.values).toMatchObject({ format: 'img', secureBoot: 'debian-signed', espPartition: 2, bootloader: 'grub-i386-pc' });
    const disk = file(img);
    expect(sh(['sfdisk', '--dump', disk])).toMatch(/type=ef/);
    const at = `${disk}@@${Number(img.outputs.values.espOffsetBytes)}`;
    const env = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
    const listing = execFileSync('mdir', ['-i', at, '-/', '::/EFI'], { env }).toString();
    expect(listing).toMatch(/BOOTX64\s+EFI/);
    expect(listing).toMatch(/grubx64\s+efi/i);
    const shim = path.join(dir, 'shim.efi');
    execFileSync('mcopy', ['-i', at, '::/EFI/BOOT/BOOTX64.EFI', shim], { env });
    expect(signatureIssuers(sh(['sbverify', '--list', shim])).join('\n')).toMatch(/Microsoft Corporation UEFI CA 2011/);
  });

  it('refuses a kernel Debian did not sign, with the reason', async () => {
    // The same root with the kernel's signature removed (a later tar member replaces the earlier one).
    const work = makeTmpDir('sborka-debian-secure-boot-unsigned-');
    dirs.push(work);
    const unsigned = path.join(work, root.kernel);
    fs.mkdirSync(path.dirname(unsigned), { recursive: true });
    sh(['tar', '--extract', `--file=${root.tar}`, `--directory=${work}`, `./${root.kernel}`]);
    sh(['sbattach', '--remove', unsigned]);
    const tar = path.join(work, 'rootfs.tar');
    fs.copyFileSync(root.tar, tar);
    sh(['tar', '--append', `--file=${tar}`, `--directory=${work}`, `./${root.kernel}`]);
    const config = testConfig(work);
    const key = await commitConfiguredRoot(config, tar, { kernel: root.kernel, initrd: root.initrd });
    const failed = runner(config)(debianStep(buildStep('build-img', { format: 'img', secureBoot: true }, 'unsigned.img'), { configure: key }));
    await expect(failed).rejects.toMatchObject({ message: expect.stringMatching(/is not signed by Debian \(it carries no signature\)/) });
  });
});

describe('secure-boot on: booting with OVMF\'s Secure Boot firmware', () => {
  it('boots with Secure Boot enabled, as mokutil inside and the kernel say', async () => {
    const test = { type: 'run', argv: ['mokutil', '--sb-state'], exitCode: 0, output: 'SecureBoot enabled', timeoutMs: 600_000 };
    const r = await run(debianStep(testStep('test-run-sb', test, ['build-img']), { 'build-img': img.key }));
    expect(r.outputs.values).toMatchObject({ passed: true, exitCode: 0 });
    expect(fs.readFileSync(path.join(r.outputDir, 'stdout.txt'), 'utf8')).toContain('SecureBoot enabled');
    expect(fs.readFileSync(path.join(r.outputDir, 'console.log'), 'latin1')).toContain('Secure boot enabled');
  });

  it('does not boot the same image with one byte of its kernel changed', async () => {
    // The tampered image is committed as a build step's outputs with the same values, then boot-tested.
    const work = makeTmpDir('sborka-debian-secure-boot-tampered-');
    dirs.push(work);
    const disk = path.join(work, 'tampered.img');
    sh(['cp', '--sparse=always', file(img), disk]);
    const ext4 = `${disk}?offset=${Number(img.outputs.values.rootOffsetBytes)}`;
    const kernel = path.join(work, 'vmlinuz');
    sh(['debugfs', '-R', `dump -p /${root.kernel} ${kernel}`, ext4]);
    const bytes = fs.readFileSync(kernel);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0xff;
    fs.writeFileSync(kernel, bytes);
    const cmds = path.join(work, 'tamper.debugfs');
    fs.writeFileSync(cmds, `rm /${root.kernel}\nwrite ${kernel} /${root.kernel}\n`);
    sh(['debugfs', '-w', '-f', cmds, ext4]);
    const config = testConfig(dir);
    const store = new StepStore(config.storeDir);
    const staging = await store.createStaging();
    fs.copyFileSync(disk, path.join(staging.outputsDir, 'debian-sb.img'));
    const sha256 = sh(['sha256sum', disk]).split(' ')[0];
    const entry = await store.commit(staging, { kind: 'build', values: { ...img.outputs.values, sha256 } });
    const test = { type: 'boot', expect: 'login:', timeoutMs: 240_000 };
    const failed = run(debianStep(testStep('test-boot-tampered', test, ['build-img']), { 'build-img': entry.key }));
    // shim's verifier refuses the kernel GRUB hands it: the boot stops before Linux starts.
    await expect(failed).rejects.toMatchObject({ message: expect.stringMatching(/"login:" did not appear[\s\S]*(bad shim signature|Security Violation|Verification failed)/i) });
  });
});

describe('secure-boot on: the live ISO', () => {
  it('puts Debian\'s signed shim and GRUB in the EFI image and boots from a CD with Secure Boot enabled', async () => {
    const iso = await run(debianStep(buildStep('build-iso', { format: 'iso', secureBoot: true }, 'debian-sb.iso'), { configure: configureKey }));
    expect(iso.outputs.values).toMatchObject({ format: 'iso', secureBoot: 'debian-signed' });
    const listing = sh(['xorriso', '-indev', file(iso), '-find', '/', '-exec', 'lsdl', '--']);
    expect(listing).toContain("'/.disk/info'");
    const test = { type: 'boot', expect: 'login:', timeoutMs: 600_000 };
    const r = await run(debianStep(testStep('test-boot-iso', test, ['build-iso']), { 'build-iso': iso.key }));
    const media = (r.outputs.values.boots as Array<{ medium: string; firmware: string; passed: boolean }>).map((b) => `${b.firmware}-${b.medium}:${b.passed}`);
    expect(media).toEqual(['bios-cdrom:true', 'uefi-cdrom:true', 'bios-disk:true', 'uefi-secure-cdrom:true']);
    expect(fs.readFileSync(path.join(r.outputDir, 'console-uefi-secure-cdrom.log'), 'latin1')).toContain('Secure boot enabled');
  });
});

describe('secure-boot key: the recipe\'s own key signs a unified kernel image', () => {
  let recipeDir: string;
  let keyed: StepResult;
  const keyFile = (name: string) => path.join(recipeDir, 'keys', name);
  const keyedStep = (id: string, secureBoot: { key: string; cert: string }, fileName: string) => {
    const s = buildStep(id, { format: 'img', secureBoot }, fileName) as { params: object };
    return { ...s, params: { ...s.params, recipeDir } };
  };
  const env = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
  const espOf = (disk: string, values: Record<string, unknown>) => `${disk}@@${Number(values.espOffsetBytes)}`;

  beforeAll(async () => {
    recipeDir = makeTmpDir('sborka-debian-sb-recipe-');
    dirs.push(recipeDir);
    fs.mkdirSync(path.join(recipeDir, 'keys'));
    for (const name of ['db', 'other']) {
      execFileSync('openssl', ['req', '-new', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-subj', `/CN=sborka test ${name}/`, '-keyout', keyFile(`${name}.key`), '-out', keyFile(`${name}.crt`)], { stdio: 'ignore' });
    }
    keyed = await run(debianStep(keyedStep('build-img-key', { key: 'keys/db.key', cert: 'keys/db.crt' }, 'debian-key.img'), { configure: configureKey }));
  });

  it('puts only the signed image on the ESP, which the cert verifies and another does not, and keeps the key out of every file', async () => {
    const v = keyed.outputs.values;
    expect(v).toMatchObject({ format: 'img', secureBoot: 'recipe-key', secureBootSigner: expect.stringContaining('sborka test db'), espPartition: 2, bootloader: 'grub-i386-pc' });
    expect(String(v.secureBootCert)).toBe(new X509Certificate(fs.readFileSync(keyFile('db.crt'))).toString());
    const disk = file(keyed);
    const listing = execFileSync('mdir', ['-i', espOf(disk, v), '-/', '::/EFI'], { env }).toString();
    expect(listing).toMatch(/BOOTX64\s+EFI/);
    expect(listing).not.toMatch(/grubx64/i);
    const uki = path.join(recipeDir, 'uki.efi');
    execFileSync('mcopy', ['-i', espOf(disk, v), '::/EFI/BOOT/BOOTX64.EFI', uki], { env });
    for (const s of ['.linux', '.initrd', '.cmdline', '.osrel']) expect(sh(['objdump', '-h', uki])).toContain(s);
    sh(['sbverify', '--cert', keyFile('db.crt'), uki]);
    expect(() => execFileSync('sbverify', ['--cert', keyFile('other.crt'), uki], { stdio: 'ignore' })).toThrow();
    // The key's base64 lines and its private DER bytes: in no file of the state directory (store, logs, scratch) nor the image.
    const pem = fs.readFileSync(keyFile('db.key'), 'utf8');
    const der = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
    const needles = [...pem.split('\n').filter((l) => l.length >= 60 && !l.startsWith('-----')).slice(2, 5).map((l) => Buffer.from(l)), der.subarray(der.length - 96)];
    const files = walkFiles(dir);
    expect(files).toContain(disk);
    expect(files).toContain(keyed.logPath);
    for (const f of files) expect({ f, found: await fileHolds(f, needles) }).toEqual({ f, found: [] });
  });

  it('boots with Secure Boot enabled once its cert is in db; signed with another key, the firmware refuses it', async () => {
    const test = { type: 'run', argv: ['mokutil', '--sb-state'], exitCode: 0, output: 'SecureBoot enabled', timeoutMs: 600_000 };
    const r = await run(debianStep(testStep('test-run-key', test, ['build-img-key']), { 'build-img-key': keyed.key }));
    expect(r.outputs.values).toMatchObject({ passed: true, exitCode: 0 });
    const console = fs.readFileSync(path.join(r.outputDir, 'console.log'), 'latin1');
    // The kernel's EFI stub, started by systemd's stub inside the signed image (no shim, no GRUB on this path).
    expect(console).toContain('EFI stub: UEFI Secure Boot is enabled');
    expect(console).toContain('Secure boot enabled');

    // The same image with its unified kernel image signed by the other key, committed with the same values (db.crt enrolled).
    const work = makeTmpDir('sborka-debian-secure-boot-other-key-');
    dirs.push(work);
    const disk = path.join(work, 'other.img');
    sh(['cp', '--sparse=always', file(keyed), disk]);
    const at = espOf(disk, keyed.outputs.values);
    const uki = path.join(work, 'BOOTX64.EFI');
    execFileSync('mcopy', ['-i', at, '::/EFI/BOOT/BOOTX64.EFI', uki], { env });
    sh(['sbattach', '--remove', uki]);
    sh(['sbsign', '--key', keyFile('other.key'), '--cert', keyFile('other.crt'), '--output', `${uki}.other`, uki]);
    execFileSync('mcopy', ['-o', '-i', at, `${uki}.other`, '::/EFI/BOOT/BOOTX64.EFI'], { env });
    const store = new StepStore(testConfig(dir).storeDir);
    const staging = await store.createStaging();
    fs.copyFileSync(disk, path.join(staging.outputsDir, 'debian-key.img'));
    const entry = await store.commit(staging, { kind: 'build', values: { ...keyed.outputs.values, sha256: sh(['sha256sum', disk]).split(' ')[0] } });
    // The boot stops where the firmware refuses the loader: Linux never starts.
    const refused = await run(debianStep(testStep('test-boot-other-key', { type: 'boot', expect: 'Access Denied', timeoutMs: 600_000 }, ['build-img-key']), { 'build-img-key': entry.key }));
    const text = fs.readFileSync(path.join(refused.outputDir, 'console.log'), 'latin1');
    expect(text).toMatch(/BdsDxe: failed to load Boot\d+ .*: Access Denied/);
    expect(text).not.toContain('Linux version');
  });
});

/** Every regular file under `root`. */
function walkFiles(root: string): string[] {
  return fs.readdirSync(root, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

/** The indexes of the needles the file holds, read once in chunks (the images are large and mostly sparse). */
async function fileHolds(file: string, needles: readonly Buffer[]): Promise<number[]> {
  const found = new Set<number>();
  const overlap = Math.max(...needles.map((n) => n.length)) - 1;
  const fh = await fs.promises.open(file, 'r');
  try {
    const chunk = Buffer.alloc(8 * 1024 * 1024);
    let carry = Buffer.alloc(0);
    for (let pos = 0; ; ) {
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, pos);
      if (bytesRead === 0) return [...found].sort();
      const window = Buffer.concat([carry, chunk.subarray(0, bytesRead)]);
      needles.forEach((n, i) => window.includes(n) && found.add(i));
      carry = window.subarray(Math.max(0, window.length - overlap));
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
}
