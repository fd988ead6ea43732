// Diagnostics: what is wrong, where (file:line:col and the span), and a hint. Rendered like
// a compiler's messages for people (the source line with a caret) or as JSON for tools.
import { z } from 'zod';
import type { SourceFile, Span } from './source';

export const Diagnostic = z.object({
  severity: z.enum(['error', 'warning']),
  /** Stable kind of the problem, e.g. "unknown-arch": tools and tests key on it. */
  code: z.string(),
  message: z.string(),
  file: z.string(),
  line: z.number().int().min(1),
  col: z.number().int().min(1),
  offset: z.number().int().min(0),
  length: z.number().int().min(0),
  hint: z.string().optional(),
});
export type Diagnostic = z.infer<typeof Diagnostic>;

export function diagnostic(code: string, message: string, at: Span, hint?: string, severity: Diagnostic['severity'] = 'error'): Diagnostic {
  return {
    severity,
    code,
    message,
    file: at.file,
    line: at.line,
    col: at.col,
    offset: at.offset,
    length: at.length,
    ...(hint ? { hint } : {}),
  };
}

/** Collects diagnostics; one per (code, place) so recovery cannot repeat itself. */
export class DiagnosticSink {
  readonly items: Diagnostic[] = [];
  private readonly seen = new Set<string>();

  add(d: Diagnostic): void {
    const key = `${d.file}\0${d.offset}\0${d.code}\0${d.message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.items.push(d);
  }

  error(code: string, message: string, at: Span, hint?: string): void {
    this.add(diagnostic(code, message, at, hint));
  }

  warn(code: string, message: string, at: Span, hint?: string): void {
    this.add(diagnostic(code, message, at, hint, 'warning'));
  }

  get errorCount(): number {
    return this.items.filter((d) => d.severity === 'error').length;
  }
}

/** Stable order: by file, then position, then code. */
export function sortDiagnostics(list: readonly Diagnostic[]): Diagnostic[] {
  return [...list].sort(
    (a, b) =>
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.offset - b.offset || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0),
  );
}

/**
 *   error[unknown-arch]: arch `aarch46` is not one the alt toolchain builds
 *     --> products/x.sborka:5:16
 *      |
 *    5 |   arch x86_64, aarch46
 *      |                ^^^^^^^
 *      = hint: did you mean `aarch64`?
 */
export function renderDiagnostic(d: Diagnostic, source: SourceFile | undefined): string {
  const out = [`${d.severity}[${d.code}]: ${d.message}`, `  --> ${d.file}:${d.line}:${d.col}`];
  if (source) {
    const full = source.lineText(d.line).replace(/\t/g, ' ');
    // A long line is shown as a window around the column, so the output stays one screen wide.
    const from = full.length > MAX_SNIPPET ? Math.max(0, Math.min(d.col - 1 - SNIPPET_LEAD, full.length - MAX_SNIPPET)) : 0;
    const shown = full.slice(from, from + MAX_SNIPPET);
    const pre = from > 0 ? '…' : '';
    const text = pre + shown + (from + MAX_SNIPPET < full.length ? '…' : '');
    const num = String(d.line);
    const pad = ' '.repeat(num.length);
    const startCol = Math.min(d.col - from + pre.length, pre.length + shown.length + 1);
    const width = Math.max(1, Math.min(d.length, pre.length + shown.length - startCol + 1));
    out.push(`${pad} |`, `${num} | ${text}`, `${pad} | ${' '.repeat(startCol - 1)}${'^'.repeat(width)}`);
    if (d.hint) out.push(`${pad} = hint: ${d.hint}`);
  } else if (d.hint) {
    out.push(`  = hint: ${d.hint}`);
  }
  return out.join('\n');
}

/** Longest source line shown under a diagnostic, and how much of it goes before the column. */
const MAX_SNIPPET = 160;
const SNIPPET_LEAD = 60;

/** Diagnostics shown in full; the rest are counted (a broken file must not flood a terminal or a tool). */
export const MAX_SHOWN_DIAGNOSTICS = 200;

/** The first `max` diagnostics and how many are left out. */
export function capDiagnostics<T>(list: readonly T[], max = MAX_SHOWN_DIAGNOSTICS): { shown: T[]; omitted: number } {
  return { shown: list.slice(0, max), omitted: Math.max(0, list.length - max) };
}

function moreWhat(rest: readonly Diagnostic[]): string {
  const errors = rest.filter((d) => d.severity === 'error').length;
  const plural = (n: number, w: string): string => `${w}${n === 1 ? '' : 's'}`;
  if (errors === rest.length) return plural(errors, 'error');
  if (errors === 0) return plural(rest.length, 'warning');
  return `(${errors} ${plural(errors, 'error')}, ${rest.length - errors} ${plural(rest.length - errors, 'warning')})`;
}

export function renderDiagnostics(list: readonly Diagnostic[], sources: ReadonlyMap<string, SourceFile>): string {
  const errors = list.filter((d) => d.severity === 'error').length;
  const warnings = list.length - errors;
  const { shown, omitted } = capDiagnostics(list);
  const parts = shown.map((d) => renderDiagnostic(d, sources.get(d.file)));
  if (omitted > 0) parts.push(`and ${omitted} more ${moreWhat(list.slice(shown.length))}`);
  const body = parts.join('\n\n');
  const summary = `${errors} error${errors === 1 ? '' : 's'}${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}`;
  return body ? `${body}\n\n${summary}\n` : `${summary}\n`;
}
