// The shape every `sborka <command>` module has; cli/sborka.ts dispatches to them.
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** Working directory relative paths are resolved against. */
  cwd: string;
}

export interface Command {
  name: string;
  /** One line for `sborka help`. */
  summary: string;
  usage: string;
  run(args: string[], io: CliIo): Promise<number>;
}

/** Exit codes: scripts and CI tell these apart. */
export const EXIT = {
  ok: 0,
  /** The build (or check) ran and failed. */
  failed: 1,
  /** The command line was wrong. */
  usage: 2,
  /** sborka itself could not do its work (server unreachable, I/O error). */
  internal: 3,
} as const;

/** An error whose message is for the person at the terminal: printed without a stack. */
export class UserError extends Error {
  constructor(message: string, public readonly exitCode: number = EXIT.failed) {
    super(message);
    this.name = 'UserError';
  }
}
