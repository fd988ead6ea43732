// The image writers by output format: one for every format plan/formats.ts gives the debian toolchain.
import { formatsBuiltBy, type BuiltBy } from '../../../plan/formats';
import { badInput } from '../../failures';
import type { ImageRequest, RootSource, WriterContext, WrittenImage } from './common';
import { writeImg } from './img';
import { writeIso } from './iso';
import { writeOci } from './oci';
import { writeQcow2 } from './qcow2';
import { writeSquashfs } from './squashfs';
import { writeTar } from './tar';

type Writer = (w: WriterContext, src: RootSource, req: ImageRequest, outputsDir: string) => Promise<WrittenImage>;

const WRITERS: Record<BuiltBy<'debian'>, Writer> = { tar: writeTar, squashfs: writeSquashfs, img: writeImg, qcow2: writeQcow2, oci: writeOci, iso: writeIso };

/** The formats with a writer and those the table says debian builds, where they differ (none: checked at load). */
export function writerMismatch(): { noWriter: string[]; notInTable: string[] } {
  const table: readonly string[] = formatsBuiltBy('debian');
  return { noWriter: table.filter((f) => !Object.hasOwn(WRITERS, f)), notInTable: Object.keys(WRITERS).filter((f) => !table.includes(f)) };
}

{
  const { noWriter, notInTable } = writerMismatch();
  if (noWriter.length || notInTable.length) {
    throw new Error(`debian writers and plan/formats.ts disagree: no writer for ${noWriter.join(', ') || '-'}; writers for formats debian does not build: ${notInTable.join(', ') || '-'}`);
  }
}

export function writerFor(format: string): Writer {
  const writer = Object.hasOwn(WRITERS, format) ? WRITERS[format as BuiltBy<'debian'>] : undefined;
  if (!writer) throw badInput(`output format "${format}" is not built by the debian toolchain (it builds ${Object.keys(WRITERS).join(', ')})`);
  return writer;
}

export * from './common';
