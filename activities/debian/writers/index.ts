// The image writers by output format.
import { badInput } from '../../failures';
import type { ImageRequest, RootSource, WriterContext, WrittenImage } from './common';
import { writeImg } from './img';
import { writeOci } from './oci';
import { writeQcow2 } from './qcow2';
import { writeSquashfs } from './squashfs';
import { writeTar } from './tar';

type Writer = (w: WriterContext, src: RootSource, req: ImageRequest, outputsDir: string) => Promise<WrittenImage>;

const WRITERS: Record<string, Writer> = { tar: writeTar, squashfs: writeSquashfs, img: writeImg, qcow2: writeQcow2, oci: writeOci };

export function writerFor(format: string): Writer {
  const writer = WRITERS[format];
  if (!writer) throw badInput(`output format "${format}" is not built by the debian toolchain (it builds ${Object.keys(WRITERS).join(', ')})`);
  return writer;
}

export * from './common';
