// The recipe's Secure Boot key is a partner's file: the worker reads it only from inside the
// recipe directory (symlinks out, `..`, absolute paths, the state directory refused), only as
// a bounded regular file, only as an unencrypted PEM key that belongs to the cert; no refusal
// carries the key's bytes. Its digest joins the build's cache key; the signed unified kernel image
// is the same bytes for the same lock. Light: openssl, grub-mkimage, objcopy, sbsign; no VM.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MAX_KEY_FILE_BYTES, readSigningKey, signedUki, UKI_STUB, ukiSections } from '../../activities/debian/secure-boot-key';
import type { WriterContext } from '../../activities/debian/writers';
import { debianBuildKind } from '../../activities/debian/images';
import type { Step } from '../../plan/plan';
import { makeTmpDir, removeDir, testConfig } from '../activities/helpers';

let state: string;
let recipe: string;
let outside: string;
const config = () => testConfig(state);
const at = (...p: string[]) => path.join(recipe, ...p);
const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
const newKey = (dir: string, name: string) => openssl(['req', '-new', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', `/CN=${name}/`, '-keyout', path.join(dir, `${name}.key`), '-out', path.join(dir, `${name}.crt`)]);
const read = (key: string, cert = 'keys/db.crt') => readSigningKey('build-img', { key, cert }, recipe, config());

beforeAll(() => {
  state = makeTmpDir('sborka-sb-key-state-');
  recipe = makeTmpDir('sborka-sb-key-recipe-');
  outside = makeTmpDir('sborka-sb-key-outside-');
  fs.mkdirSync(at('keys'));
  newKey(at('keys'), 'db');
  newKey(at('keys'), 'other');
  newKey(outside, 'stolen');
});
afterAll(() => [state, recipe, outside].forEach(removeDir));

describe('secure-boot key: the worker\'s fence around the key and cert', () => {
  it('reads a matching key and cert, with the cert\'s subject and fingerprint', async () => {
    const k = await read('keys/db.key');
    expect(k.subject).toBe('CN=db');
    expect(k.certPem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(k.keyPem.equals(fs.readFileSync(at('keys/db.key')))).toBe(true);
    expect(k.fingerprint256).toMatch(/^[0-9A-F:]{95}$/);
  });

  it.each([
    ['/etc/ssl/private/x.key', /is absolute/],
    ['../x.key', /has a "\.\." segment/],
    ['keys/missing.key', /does not exist in the recipe directory/],
  ])('refuses %s', async (key, why) => {
    await expect(read(key)).rejects.toThrow(why);
  });

  it('refuses a symlink that leads out of the recipe directory, and one into the state directory', async () => {
    fs.symlinkSync(path.join(outside, 'stolen.key'), at('keys/link-out.key'));
    await expect(read('keys/link-out.key')).rejects.toThrow(/leads outside the recipe directory/);
    fs.writeFileSync(path.join(state, 'signing.key'), 'x');
    fs.symlinkSync(state, at('state'));
    await expect(read('state/signing.key')).rejects.toThrow(/leads outside the recipe directory/);
  });

  it('refuses a directory, a FIFO, a huge file, and a key whose bytes never reach the message', async () => {
    fs.mkdirSync(at('keys/dir.key'));
    await expect(read('keys/dir.key')).rejects.toThrow(/is not a regular file/);
    execFileSync('mkfifo', [at('keys/fifo.key')]);
    await expect(read('keys/fifo.key')).rejects.toThrow(/is not a regular file/);
    fs.writeFileSync(at('keys/huge.key'), Buffer.alloc(MAX_KEY_FILE_BYTES + 1, 65));
    await expect(read('keys/huge.key')).rejects.toThrow(new RegExp(`is ${MAX_KEY_FILE_BYTES + 1} bytes`));
    const err = await read('keys/other.key').catch((e: Error) => e);
    expect(String(err)).toMatch(/the key does not belong to the cert/);
    const pem = fs.readFileSync(at('keys/other.key'), 'utf8').split('\n')[3]!;
    expect(String(err)).not.toContain(pem);
  });

  it('refuses an encrypted key, a cert that is not one, and a key that is not PEM', async () => {
    openssl(['pkey', '-in', at('keys/db.key'), '-out', at('keys/enc.key'), '-aes256', '-passout', 'pass:secret']);
    await expect(read('keys/enc.key')).rejects.toThrow(/not an unencrypted PEM private key/);
    await expect(read('keys/db.key', 'keys/db.key')).rejects.toThrow(/the cert is not an X\.509 certificate/);
    fs.writeFileSync(at('keys/text.key'), 'hello\n');
    await expect(read('keys/text.key')).rejects.toThrow(/not an unencrypted PEM private key/);
  });

  it('joins the build\'s cache key: another key, another digest; no key, none', async () => {
    const step = (secureBoot: unknown): Step => ({ id: 'b', kind: 'build', needs: [], cacheable: true, params: { toolchain: 'debian', branch: 'bookworm', arch: 'x86_64', output: { format: 'img', secureBoot }, fileName: 'x.img', recipeDir: recipe } } as unknown as Step);
    const digest = (sb: unknown) => debianBuildKind.hostInputs!(step(sb), config());
    const a = await digest({ key: 'keys/db.key', cert: 'keys/db.crt' });
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(await digest({ key: 'keys/db.key', cert: 'keys/db.crt' })).toBe(a);
    fs.copyFileSync(at('keys/other.key'), at('keys/db2.key'));
    fs.copyFileSync(at('keys/other.crt'), at('keys/db2.crt'));
    expect(await digest({ key: 'keys/db2.key', cert: 'keys/db2.crt' })).not.toBe(a);
    expect(await digest(true)).toBeUndefined();
  });
});

describe('the unified kernel image\'s layout', () => {
  it('places the sections page-aligned after the stub\'s last one, in order, without overlap', () => {
    const objdump = [
      'Idx Name          Size      VMA               LMA               File off  Algn',
      '  0 .text         0000bff0  0000000000004000  0000000000004000  00000400  2**4',
      '  7 .sdmagic      00000034  0000000000019100  0000000000019100  00011200  2**2',
    ].join('\n');
    expect(ukiSections(objdump, [{ name: '.osrel', bytes: 300 }, { name: '.linux', bytes: 0x1001 }, { name: '.initrd', bytes: 1 }]))
      .toEqual([{ name: '.osrel', vma: 0x1a000 }, { name: '.linux', vma: 0x1b000 }, { name: '.initrd', vma: 0x1d000 }]);
    expect(() => ukiSections('nothing', [])).toThrow(/cannot read the EFI stub/);
  });
});

describe('the signed unified kernel image', () => {
  // A real PE stands in for systemd's stub (grub-mkimage's EFI image) and random bytes for the
  // kernel and initramfs: objcopy and sbsign treat them alike. The programs run for real.
  const execIn = (workDir: string): WriterContext => {
    const exec = (argv: readonly string[], env: Record<string, string> = {}, log?: string) => {
      const out = execFileSync(argv[0]!, argv.slice(1), { cwd: workDir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      if (log) fs.writeFileSync(log, out);
      return Promise.resolve({ exitCode: 0 } as never);
    };
    return { workDir, signal: new AbortController().signal, progress: () => undefined, run: (argv, o) => exec(argv, o?.env), runQuiet: (argv, log, o) => exec(argv, o?.env, log) };
  };
  const fakeRoot = (dir: string) => {
    fs.mkdirSync(path.join(dir, path.dirname(UKI_STUB)), { recursive: true });
    execFileSync('grub-mkimage', ['--directory', '/usr/lib/grub/x86_64-efi', '--format', 'x86_64-efi', '--prefix', '/boot/grub', '--output', path.join(dir, UKI_STUB), 'normal']);
    fs.mkdirSync(path.join(dir, 'boot'));
    fs.mkdirSync(path.join(dir, 'usr/lib'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'usr/lib/os-release'), 'ID=debian\n');
    fs.writeFileSync(path.join(dir, 'boot/vmlinuz-test'), Buffer.alloc(300_000, 7));
    fs.writeFileSync(path.join(dir, 'boot/initrd.img-test'), Buffer.alloc(100_000, 9));
  };

  it('is the same bytes from two builds at different times, verifies with the cert, and leaves no key behind', async () => {
    const key = await read('keys/db.key');
    const root = makeTmpDir('sborka-sb-uki-root-');
    const works = [makeTmpDir('sborka-sb-uki-a-'), makeTmpDir('sborka-sb-uki-b-')];
    try {
      fakeRoot(root);
      const req = { root, kernel: 'boot/vmlinuz-test', initrd: 'boot/initrd.img-test', cmdline: 'root=UUID=x ro', epoch: 1_700_000_000 };
      const first = await signedUki(execIn(works[0]!), key, req);
      await new Promise((r) => setTimeout(r, 1100));
      const second = await signedUki(execIn(works[1]!), key, req);
      expect(sha256(second)).toBe(sha256(first));
      execFileSync('sbverify', ['--cert', at('keys/db.crt'), first], { stdio: 'ignore' });
      expect(() => execFileSync('sbverify', ['--cert', at('keys/other.crt'), first], { stdio: 'ignore' })).toThrow();
      const sections = execFileSync('objdump', ['-h', first]).toString();
      for (const s of ['.osrel', '.cmdline', '.initrd', '.linux']) expect(sections).toContain(s);
      const line = fs.readFileSync(at('keys/db.key'), 'utf8').split('\n')[2]!;
      for (const w of works) {
        for (const f of fs.readdirSync(w, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())) {
          expect({ f: f.name, key: fs.readFileSync(path.join(f.parentPath, f.name)).includes(line) }).toEqual({ f: f.name, key: false });
        }
      }
      await expect(signedUki(execIn(works[0]!), key, { ...req, root: works[1]! })).rejects.toThrow(/add systemd-boot-efi to the recipe's packages/);
    } finally {
      [root, ...works].forEach(removeDir);
    }
  });
});

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}
