// Secure Boot with the recipe's own key (`secure-boot key "..." cert "..."`). The chain is one
// binary: a unified kernel image (systemd's EFI stub from the root, package systemd-boot-efi,
// with the root's kernel, initramfs and command line as PE sections) signed with that key and
// installed as the ESP's removable-media loader. Firmware whose db holds the cert starts it
// and nothing else: shim would need the cert built in or enrolled as a MOK, and Debian's
// signed GRUB verifies kernels only through shim, so one signed file that also covers the
// initramfs and the command line is the shortest chain that Secure Boot really enforces.
//
// The key and cert are a partner's files: fenced to the recipe directory (recipe-inputs.ts),
// regular files of bounded size, PEM, the key unencrypted and matching the cert. The key's
// bytes live only in a 0600 file for sbsign's run and are removed after it; no message,
// value or log line carries them (the cert, which is public, goes into the build's values so
// the boot test can enroll it).
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../../config/config';
import { badInput } from '../failures';
import { recipeInput } from '../recipe-inputs';
import { clampTime, type SigningKey, type WriterContext } from './writers/common';

/** A PEM key or cert is a few KiB; anything far larger is not one. */
export const MAX_KEY_FILE_BYTES = 64 * 1024;
/** systemd-boot-efi's stub, relative to the root. */
export const UKI_STUB = 'usr/lib/systemd/boot/efi/linuxx64.efi.stub';

type KeyFiles = { key: string; cert: string };

async function readBounded(stepId: string, field: string, rel: string, recipeDir: string | undefined, config: Config): Promise<Buffer> {
  const real = await recipeInput(stepId, field, rel, recipeDir, config);
  // O_NOFOLLOW on the resolved path: what was fenced is what is read; O_NONBLOCK: a FIFO does not hang the step.
  const fh = await fs.open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => {
    throw badInput(`step "${stepId}": params.${field}: ${JSON.stringify(rel)} cannot be opened`);
  });
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw badInput(`step "${stepId}": params.${field}: ${JSON.stringify(rel)} is not a regular file`);
    if (st.size > MAX_KEY_FILE_BYTES) throw badInput(`step "${stepId}": params.${field}: ${JSON.stringify(rel)} is ${st.size} bytes; a PEM key or cert is at most ${MAX_KEY_FILE_BYTES}`);
    const buf = Buffer.alloc(st.size);
    const { bytesRead } = await fh.read(buf, 0, st.size, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Reads and checks the recipe's key and cert; errors name the files, never their bytes. */
export async function readSigningKey(stepId: string, files: KeyFiles, recipeDir: string | undefined, config: Config): Promise<SigningKey> {
  const key = await readBounded(stepId, 'output.secureBoot.key', files.key, recipeDir, config);
  const cert = await readBounded(stepId, 'output.secureBoot.cert', files.cert, recipeDir, config);
  const refuse = (why: string) => badInput(`step "${stepId}": secure-boot key ${JSON.stringify(files.key)} cert ${JSON.stringify(files.cert)}: ${why}`);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw refuse('the cert is not an X.509 certificate (PEM or DER)');
  }
  if (!/^-----BEGIN (RSA |EC )?PRIVATE KEY-----/m.test(key.toString('latin1'))) throw refuse('the key is not an unencrypted PEM private key');
  let priv: ReturnType<typeof createPrivateKey>;
  try {
    priv = createPrivateKey({ key, format: 'pem' });
  } catch {
    throw refuse('the key cannot be read as an unencrypted PEM private key');
  }
  if (!x509.checkPrivateKey(priv)) throw refuse('the key does not belong to the cert');
  return { keyPem: key, certPem: x509.toString(), subject: x509.subject.replace(/\n/g, ', '), fingerprint256: x509.fingerprint256 };
}

/** What joins the build's cache key: a new key or cert builds a new image. */
export async function signingKeyDigest(stepId: string, files: KeyFiles, recipeDir: string | undefined, config: Config): Promise<string> {
  const k = await readSigningKey(stepId, files, recipeDir, config);
  return createHash('sha256').update('sborka secure-boot key\0').update(k.keyPem).update('\0').update(k.certPem).digest('hex');
}

/**
 * argv run with the clock frozen at the lock's time (libfaketime; TZ=UTC): objcopy stamps the
 * PE header and sbsign the signature with the time, which must be the lock's, not the build's.
 */
export function atLockTime(epoch: number, argv: readonly string[]): string[] {
  return ['faketime', '-f', new Date(epoch * 1000).toISOString().replace('T', ' ').slice(0, 19), ...argv];
}

/**
 * Signs `input` into `output` with the key. The key is written for sbsign's run only, 0600,
 * and removed whatever happens; sbsign runs at the lock's time (faketime) so that the
 * signature's signing time, and so the image, is the same for the same lock.
 */
export async function signEfi(w: WriterContext, key: SigningKey, input: string, output: string, epoch: number): Promise<void> {
  const dir = await fs.mkdtemp(path.join(w.workDir, 'sbsign-'));
  const keyFile = path.join(dir, 'db.key');
  const certFile = path.join(dir, 'db.crt');
  try {
    await fs.writeFile(keyFile, key.keyPem, { mode: 0o600 });
    await fs.writeFile(certFile, key.certPem);
    await w.runQuiet(atLockTime(epoch, ['sbsign', '--key', keyFile, '--cert', certFile, '--output', output, input]), path.join(w.workDir, 'sbsign.log'), { env: { TZ: 'UTC' } });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  await clampTime(output, epoch);
}

/** Section placement after the stub's last section (the layout the systemd stub reads). */
export function ukiSections(objdumpH: string, sizes: ReadonlyArray<{ name: string; bytes: number }>): Array<{ name: string; vma: number }> {
  let end = 0;
  for (const m of objdumpH.matchAll(/^\s*\d+\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s/gm)) end = Math.max(end, parseInt(m[2]!, 16) + parseInt(m[1]!, 16));
  if (end === 0) throw badInput('secure-boot: cannot read the EFI stub\'s sections');
  const align = (n: number) => Math.ceil(n / 0x1000) * 0x1000;
  const out: Array<{ name: string; vma: number }> = [];
  let at = align(end);
  for (const s of sizes) {
    out.push({ name: s.name, vma: at });
    at = align(at + s.bytes);
  }
  return out;
}

export interface UkiRequest { root: string; kernel: string; initrd?: string; cmdline: string; epoch: number }

/** The unified kernel image, signed with the recipe's key: the file the ESP boots. */
export async function signedUki(w: WriterContext, key: SigningKey, req: UkiRequest): Promise<string> {
  const stub = path.join(req.root, UKI_STUB);
  if (!(await fs.lstat(stub).catch(() => undefined))?.isFile()) {
    throw badInput(`secure-boot key: the root has no /${UKI_STUB}; add systemd-boot-efi to the recipe's packages (its EFI stub carries the kernel in the signed image)`);
  }
  const dir = path.join(w.workDir, 'uki');
  await fs.mkdir(dir, { recursive: true });
  const cmdline = path.join(dir, 'cmdline');
  await fs.writeFile(cmdline, `${req.cmdline}\0`);
  const files = [
    // /etc/os-release is a link to this one in Debian (base-files); objcopy must not follow a link out of the root.
    { name: '.osrel', file: path.join(req.root, 'usr/lib/os-release') },
    { name: '.cmdline', file: cmdline },
    ...(req.initrd ? [{ name: '.initrd', file: path.join(req.root, req.initrd) }] : []),
    { name: '.linux', file: path.join(req.root, req.kernel) },
  ];
  const sizes = await Promise.all(files.map(async (f) => ({ name: f.name, bytes: (await fs.stat(f.file)).size })));
  const log = path.join(dir, 'objdump.log');
  await w.runQuiet(['objdump', '-h', stub], log);
  const placed = ukiSections(await fs.readFile(log, 'utf8'), sizes);
  const unsigned = path.join(dir, 'unsigned.efi');
  w.progress({ phase: 'unified kernel image' });
  await w.run(atLockTime(req.epoch, [
    'objcopy',
    ...files.flatMap((f, i) => ['--add-section', `${f.name}=${f.file}`, '--change-section-vma', `${f.name}=0x${placed[i]!.vma.toString(16)}`]),
    stub, unsigned,
  ]), { env: { TZ: 'UTC' } });
  const signed = path.join(dir, 'BOOTX64.EFI');
  await signEfi(w, key, unsigned, signed, req.epoch);
  return signed;
}
