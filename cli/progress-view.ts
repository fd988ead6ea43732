// The live view of a build: one block per variant, one line per step. On a terminal the
// block is redrawn in place; elsewhere only changes are printed, one plain line each.
import type { StepStatus, VariantStatus } from '../workflows/status';

const MARK: Record<StepStatus['state'], string> = {
  pending: '·',
  running: '▶',
  cached: '≡',
  succeeded: '✓',
  failed: '✗',
  waiting: '?',
  skipped: '↷',
  cancelled: '⊘',
};

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function stepDuration(step: StepStatus, now: number): string {
  if (step.durationMs !== undefined) return formatDuration(step.durationMs);
  if (step.startedAt && step.state === 'running') return formatDuration(now - Date.parse(step.startedAt));
  return '';
}

function stepDetail(step: StepStatus): string {
  if (step.state === 'running' && step.heartbeat) {
    const pct = step.heartbeat.fraction !== undefined ? ` ${Math.round(step.heartbeat.fraction * 100)}%` : '';
    return `${step.heartbeat.phase}${pct}${step.heartbeat.lastLine ? `: ${step.heartbeat.lastLine}` : ''}`;
  }
  if (step.error) return step.error.message.split('\n')[0] ?? '';
  if (step.attempt > 1) return `operator retry ${step.attempt - 1}`;
  return '';
}

/** The full block for a terminal: a header per variant, then its steps. */
export function renderVariants(variants: VariantStatus[], now: number, width = 100): string[] {
  const lines: string[] = [];
  for (const v of variants) {
    const done = v.steps.filter((s) => ['succeeded', 'cached', 'skipped'].includes(s.state)).length;
    // A variant that fell back to emulation says where its steps go now; its warning says why.
    const where = v.emulated ? `${v.arch}, emulated on ${v.taskQueue}` : v.arch;
    lines.push(`${v.variantId} [${where}] ${v.state} ${done}/${v.steps.length} steps`);
    for (const w of v.warnings) lines.push(`  ! ${w}`);
    const idWidth = Math.max(...v.steps.map((s) => s.id.length));
    for (const s of v.steps) {
      const line = `  ${MARK[s.state]} ${s.id.padEnd(idWidth)} ${s.state.padEnd(9)} ${stepDuration(s, now).padStart(7)}  ${stepDetail(s)}`;
      lines.push(line.length > width ? `${line.slice(0, width - 1)}…` : line.trimEnd());
    }
    for (const w of v.waiting) {
      lines.push(`  waiting for an operator on ${w.step} until ${w.deadline}: sborka ${w.actions.join('|')} ${v.buildId} --variant ${v.variantId} --step ${w.step}`);
    }
  }
  return lines;
}

/** One plain line per step whose state changed since `before` (for logs and pipes). */
export function changedLines(before: Map<string, string>, variants: VariantStatus[]): string[] {
  const lines: string[] = [];
  for (const v of variants) {
    for (const s of v.steps) {
      const id = `${v.variantId}/${s.id}`;
      const state = `${s.state}#${s.attempt}`;
      if (before.get(id) === state) continue;
      before.set(id, state);
      if (s.state === 'pending' && s.attempt <= 1) continue;
      const took = s.durationMs !== undefined ? ` in ${formatDuration(s.durationMs)}` : '';
      const why = s.error ? `: ${s.error.message.split('\n')[0]}` : '';
      lines.push(`${v.variantId} ${s.id} ${s.state}${took}${why}`);
    }
    for (const w of v.warnings) {
      const id = `${v.variantId}!${w}`;
      if (!before.has(id)) {
        before.set(id, w);
        lines.push(`${v.variantId} warning: ${w}`);
      }
    }
  }
  return lines;
}
