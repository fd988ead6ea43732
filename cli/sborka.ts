#!/usr/bin/env node
// `sborka <command> [args]`: dispatches to one module per command under cli/commands/.
import { EXIT, UserError, type CliIo, type Command } from './command';
import { COMMANDS } from './commands';

function help(io: CliIo): void {
  io.stdout.write('usage: sborka <command> [options]\n\ncommands:\n');
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  for (const c of COMMANDS) io.stdout.write(`  ${c.name.padEnd(width)}  ${c.summary}\n`);
  io.stdout.write('\n`sborka <command> --help` shows a command\'s usage.\n');
}

/** The message and every cause under it: Temporal wraps the reason (a validator's refusal) as the cause. */
export function describeError(e: unknown): string {
  const parts: string[] = [];
  for (let cur: unknown = e; cur && parts.length < 5; cur = (cur as { cause?: unknown }).cause) {
    const message = cur instanceof Error ? cur.message : String(cur);
    if (message && !parts.includes(message)) parts.push(message);
  }
  return parts.join(': ') || String(e);
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    help(io);
    return name ? EXIT.ok : EXIT.usage;
  }
  const command: Command | undefined = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr.write(`sborka: unknown command "${name}" (sborka help lists them)\n`);
    return EXIT.usage;
  }
  // Only sborka's own options: whatever follows `--` belongs to a command run inside (vm-run).
  const ownArgs = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
  if (ownArgs.includes('--help') || ownArgs.includes('-h')) {
    io.stdout.write(`${command.summary}\nusage: ${command.usage}\n`);
    return EXIT.ok;
  }
  try {
    return await command.run(args, io);
  } catch (e) {
    if (e instanceof UserError) {
      io.stderr.write(`sborka ${name}: ${e.message}\n`);
      return e.exitCode;
    }
    // Not a stack trace for the person: the cause, and where the details are.
    const err = e as Error;
    io.stderr.write(`sborka ${name}: ${describeError(e)}\n`);
    if (process.env.SBORKA_DEBUG) io.stderr.write(`${err.stack}\n`);
    return EXIT.internal;
  }
}

/**
 * Waits until everything written to the stream has been handed to the OS. A pipe takes
 * writes asynchronously once its buffer is full, and process.exit drops what is still
 * queued: a write's callback runs only after every earlier write has gone out.
 */
export function drained(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    if ((stream as { destroyed?: boolean }).destroyed || (stream as { writableEnded?: boolean }).writableEnded) return resolve();
    // An error (EPIPE: the reader went away) also ends the wait: there is nobody left to read it.
    stream.once('error', () => resolve());
    stream.write('', () => resolve());
  });
}

/** Exits with `code` once stdout and stderr are fully written: every command ends here. */
export async function exitAfterOutput(code: number): Promise<never> {
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}

if (require.main === module) {
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() }).then(
    (code) => exitAfterOutput(code),
    (e) => {
      process.stderr.write(`sborka: ${String(e)}\n`);
      return exitAfterOutput(EXIT.internal);
    },
  );
}
