// The output formats, one row each: the language (which formats and options a recipe may
// write), the planner (file names), the writers (which toolchain builds what), publishing
// (finding the file among a step's outputs) and the boot tests (how qemu takes the image)
// all read this table, so a new format is one row here plus its writer.
import { z } from 'zod';

export const COMPRESSIONS = ['none', 'gzip', 'xz', 'zstd'] as const;
export const Compression = z.enum(COMPRESSIONS);
export type Compression = z.infer<typeof Compression>;

/** What a compression adds to the file name of a format whose name shows it (tar.gz). */
const COMPRESSION_SUFFIX: Record<Compression, string> = { gzip: '.gz', xz: '.xz', zstd: '.zst', none: '' };

/** The option fields of an output in the product model (model.ts Output), in its key order. */
export const OUTPUT_OPTION_FIELDS = {
  sizeBytes: z.number().int().positive().optional(),
  tag: z.string().optional(),
  compression: Compression.optional(),
  /** An ISO's volume label and boot menu title; the writer derives one from the file name without it. */
  label: z.string().optional(),
  /** The mkimage-profiles target of this output when it is not the product's (alt only): vm/regular-jeos-systemd. */
  profile: z.string().regex(/^(distro|vm|ve)\/[A-Za-z0-9][A-Za-z0-9_+-]*$/).optional(),
  /**
   * UEFI Secure Boot: true boots through the distribution's signed chain (shim, GRUB, kernel);
   * a key and cert (files relative to the recipe's directory; build-step-params.ts fences them)
   * sign the image's own boot binary with the recipe's key instead.
   */
  secureBoot: z.union([z.boolean(), z.strictObject({ key: z.string().min(1), cert: z.string().min(1) })]).optional(),
};

/** The keywords of `output <fmt> { ... }` and the model field each sets. */
export const OUTPUT_OPTION_KEYWORDS = { size: 'sizeBytes', tag: 'tag', compression: 'compression', label: 'label', profile: 'profile', 'secure-boot': 'secureBoot' } as const satisfies Record<string, keyof typeof OUTPUT_OPTION_FIELDS>;
export type OutputOptionKeyword = keyof typeof OUTPUT_OPTION_KEYWORDS;

/**
 * The toolchains a format may name. Spelled here rather than imported from arches.ts, which
 * imports schemas.ts, which reads this table (the import graph has no cycles); the format
 * test checks that the two agree.
 */
export type FormatToolchain = 'alt' | 'debian';

/** How a boot test hands the image to qemu: a disk (raw or qcow2), a cdrom, or not at all. */
export type BootSpec = { boot: 'disk'; diskFormat: 'raw' | 'qcow2' } | { boot: 'cdrom' } | { boot: 'none' };
export const BOOT_MEDIA = ['disk', 'cdrom', 'none'] as const;

export type FormatRow = BootSpec & {
  /** The file name's ending after the product's base name and a dot. */
  extension: string;
  /** A `compression` option shows in the file name (tar.gz); other formats compress inside. */
  compressionInName: boolean;
  /** A top-level directory of this name in a step's outputs also holds the artifact (an unpacked OCI layout). */
  directory?: string;
  /** The keywords `output <fmt> { ... }` takes, in the order the language's hints list them. */
  options: readonly OutputOptionKeyword[];
  /** The toolchains that build it. */
  toolchains: readonly FormatToolchain[];
  /** Where a toolchain builds it on some arches only: those arches (canonical names); others are refused at check time. */
  arches?: Partial<Record<FormatToolchain, readonly string[]>>;
  /** Where `secure-boot on` is built: the arches per toolchain whose signed chain the writer lays out. */
  secureBoot?: Partial<Record<FormatToolchain, readonly string[]>>;
  /** Bit-identical for the same lock (README, Reproducibility). */
  reproducible: boolean;
};

export const FORMATS = {
  iso: { extension: 'iso', compressionInName: false, options: ['label', 'profile', 'secure-boot'], toolchains: ['alt', 'debian'], arches: { debian: ['x86_64'] }, secureBoot: { debian: ['x86_64'] }, boot: 'cdrom', reproducible: true },
  img: { extension: 'img', compressionInName: false, options: ['size', 'profile', 'secure-boot'], toolchains: ['alt', 'debian'], secureBoot: { debian: ['x86_64'] }, boot: 'disk', diskFormat: 'raw', reproducible: true },
  qcow2: { extension: 'qcow2', compressionInName: false, options: ['size', 'profile', 'secure-boot'], toolchains: ['alt', 'debian'], secureBoot: { debian: ['x86_64'] }, boot: 'disk', diskFormat: 'qcow2', reproducible: true },
  tar: { extension: 'tar', compressionInName: true, options: ['compression', 'profile'], toolchains: ['alt', 'debian'], boot: 'none', reproducible: true },
  squashfs: { extension: 'squashfs', compressionInName: false, options: ['compression'], toolchains: ['debian'], boot: 'none', reproducible: true },
  oci: { extension: 'oci.tar', compressionInName: false, directory: 'oci', options: ['tag', 'profile'], toolchains: ['alt', 'debian'], boot: 'none', reproducible: true },
} as const satisfies Record<string, FormatRow>;

export type OutputFormat = keyof typeof FORMATS;
/** The format names in the table's order (the language's hints list them so). */
export const OUTPUT_FORMATS = Object.keys(FORMATS) as [OutputFormat, ...OutputFormat[]];
export const OutputFormatSchema = z.enum(OUTPUT_FORMATS);

/** The formats a toolchain builds, as a type: the debian writers are keyed by it. */
export type BuiltBy<T extends FormatToolchain> = { [K in OutputFormat]: T extends (typeof FORMATS)[K]['toolchains'][number] ? K : never }[OutputFormat];
/** The formats a boot test boots from a disk. */
export type DiskFormat = { [K in OutputFormat]: (typeof FORMATS)[K]['boot'] extends 'disk' ? K : never }[OutputFormat];

const row = (format: OutputFormat): FormatRow => FORMATS[format];

/** The formats a toolchain builds, in the table's order. */
export function formatsBuiltBy<T extends FormatToolchain>(toolchain: T): BuiltBy<T>[] {
  return OUTPUT_FORMATS.filter((f) => row(f).toolchains.includes(toolchain)) as BuiltBy<T>[];
}

/** Why a toolchain cannot build a format for an arch, or undefined when it can. */
export function archRefusal(format: OutputFormat, toolchain: FormatToolchain, arch: string): string | undefined {
  const only = row(format).arches?.[toolchain];
  if (!only || only.includes(arch)) return undefined;
  return `the ${toolchain} toolchain writes \`${format}\` images for ${only.join(', ')} only: its boot loader images for ${arch} are not built yet`;
}

/** Why `secure-boot on` cannot be built for this format, toolchain and arch, or undefined when it can. */
export function secureBootRefusal(format: OutputFormat, toolchain: FormatToolchain, arch: string): string | undefined {
  const only: readonly string[] = row(format).secureBoot?.[toolchain] ?? [];
  if (only.includes(arch)) return undefined;
  if (only.length === 0) return `the ${toolchain} toolchain lays out no Secure Boot chain in \`${format}\` images yet`;
  return `the ${toolchain} toolchain lays out a Secure Boot chain in \`${format}\` images for ${only.join(', ')} only: Debian's signed shim and GRUB for ${arch} are not laid out yet`;
}

/** qemu's image format for a disk format's file. */
export function diskImageFormat(format: DiskFormat): 'raw' | 'qcow2' {
  const r = row(format);
  if (r.boot !== 'disk') throw new Error(`output format "${format}" does not boot from a disk`);
  return r.diskFormat;
}

/** The keywords of `output <fmt> { ... }` per format (strings: the checker tests any keyword written). */
export const OUTPUT_OPTIONS = Object.fromEntries(OUTPUT_FORMATS.map((f) => [f, row(f).options])) as Record<OutputFormat, readonly string[]>;

/** What the language makes of `output <fmt> { ... }`: the format and only the options it takes. */
export function outputSchema(format: OutputFormat) {
  const fields = Object.fromEntries(row(format).options.map((k) => [OUTPUT_OPTION_KEYWORDS[k], OUTPUT_OPTION_FIELDS[OUTPUT_OPTION_KEYWORDS[k]]]));
  return z.strictObject({ format: z.literal(format), ...fields });
}

/** The file name's ending (no leading dot) the planner gives an output. */
export function fileExtension(output: { format: OutputFormat; compression?: Compression }): string {
  const r = row(output.format);
  return r.extension + (r.compressionInName && output.compression ? COMPRESSION_SUFFIX[output.compression] : '');
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Top-level names in a step's outputs that hold a format's artifact: its file names, or its directory. */
export function artifactNamePattern(format: OutputFormat): RegExp {
  const r = row(format);
  const suffixes = r.compressionInName ? Object.values(COMPRESSION_SUFFIX).filter(Boolean).map((s) => escape(s.slice(1))) : [];
  const file = `\\.${escape(r.extension)}${suffixes.length ? `(\\.(${suffixes.join('|')}))?` : ''}`;
  return new RegExp(r.directory ? `(${file}|^${escape(r.directory)})$` : `${file}$`);
}
