// Rows of `output FORMAT { }` and its options. Which format takes which option is the
// output-format table's (OUTPUT_OPTIONS); the options' values are checked here.
import { argText } from '../ast';
import type { Draft } from '../draft';
import { LIMITS } from '../../plan/literals';
import type { Output } from '../../plan/model';
import { didYouMean } from '../suggest';
import { checkProfile, checkRelativeSource, COMPRESSIONS, OUTPUT_FORMATS, OUTPUT_OPTIONS, type OutputFormat } from '../values';
import { applyBlock, atString } from './apply';
import { BOTH, type Property } from './types';

export const OUTPUT_OPTION_ROWS: readonly Property<Output>[] = [
  {
    keyword: 'size', block: 'output', form: ['SIZE'], syntax: 'size SIZE', merge: 'scalar', toolchains: BOTH,
    doc: 'a disk image\'s size, 64M to 16T',
    apply: (ctx, out, o) => {
      const a = o.args[0];
      if (a?.kind !== 'size') return;
      if (a.value < LIMITS.minImageBytes || a.value > LIMITS.maxImageBytes) ctx.err('size-out-of-range', `size ${a.text} is out of range (64M to 16T)`, a.span);
      else out.sizeBytes = a.value;
    },
  },
  {
    keyword: 'tag', block: 'output', form: ['STRING'], syntax: 'tag "TEMPLATE"', merge: 'scalar', toolchains: BOTH,
    doc: 'an OCI image\'s tag; a template',
    apply: (ctx, out, o) => {
      const a = o.args[0];
      if (a?.kind !== 'string') return;
      ctx.template({ value: a.value, span: a.span });
      if (!/^[A-Za-z0-9_{}][A-Za-z0-9_.{}-]{0,127}$/.test(a.value)) ctx.err('invalid-tag', `\`${a.value}\` is not an image tag (letters, digits, _ . -; up to 128)`, a.span);
      else out.tag = a.value;
    },
  },
  {
    keyword: 'compression', block: 'output', form: ['NAME'], syntax: 'compression none | gzip | xz | zstd', merge: 'scalar', toolchains: BOTH,
    doc: 'how a file system archive is compressed',
    apply: (ctx, out, o) => {
      const a = o.args[0];
      if (!a) return;
      const c = argText(a) ?? '';
      if (!(COMPRESSIONS as readonly string[]).includes(c)) ctx.err('unknown-compression', `\`${c}\` is not a compression`, a.span, didYouMean(c, COMPRESSIONS) ?? `one of ${COMPRESSIONS.join(', ')}`);
      else out.compression = c as Output['compression'];
    },
  },
  {
    keyword: 'label', block: 'output', form: ['STRING'], syntax: 'label "TEXT"', merge: 'scalar', toolchains: BOTH,
    doc: 'an ISO\'s volume label and boot menu title; default: the file name',
    apply: (ctx, out, o) => {
      const a = o.args[0];
      if (a?.kind !== 'string') return;
      // ISO 9660 volume ids hold 32 characters; GRUB's menu and xorriso take these as they are.
      if (!/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,31}$/.test(a.value)) ctx.err('invalid-label', `\`${a.value}\` is not a volume label (letters, digits, space . _ -; up to 32)`, a.span);
      else out.label = a.value;
    },
  },
  {
    // `key "F" cert "F"` reads as a NAME (`key`) and the rest: `secure-boot on` stays one token.
    keyword: 'secure-boot', block: 'output', form: ['NAME', { opt: ['STRING', { kw: 'cert' }, 'STRING'] }], syntax: 'secure-boot on | off | key "FILE" cert "FILE"', merge: 'scalar', toolchains: ['debian'],
    doc: 'an img, qcow2 or iso that boots with UEFI Secure Boot on (x86_64): `on` through Debian\'s signed shim, GRUB and kernel; `key` and `cert` (files relative to the recipe) sign a unified kernel image with the recipe\'s own key, whose cert the firmware must hold (img and qcow2)',
    apply: (ctx, out, o) => {
      const a = o.args[0];
      if (!a) return;
      const v = argText(a) ?? '';
      const [key, cert] = o.args.filter((x) => x.kind === 'string');
      if (v === 'key' && key?.kind === 'string' && cert?.kind === 'string') {
        const bad = [key, cert].filter((f) => ctx.problem('path-escapes-root', checkRelativeSource(f.value), f.span));
        if (bad.length === 0) out.secureBoot = { key: ctx.fromFile(key.span.file, key.value), cert: ctx.fromFile(cert.span.file, cert.value) };
      } else if (v === 'key' || key) ctx.err('invalid-secure-boot', 'a Secure Boot key needs its cert: `secure-boot key "FILE" cert "FILE"`', a.span, 'secure-boot key "keys/db.key" cert "keys/db.crt"');
      else if (v !== 'on' && v !== 'off') ctx.err('invalid-secure-boot', `\`${v}\` is not on, off or key`, a.span, 'secure-boot on, secure-boot off, or secure-boot key "FILE" cert "FILE"');
      else out.secureBoot = v === 'on';
    },
  },
  {
    keyword: 'profile', block: 'output', form: ['NAME'], syntax: 'profile KIND/TARGET', merge: 'scalar', toolchains: ['alt'],
    doc: 'the mkimage-profiles target of this output when it is not the product\'s: `vm/` for img and qcow2, `ve/` for tar and oci, `distro/` for iso',
    apply: (ctx, out, o) => {
      const v = atString(o.args[0]);
      if (v && !ctx.problem('invalid-profile', checkProfile(v.value), v.span)) out.profile = v.value;
    },
  },
];

export const OUTPUT: Property<Draft> = {
  keyword: 'output', block: 'product', form: ['NAME', { opt: [{ body: 'output' }] }], syntax: 'output FORMAT [{ OPTIONS }]', merge: 'by-format', toolchains: BOTH,
  doc: 'an image to build; each format at most once',
  apply: (ctx, d, s) => {
    const fmtArg = s.args[0];
    const fmt = argText(fmtArg);
    if (!fmtArg || !fmt) return;
    if (!(OUTPUT_FORMATS as readonly string[]).includes(fmt)) {
      ctx.err('unknown-output-format', `\`${fmt}\` is not an output format`, fmtArg.span, didYouMean(fmt, OUTPUT_FORMATS) ?? `formats: ${OUTPUT_FORMATS.join(', ')}`);
      return;
    }
    const format = fmt as OutputFormat;
    const takes: readonly string[] = OUTPUT_OPTIONS[format];
    // Options merge over the same format's options from a base.
    const out: Output = { ...(d.outputs.get(format)?.value ?? { format }) };
    const body = (s.body ?? []).filter((o) => {
      if (takes.includes(o.keyword)) return true;
      ctx.err('unknown-output-option', `\`${o.keyword}\` is not an option of \`${format}\` outputs`, o.keywordSpan, takes.length ? `\`${format}\` takes ${takes.map((t) => `\`${t}\``).join(', ')}` : `\`${format}\` takes no options`);
      return false;
    });
    applyBlock(ctx, OUTPUT_OPTION_ROWS, 'output', out, body);
    d.outputs.set(format, { value: out, span: s.span });
  },
};
