// Detached signatures of SHA256SUMS with the real tools: gpg (armored .asc) and/or minisign
// (.minisig). Programs run through a runner the caller gives: the step's process runner in
// an activity (logged, cancellable), a plain spawn in the CLI.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SigningConfig } from '../../publish/config-schema';

export type Runner = (argv: readonly string[]) => Promise<void>;

export interface Signer {
  /** Signature files it writes next to a file, by suffix. */
  suffixes: string[];
  /** Writes `<file><suffix>` for each suffix. */
  sign(file: string, comment: string): Promise<void>;
  /** Throws naming the problem when the key cannot be used (preflight). */
  check(): Promise<void>;
}

export function gpgHome(config: NonNullable<SigningConfig['gpg']>): string {
  return config.homedir ?? process.env.GNUPGHOME ?? path.join(os.homedir(), '.gnupg');
}

/** undefined when the configuration explicitly asks for unsigned publishing. */
export function makeSigner(config: SigningConfig, run: Runner): Signer | undefined {
  const { gpg, minisign } = config;
  if (!gpg && !minisign) {
    if (config.unsigned) return undefined;
    throw new Error('no signing key is configured (signing.gpg or signing.minisign); set signing.unsigned to publish without signatures');
  }
  const suffixes = [...(gpg ? ['.asc'] : []), ...(minisign ? ['.minisig'] : [])];
  return {
    suffixes,
    async sign(file, comment) {
      if (gpg) {
        await run([
          'gpg', '--batch', '--yes', '--homedir', gpgHome(gpg), '--local-user', gpg.key,
          ...(gpg.passphraseFile ? ['--pinentry-mode', 'loopback', '--passphrase-file', gpg.passphraseFile] : []),
          '--armor', '--detach-sign', '--output', `${file}.asc`, '--', file,
        ]);
      }
      if (minisign) {
        // -t: the trusted comment is signed too, so it names what the file belongs to.
        await run(['minisign', '-S', '-s', minisign.secretKey, '-m', file, '-x', `${file}.minisig`, '-t', comment.replace(/\n/g, ' ')]);
      }
    },
    async check() {
      if (gpg) await run(['gpg', '--batch', '--homedir', gpgHome(gpg), '--list-secret-keys', '--', gpg.key]);
      if (minisign) {
        const text = await fs.readFile(minisign.secretKey, 'utf8').catch((err: NodeJS.ErrnoException) => {
          throw new Error(`minisign secret key ${minisign.secretKey}: ${err.code ?? err.message}`);
        });
        if (!/^untrusted comment:/.test(text)) throw new Error(`minisign secret key ${minisign.secretKey} is not a minisign key`);
      }
    },
  };
}

/** A runner for code outside an activity: argv only, stdin closed, the tool's stderr in the error. */
export const spawnRunner: Runner = (argv) =>
  new Promise((resolve, reject) => {
    const [program, ...args] = argv;
    if (!program) return reject(new Error('empty argv'));
    const child = execFile(program, args, { maxBuffer: 4 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${argv.join(' ')}: ${stderr.trim().split('\n').slice(-3).join(' | ') || err.message}`));
      else resolve();
    });
    child.stdin?.end();
  });
