// Plan-time checks of `secure-boot` (the worker checks the real binaries again, with sbverify:
// activities/debian/secure-boot.ts). `secure-boot on` boots through Debian's signed shim, so
// only a kernel Debian signs can start: a kernel flavour or kernel package Debian does not
// sign is refused here, at the statement that chose it, unless the output names the recipe's
// own key (`secure-boot key "..." cert "..."`), which signs whatever kernel the root has.
import { posix } from 'node:path';
import type { ToolchainName } from '../plan/arches';
import type { DiagnosticSink } from './diagnostics';
import type { Draft } from './draft';

/** Debian's signed kernels per arch: the flavours whose images linux-signed-<arch> builds, and their package names. */
export const DEBIAN_SIGNED_KERNELS: Partial<Record<string, { flavours: readonly string[]; image: RegExp }>> = {
  // default/generic/std are linux-image-amd64 (activities/debian/resolve.ts); -unsigned and
  // any other linux-image-* (a partner's own kernel) carry no Debian signature.
  x86_64: { flavours: ['default', 'generic', 'std', 'cloud', 'rt'], image: /^linux-image-(?:\d[A-Za-z0-9.+~-]*-)?(?:cloud-|rt-)?amd64$/ },
};

/** The formats whose writer signs with the recipe's key (a unified kernel image on the ESP). */
const KEY_SIGNED_FORMATS: ReadonlySet<string> = new Set(['img', 'qcow2']);

const KEY_HINT = 'or sign the chain with your own key: `secure-boot key "keys/db.key" cert "keys/db.crt"`';

/** Problems of the draft's `secure-boot` outputs for one arch; rootDir is the declaring recipe's directory. */
export function checkSecureBoot(d: Draft, toolchain: ToolchainName, arch: string, rootDir: string, sink: DiagnosticSink): void {
  if (toolchain !== 'debian') return;
  const outputs = [...d.outputs.entries()].filter(([, o]) => o.value.secureBoot !== undefined && o.value.secureBoot !== false);
  for (const [fmt, o] of outputs) {
    const sb = o.value.secureBoot;
    if (typeof sb !== 'object') continue;
    if (!KEY_SIGNED_FORMATS.has(fmt)) {
      sink.error('unsupported-secure-boot-key', `the debian toolchain signs \`${fmt}\` images with Debian's chain only: \`secure-boot key\` is for ${[...KEY_SIGNED_FORMATS].join(' and ')}`, o.span, 'use `secure-boot on` here, or an img/qcow2 output');
    }
    for (const file of [sb.key, sb.cert]) {
      if (posix.relative(rootDir, file).split('/').includes('..')) {
        sink.error('path-escapes-root', `\`${file}\` lies outside \`${rootDir || '.'}\`, the directory of the recipe that declares the product`, o.span, 'keep the key and cert in or under that directory');
      }
    }
  }
  if (!outputs.some(([, o]) => o.value.secureBoot === true)) return;
  const signed = DEBIAN_SIGNED_KERNELS[arch];
  if (!signed) return; // unsupported-secure-boot says why (plan/formats.ts)
  const formats = outputs.filter(([, o]) => o.value.secureBoot === true).map(([f]) => `\`${f}\``).join(', ');
  for (const k of d.kernels ?? []) {
    if (signed.flavours.includes(k.value)) continue;
    sink.error(
      'unsigned-kernel',
      `kernel flavour \`${k.value}\` is not one Debian signs for ${arch}, so shim would refuse to start it: ${formats} ${outputs.length > 1 ? 'have' : 'has'} \`secure-boot on\``,
      k.span,
      `Debian signs ${signed.flavours.filter((f) => f !== 'generic' && f !== 'std').join(', ')}; ${KEY_HINT}`,
    );
  }
  for (const [name, span] of d.packages) {
    if (!name.startsWith('linux-image-') || name.endsWith('-dbg') || signed.image.test(name)) continue;
    sink.error(
      'unsigned-kernel',
      `\`${name}\` is a kernel Debian does not sign${name.endsWith('-unsigned') ? '' : ' (not one of its linux-image-*-amd64 images)'}, so shim would refuse to start it: ${formats} ${outputs.length > 1 ? 'have' : 'has'} \`secure-boot on\``,
      span,
      `choose the kernel with \`kernel\` (Debian's signed flavours: ${signed.flavours.filter((f) => f !== 'generic' && f !== 'std').join(', ')}), ${KEY_HINT}`,
    );
  }
}
