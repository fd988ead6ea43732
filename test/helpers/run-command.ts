// Runs one sborka command in-process, as the CLI would, and keeps what it printed.
import { PassThrough } from 'node:stream';
import type { Command } from '../../cli/command';

export async function runCommand(command: Command, args: string[], cwd: string): Promise<{ code: number; text: string; stderr: string }> {
  const capture = () => {
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on('data', (d: Buffer) => chunks.push(d));
    return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
  };
  const out = capture();
  const err = capture();
  const code = await command.run(args, { stdout: out.stream, stderr: err.stream, cwd });
  return { code, text: out.text(), stderr: err.text() };
}
