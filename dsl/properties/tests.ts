// Rows of `test` and its options, and of `publish`.
import { argText, type Arg, type Stmt } from '../ast';
import type { Draft } from '../draft';
import { LIMITS } from '../../plan/literals';
import { didYouMean } from '../suggest';
import { checkAbsoluteTarget, checkRegistryRef, splitCommand, TEMPLATE_VARS } from '../values';
import { checkTwice } from './apply';
import { BOTH, type Ctx, type Property } from './types';

/** Placeholders of `publish files` paths: the template ones plus `{build}`, filled at publish time. */
const FILES_TEMPLATE_VARS = [...TEMPLATE_VARS, 'build'] as const;
const MAX_KEEP = 1000;

/** A test's options are read by the `test` row, per kind; `only` says which kinds take each. */
export const TEST_OPTIONS: readonly Property<never>[] = [
  { keyword: 'timeout', block: 'test', form: ['DURATION'], syntax: 'timeout DURATION', merge: 'scalar', toolchains: BOTH, only: ['boot', 'run'], doc: 'how long the test may take, 1s to 24h (boot 10m, run 5m)' },
  { keyword: 'expect', block: 'test', form: ['STRING'], syntax: 'expect "TEXT"', merge: 'scalar', toolchains: BOTH, only: ['boot'], doc: 'what the console shows once booted (default "login:")' },
  { keyword: 'exit', block: 'test', form: ['INT'], syntax: 'exit CODE', merge: 'scalar', toolchains: BOTH, only: ['run'], doc: 'the exit status expected, 0 to 255' },
  { keyword: 'output', block: 'test', form: ['STRING'], syntax: 'output "TEXT"', merge: 'scalar', toolchains: BOTH, only: ['run'], doc: 'text the command must print' },
];

function applyTest(ctx: Ctx, d: Draft, s: Stmt): void {
  const kind = argText(s.args[0]) ?? '';
  const body = s.body ?? [];
  checkTwice(ctx, TEST_OPTIONS, 'test', body);
  const opts = new Map<string, Arg>();
  for (const o of body) if (o.args[0]) opts.set(o.keyword, o.args[0]);
  const allowed = TEST_OPTIONS.filter((r) => r.only?.includes(kind)).map((r) => r.keyword);
  if (kind === 'boot' || kind === 'run') {
    for (const o of body) {
      if (!allowed.includes(o.keyword)) ctx.err('unknown-test-option', `\`${o.keyword}\` is not an option of \`test ${kind}\``, o.keywordSpan, `it takes ${allowed.map((x) => `\`${x}\``).join(', ')}`);
    }
  }
  const timeout = (fallback: number): number | undefined => {
    const t = opts.get('timeout');
    if (t?.kind !== 'duration') return fallback;
    if (t.value < LIMITS.minTestTimeoutMs || t.value > LIMITS.maxTestTimeoutMs) {
      ctx.err('duration-out-of-range', `timeout ${t.text} is out of range (1s to 24h)`, t.span);
      return undefined;
    }
    return t.value;
  };
  if (kind === 'boot') {
    const ms = timeout(600_000);
    const expect = opts.get('expect');
    if (ms === undefined) return;
    // One boot test per image: a later one (a child's) replaces the inherited one.
    d.tests = d.tests.filter((t) => t.value.type !== 'boot');
    d.tests.push({ value: { type: 'boot', timeoutMs: ms, expect: expect?.kind === 'string' ? expect.value : 'login:' }, span: s.span });
  } else if (kind === 'run') {
    const parts = s.args.slice(1).filter((a): a is Extract<Arg, { kind: 'string' }> => a.kind === 'string');
    if (parts.length === 0) return;
    let argv: string[];
    const first = parts[0] as Extract<Arg, { kind: 'string' }>;
    if (parts.length === 1) {
      const split = splitCommand(first.value);
      if ('message' in split) {
        ctx.err('shell-syntax', split.message, first.span, split.hint);
        return;
      }
      argv = split.argv;
    } else {
      argv = parts.map((p) => p.value);
    }
    const exit = opts.get('exit');
    if (exit?.kind === 'int' && exit.value > 255) {
      ctx.err('exit-code-out-of-range', `exit code ${exit.value} is out of range (0-255)`, exit.span);
      return;
    }
    const ms = timeout(300_000);
    if (ms === undefined) return;
    const output = opts.get('output');
    d.tests.push({
      value: { type: 'run', argv, exitCode: exit?.kind === 'int' ? exit.value : 0, timeoutMs: ms, ...(output?.kind === 'string' ? { output: output.value } : {}) },
      span: s.span,
    });
  } else if (kind === 'reproducible') {
    if (!d.tests.some((t) => t.value.type === 'reproducible')) d.tests.push({ value: { type: 'reproducible' }, span: s.span });
  }
}

function applyPublish(ctx: Ctx, d: Draft, s: Stmt): void {
  const kindArg = s.args[0];
  const dest = s.args[1];
  const kind = argText(kindArg);
  if (!kindArg || dest?.kind !== 'string') return;
  const at = { value: dest.value, span: dest.span };
  const keepArg = s.args[3];
  let keep: number | undefined;
  if (keepArg?.kind === 'int') {
    if (kind !== 'files') ctx.err('invalid-publish-option', '`keep` applies to `publish files` only', s.args[2]?.span ?? keepArg.span, 'a registry keeps what it is told to by its own retention');
    else if (keepArg.value < 1 || keepArg.value > MAX_KEEP) ctx.err('out-of-range', `keep ${keepArg.value} is out of range (1-${MAX_KEEP} versions)`, keepArg.span);
    else keep = keepArg.value;
  }
  if (kind === 'files') {
    // Problems the template has on its own stop here; those that depend on the values
    // (a version that is not one path segment) are found per variant (compile.ts).
    const ok = ctx.template(at, FILES_TEMPLATE_VARS);
    if (ctx.problem('path-escapes-root', checkAbsoluteTarget(dest.value, 'publish directory'), dest.span) || !ok) return;
    d.publish.push({ value: { target: 'files', path: dest.value, ...(keep ? { keep } : {}) }, span: s.span, pathSpan: dest.span });
  } else if (kind === 'registry') {
    const ok = ctx.template(at);
    if (ctx.problem('invalid-registry', checkRegistryRef(dest.value), dest.span) || !ok) return;
    d.publish.push({ value: { target: 'registry', repository: dest.value }, span: s.span, pathSpan: dest.span });
  } else {
    ctx.err('unknown-publish-target', `\`${kind}\` is not a publish target`, kindArg.span, didYouMean(kind ?? '', ['files', 'registry']) ?? 'targets are `files` and `registry`');
  }
}

export const CHECKS: readonly Property<Draft>[] = [
  {
    keyword: 'test', block: 'product', form: [{ or: [[{ kw: 'boot' }, { opt: [{ body: 'test' }] }], [{ kw: 'run' }, { some: ['STRING'] }, { opt: [{ body: 'test' }] }], [{ kw: 'reproducible' }]] }], syntax: 'test boot | run "COMMAND" ... | reproducible [{ OPTIONS }]', merge: 'by-kind', toolchains: BOTH,
    doc: 'a test of the built images; publishing waits for it',
    apply: applyTest,
  },
  {
    keyword: 'publish', block: 'product', form: ['NAME', 'STRING', { opt: [{ kw: 'keep' }, 'INT'] }], syntax: 'publish files "/PATH" [keep N] | registry "HOST/PATH"', merge: 'append', toolchains: BOTH,
    doc: 'where the tested images go',
    apply: applyPublish,
  },
];
