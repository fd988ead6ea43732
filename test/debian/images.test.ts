// The debian image writers on a real mmdebstrap root: every format is written, checked
// with its own tools, and written again bit for bit. (The `reproducible` test kind, which
// also makes the root again from its lock, runs in roots.test.ts and the e2e test.)
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { usedInodes } from '../../activities/debian/writers/img';
import type { StepResult } from '../../plan/step-contract';
import type { Config } from '../../config/config';
import { makeTmpDir, removeDir, testConfig } from '../activities/helpers';
import { buildStep, commitConfiguredRoot, debianStep, debianTestRoot, runner } from './image-fixture';

jest.setTimeout(900_000);

let dir: string;
let config: Config;
let configureKey: string;
let run: ReturnType<typeof runner>;
const built: Record<string, StepResult> = {};
/** What each build step was asked for: its output and file name. */
const requests: Record<string, [Record<string, unknown>, string]> = {};

const sh = (argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { maxBuffer: 256 * 1024 * 1024 }).toString();
const file = (r: StepResult) => path.join(r.outputDir, String(r.outputs.values.file));
const sha = (p: string) => sh(['sha256sum', p]).split(' ')[0];

beforeAll(async () => {
  const root = await debianTestRoot();
  dir = makeTmpDir('sborka-debian-images-');
  config = testConfig(dir);
  configureKey = await commitConfiguredRoot(config, root.tar, { kernel: root.kernel, initrd: root.initrd });
  run = runner(config);
});
afterAll(() => removeDir(dir));

const build = async (id: string, output: Record<string, unknown>, fileName: string) => {
  const r = await run(debianStep(buildStep(id, output, fileName), { configure: configureKey }));
  built[id] = r;
  requests[id] = [output, fileName];
  expect(r.outputs.values).toMatchObject({ file: fileName, sha256: sha(file(r)), size: fs.statSync(file(r)).size });
  expect(r.outputs.values.rootfs).toMatchObject({ step: 'configure', key: configureKey });
  return r;
};

describe('debian image writers', () => {
  it('tar: the root as it was configured, or compressed', async () => {
    const plain = await build('build-tar', { format: 'tar' }, 'root.tar');
    expect(plain.outputs.values).toMatchObject({ format: 'tar', compression: 'none' });
    expect(sh(['tar', '--list', `--file=${file(plain)}`])).toContain('./etc/os-release');
    const zst = await build('build-tar-zst', { format: 'tar', compression: 'zstd' }, 'root.tar.zst');
    expect(Number(sh(['sh', '-c', 'zstd -dc "$1" | wc -c', 'sh', file(zst)]).trim())).toBe(fs.statSync(file(plain)).size);
  });

  it('squashfs: owners kept, every time the root\'s SOURCE_DATE_EPOCH', async () => {
    const r = await build('build-squashfs', { format: 'squashfs' }, 'root.squashfs');
    const listing = sh(['unsquashfs', '-lln', file(r), '/etc/os-release']);
    expect(listing).toMatch(/0\/0 .*2023-11-14 22:13 squashfs-root\/etc\/os-release/);
  });

  it('img: an MBR disk with a bootable ext4 root at 1 MiB and GRUB in the gap', async () => {
    const r = await build('build-img', { format: 'img', sizeBytes: 1024 * 1024 * 1024 }, 'disk.img');
    const v = r.outputs.values;
    expect(v).toMatchObject({ format: 'img', partitionTable: 'dos', bootloader: 'grub-i386-pc', rootOffsetBytes: 1048576, size: 1024 * 1024 * 1024 });
    const table = JSON.parse(sh(['sfdisk', '--json', file(r)])).partitiontable;
    expect(table).toMatchObject({ label: 'dos', id: v.diskId, partitions: [{ start: 2048, type: '83', bootable: true }] });
    const fsck = execFileSync('e2fsck', ['-fn', `${file(r)}?offset=1048576`], { stdio: 'pipe' }).toString();
    expect(fsck).toContain('root:');
    const stats = sh(['dumpe2fs', '-h', `${file(r)}?offset=1048576`]);
    expect(stats).toContain(`Filesystem UUID:          ${v.rootUuid}`);
    const grubCfg = sh(['debugfs', '-R', 'cat /boot/grub/grub.cfg', `${file(r)}?offset=1048576`]);
    expect(grubCfg).toContain(`root=UUID=${v.rootUuid}`);
    expect(sh(['debugfs', '-R', 'cat /etc/fstab', `${file(r)}?offset=1048576`])).toContain(`UUID=${v.rootUuid} / ext4`);
    // GRUB's boot.img in the MBR, the partition table left as sfdisk wrote it.
    const mbr = fs.readFileSync(file(r)).subarray(0, 512);
    expect(mbr.subarray(0, 0x1b8)).toEqual(fs.readFileSync('/usr/lib/grub/i386-pc/boot.img').subarray(0, 0x1b8));
    expect(mbr.readUInt16LE(510)).toBe(0xaa55);
  });

  it('qcow2: qemu-img converted from the same raw disk', async () => {
    const r = await build('build-qcow2', { format: 'qcow2', sizeBytes: 1024 * 1024 * 1024 }, 'disk.qcow2');
    expect(JSON.parse(sh(['qemu-img', 'info', '--output=json', file(r)]))).toMatchObject({ format: 'qcow2', 'virtual-size': 1024 * 1024 * 1024 });
    // Its own raw disk (UUIDs follow each output's params, so not the img output's bytes).
    expect(r.outputs.values).toMatchObject({ rawSha256: expect.stringMatching(/^[0-9a-f]{64}$/), bootloader: 'grub-i386-pc', rawSize: 1024 * 1024 * 1024 });
    sh(['qemu-img', 'check', file(r)]);
  });

  it('oci: a layout whose index, manifest, config and layer agree', async () => {
    const r = await build('build-oci', { format: 'oci', tag: 'bookworm-x86_64' }, 'image.oci.tar');
    const layout = path.join(dir, 'oci');
    fs.mkdirSync(layout);
    sh(['tar', '--extract', `--file=${file(r)}`, `--directory=${layout}`]);
    const blob = (digest: string) => path.join(layout, 'blobs', 'sha256', digest.replace('sha256:', ''));
    expect(JSON.parse(fs.readFileSync(path.join(layout, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
    const [desc] = index.manifests;
    expect(desc).toMatchObject({ digest: r.outputs.values.manifestDigest, platform: { os: 'linux', architecture: 'amd64' }, annotations: { 'org.opencontainers.image.ref.name': 'bookworm-x86_64' } });
    const manifest = JSON.parse(fs.readFileSync(blob(desc.digest), 'utf8'));
    const config = JSON.parse(fs.readFileSync(blob(manifest.config.digest), 'utf8'));
    expect(config).toMatchObject({ os: 'linux', architecture: 'amd64', created: '2023-11-14T22:13:20Z' });
    for (const d of [desc, manifest.config, ...manifest.layers]) {
      expect(`sha256:${sha(blob(d.digest))}`).toBe(d.digest);
      expect(fs.statSync(blob(d.digest)).size).toBe(d.size);
    }
    // The layer's uncompressed digest is the diff_id the config names.
    const layer = blob(manifest.layers[0].digest);
    expect(`sha256:${execFileSync('sh', ['-c', 'gzip -dc "$1" | sha256sum', 'sh', layer]).toString().split(' ')[0]}`).toBe(config.rootfs.diff_ids[0]);
  });

  it('finds the in-use inodes in dumpe2fs output', () => {
    // Group 0 holds the reserved inodes 1-8, group 1 9-16, group 2 17-24.
    const text = 'Inodes per group:         8\nFirst inode:              11\nGroup 0: (Blocks 0-10)\n  Free inodes: \nGroup 1: (Blocks 11-20)\n  Free inodes: 14-16\nGroup 2: (Blocks 21-30)\n  Free inodes: 17-18, 21-24\n';
    expect(usedInodes(text)).toEqual([2, 11, 12, 13, 19, 20]);
  });

  it('every format written again, uncached, gives the same bytes', async () => {
    // The img writer's second run is the qcow2 writer's raw disk (qcow2 converts the img
    // writer's disk, and rawSha256 is that disk's digest): one 1 GiB ext4 disk fewer to write.
    for (const [id, [output, fileName]] of Object.entries(requests).filter(([id]) => id !== 'build-img')) {
      const again = await run(debianStep(buildStep(id, output, fileName, { cacheable: false }), { configure: configureKey }, 'build-2'));
      expect([id, again.cached, again.outputs.values.sha256]).toEqual([id, false, built[id]!.outputs.values.sha256]);
      if (id === 'build-qcow2') expect(again.outputs.values.rawSha256).toBe(built[id]!.outputs.values.rawSha256);
    }
    expect(Object.keys(requests)).toEqual(expect.arrayContaining(['build-img', 'build-qcow2']));
  });
});
