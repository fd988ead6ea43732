// The output-format table (plan/formats.ts) and everything that reads it: the language,
// the planner's file names, the debian writers, publishing's file matching and the boot
// tests. Each check is made from the table, so a row missing, extra or half-filled fails.
import { builtImage } from '../../activities/alt/boot';
import type { StoreEntry } from '../../activities/store';
import { BootableImageValues } from '../../activities/debian/boot';
import { writerFor, writerMismatch } from '../../activities/debian/writers';
import { planProduct } from '../../dsl/planner';
import { TOOLCHAINS, type ToolchainName } from '../../plan/arches';
import {
  artifactNamePattern, BOOT_MEDIA, COMPRESSIONS, diskImageFormat, type DiskFormat, fileExtension, FORMATS, formatsBuiltBy, type FormatToolchain, OUTPUT_FORMATS, OUTPUT_OPTION_KEYWORDS, OUTPUT_OPTIONS, outputSchema, type OutputFormat,
} from '../../plan/formats';
import { Output } from '../../plan/model';
import { ArtifactFormat } from '../../plan/schemas';
import { compileText } from '../dsl/helpers';

// The table's toolchain names and arches.ts's are one set (formats.ts cannot import arches.ts):
// tsc fails on either assignment when they part.
const toTable: readonly FormatToolchain[] = TOOLCHAINS;
const fromTable: readonly ToolchainName[] = OUTPUT_FORMATS.flatMap((f) => FORMATS[f].toolchains);

/** Today's formats; a new format adds its name here as well as its row. */
const TODAY = ['iso', 'img', 'qcow2', 'tar', 'squashfs', 'oci'];

const OPTION_TEXT: Record<keyof typeof OUTPUT_OPTION_KEYWORDS, string> = { size: 'size 4G', tag: 'tag "{branch}-{arch}"', compression: 'compression xz', label: 'label "Live 1"', profile: 'profile vm/regular-jeos-systemd', 'secure-boot': 'secure-boot on' };
/** Options a format takes on its alt side only (mkimage-profiles targets): refused on debian by dsl/alt-targets.ts. */
const ALT_ONLY: Partial<Record<keyof typeof OUTPUT_OPTION_KEYWORDS, string>> = { profile: 'output-profile-needs-alt' };

function recipe(format: string, toolchain: FormatToolchain, body: string[] = []): string {
  const head = toolchain === 'alt'
    ? ['product p {', '  branch p11', '  arch x86_64', '  profile distro/regular-server-systemd']
    : ['product p {', '  toolchain debian', '  branch bookworm', '  arch amd64'];
  const output = body.length ? [`  output ${format} {`, ...body.map((b) => `    ${b}`), '  }'] : [`  output ${format}`];
  return [...head, ...output, '}', ''].join('\n');
}

const codes = (text: string): string[] => compileText({ 'p.sborka': text }).diagnostics.map((d) => d.code);

describe('the output-format table', () => {
  it('holds today\'s formats, in the order the language lists them', () => {
    for (const t of toTable) expect(formatsBuiltBy(t).length).toBeGreaterThan(0);
    for (const t of fromTable) expect(TOOLCHAINS).toContain(t);
    expect(OUTPUT_FORMATS).toEqual(TODAY);
    expect(Output.shape.format.options).toEqual(OUTPUT_FORMATS);
    expect(ArtifactFormat.options).toEqual([...OUTPUT_FORMATS, 'file', 'report', 'sbom']);
  });

  it.each(OUTPUT_FORMATS)('%s: a full row', (f) => {
    const row = FORMATS[f];
    expect(row.extension).toMatch(/^[a-z0-9]+(\.[a-z0-9]+)*$/);
    expect(BOOT_MEDIA).toContain(row.boot);
    if (row.boot === 'disk') expect(['raw', 'qcow2']).toContain(row.diskFormat);
    else expect(row).not.toHaveProperty('diskFormat');
    expect(row.toolchains.length).toBeGreaterThan(0);
    for (const t of row.toolchains) expect(TOOLCHAINS).toContain(t);
    for (const o of row.options) expect(Object.keys(OUTPUT_OPTION_KEYWORDS)).toContain(o);
    expect(typeof row.reproducible).toBe('boolean');
  });

  it('says what it says today', () => {
    const today = (pick: (f: OutputFormat) => unknown) => Object.fromEntries(OUTPUT_FORMATS.map((f) => [f, pick(f)]));
    expect(today((f) => fileExtension({ format: f }))).toEqual({ iso: 'iso', img: 'img', qcow2: 'qcow2', tar: 'tar', squashfs: 'squashfs', oci: 'oci.tar' });
    expect(COMPRESSIONS.map((c) => fileExtension({ format: 'tar', compression: c }))).toEqual(['tar', 'tar.gz', 'tar.xz', 'tar.zst']);
    expect(COMPRESSIONS.map((c) => fileExtension({ format: 'squashfs', compression: c }))).toEqual(['squashfs', 'squashfs', 'squashfs', 'squashfs']);
    expect(OUTPUT_OPTIONS).toEqual({ iso: ['label', 'profile', 'secure-boot'], img: ['size', 'profile', 'secure-boot'], qcow2: ['size', 'profile', 'secure-boot'], tar: ['compression', 'profile'], squashfs: ['compression'], oci: ['tag', 'profile'] });
    expect(formatsBuiltBy('debian')).toEqual(['iso', 'img', 'qcow2', 'tar', 'squashfs', 'oci']);
    expect(formatsBuiltBy('alt')).toEqual(['iso', 'img', 'qcow2', 'tar', 'oci']);
    expect(today((f) => FORMATS[f].boot)).toEqual({ iso: 'cdrom', img: 'disk', qcow2: 'disk', tar: 'none', squashfs: 'none', oci: 'none' });
    // README, Reproducibility: every debian writer is bit-identical (alt's ISO is m-p's and is not).
    expect(OUTPUT_FORMATS.filter((f) => FORMATS[f].reproducible)).toEqual(formatsBuiltBy('debian'));
  });
});

describe('the language reads the table', () => {
  it.each(OUTPUT_FORMATS)('accepts `output %s` where a toolchain builds it, and exactly its options', (f) => {
    // debian where it builds the format: alt's outputs also depend on mkimage-profiles' targets.
    const toolchain: FormatToolchain = FORMATS[f].toolchains.some((t) => t === 'debian') ? 'debian' : 'alt';
    const c = compileText({ 'p.sborka': recipe(f, toolchain, FORMATS[f].options.filter((o) => toolchain === 'alt' || !ALT_ONLY[o]).map((o) => OPTION_TEXT[o])) });
    expect(c.diagnostics).toEqual([]);
    // What the checker made of it parses with the row's own option schema.
    for (const o of c.variants.get('p')?.[0]?.outputs ?? []) outputSchema(f).parse(o);
    expect(c.variants.get('p')?.[0]?.outputs.map((o) => o.format)).toEqual([f]);
    for (const o of Object.keys(OPTION_TEXT) as Array<keyof typeof OPTION_TEXT>) {
      const got = codes(recipe(f, toolchain, [OPTION_TEXT[o]]));
      if ((FORMATS[f].options as readonly string[]).includes(o)) expect(got).toEqual(toolchain === 'debian' && ALT_ONLY[o] ? [ALT_ONLY[o]] : []);
      else expect(got).toEqual(['unknown-output-option']);
    }
  });

  it('refuses a format not in the table, listing the table', () => {
    const c = compileText({ 'p.sborka': recipe('vhdx', 'alt') });
    expect(c.diagnostics.map((d) => [d.code, d.message])).toEqual([['unknown-output-format', '`vhdx` is not an output format']]);
    expect(c.diagnostics[0]?.hint).toBe(`formats: ${OUTPUT_FORMATS.join(', ')}`);
  });

  it.each(OUTPUT_FORMATS)('debian: `output %s` is refused exactly when the table says debian does not build it', (f) => {
    const builds = (formatsBuiltBy('debian') as string[]).includes(f);
    expect(codes(recipe(f, 'debian')).includes('unsupported-output')).toBe(!builds);
  });

  it('names each output\'s file with the table\'s extension', () => {
    for (const f of formatsBuiltBy('debian')) {
      const compression = FORMATS[f].options.some((o) => o === 'compression') ? ['compression zstd'] : [];
      const plan = planProduct(compileText({ 'p.sborka': recipe(f, 'debian', compression) }), 'p');
      const artifact = plan.variants[0]?.artifacts.find((a) => a.format === f);
      expect(artifact?.path.endsWith(`.${fileExtension({ format: f, compression: compression.length ? 'zstd' : undefined })}`)).toBe(true);
      expect(artifactNamePattern(f).test(artifact?.path ?? '')).toBe(true);
    }
  });
});

describe('the toolchains, publishing and boot tests read the table', () => {
  it('has a debian writer for every format debian builds, and none other', () => {
    expect(writerMismatch()).toEqual({ noWriter: [], notInTable: [] });
    for (const f of formatsBuiltBy('debian')) expect(typeof writerFor(f)).toBe('function');
    for (const f of OUTPUT_FORMATS.filter((x) => !(formatsBuiltBy('debian') as string[]).includes(x))) {
      expect(() => writerFor(f)).toThrow(`output format "${f}" is not built by the debian toolchain`);
    }
  });

  it('publishing finds every name the planner gives, and the unpacked OCI layout', () => {
    for (const f of OUTPUT_FORMATS) {
      for (const c of [undefined, ...COMPRESSIONS]) expect(artifactNamePattern(f).test(`x-1-x86_64.${fileExtension({ format: f, compression: c })}`)).toBe(true);
      expect(artifactNamePattern(f).test(`x.${FORMATS[f].extension}.bak`)).toBe(false);
    }
    expect(artifactNamePattern('oci').test('oci')).toBe(true);
    expect(artifactNamePattern('img').test('img')).toBe(false);
    expect(artifactNamePattern('tar').test('x.tar.bz2')).toBe(false);
  });

  it('boots the disks debian builds from a disk, raw first', () => {
    const disks = formatsBuiltBy('debian').filter((f) => FORMATS[f].boot === 'disk');
    expect(BootableImageValues.shape.format.options).toEqual(disks);
  });

  it('alt boots its disks before its cdroms, and says which it looked for', () => {
    const alt = formatsBuiltBy('alt');
    const disks = alt.filter((f) => FORMATS[f].boot === 'disk').map((f) => FORMATS[f].extension);
    const cdroms = alt.filter((f) => FORMATS[f].boot === 'cdrom').map((f) => FORMATS[f].extension);
    expect(() => builtImage('test-boot', {})).toThrow(`built a bootable image (${[...disks, 'img.xz', ...cdroms].join(', ')})`);
    // One build of every format alt makes: the first disk wins; without disks, a cdrom; the rest never boot.
    const entry = (f: OutputFormat) => ({
      outputsDir: `/store/${f}`, manifest: { outputs: { values: { image: `x.${FORMATS[f].extension}`, target: `vm/x.${FORMATS[f].extension}` }, files: [] } },
    }) as unknown as StoreEntry;
    const builds = (fs: readonly OutputFormat[]) => Object.fromEntries(fs.map((f) => [`build-${f}`, entry(f)]));
    const medium = (f: OutputFormat) => (FORMATS[f].boot === 'disk' ? diskImageFormat(f as DiskFormat) : 'iso');
    const first = alt.find((f) => FORMATS[f].boot === 'disk') as OutputFormat;
    expect(builtImage('t', builds(alt))).toMatchObject({ step: `build-${first}`, type: { medium: medium(first) } });
    const noDisks = alt.filter((f) => FORMATS[f].boot !== 'disk');
    expect(builtImage('t', builds(noDisks))).toMatchObject({ type: { medium: 'iso' } });
    expect(() => builtImage('t', builds(alt.filter((f) => FORMATS[f].boot === 'none')))).toThrow('built a bootable image');
  });
});
