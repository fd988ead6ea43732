// The targets a profiles tree on this host defines (a partner's fork or the packaged
// mkimage-profiles), read from its conf.d/*.mk the way main.mk lists them (lines 55-60:
// rules named <class>/<name> without a dot). The conditions conf.d uses around rules
// (ifeq/ifneq on ARCH, BRANCH and IMAGE_CLASS, with plain words or $(filter-out ...)) are
// evaluated; a condition of another form counts as met, so the check never refuses a target
// the tree might define.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface TreeVars {
  ARCH: string;
  BRANCH: string;
  IMAGE_CLASS: string;
}

/** `$(filter-out WORDS,$(VAR))` with make's `%` patterns: the value unless a word matches it. */
function filterOut(words: string, value: string): string {
  const matches = words.split(/\s+/).filter(Boolean).some((w) => (w.includes('%') ? new RegExp(`^${w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace('%', '.*')}$`).test(value) : w === value));
  return matches ? '' : value;
}

function expand(text: string, vars: TreeVars): string | undefined {
  const t = text.trim();
  const v = /^\$\((ARCH|BRANCH|IMAGE_CLASS)\)$/.exec(t);
  if (v) return vars[v[1] as keyof TreeVars];
  const f = /^\$\(filter-out ([^,]*),\$\((ARCH|BRANCH|IMAGE_CLASS)\)\)$/.exec(t);
  if (f) return filterOut(f[1]!, vars[f[2] as keyof TreeVars]);
  return t.includes('$') ? undefined : t;
}

/** ifeq (A,B) / ifneq (A,B): true, false, or undefined when it cannot be evaluated here. */
function condition(line: string, vars: TreeVars): boolean | undefined {
  const m = /^(ifeq|ifneq)\s*\((.*)\)\s*$/.exec(line.trim());
  if (!m) return undefined;
  const body = m[2]!;
  // Split at the comma outside $(...).
  let depth = 0;
  let at = -1;
  for (let i = 0; i < body.length; i++) {
    if (body[i] === '(') depth++;
    else if (body[i] === ')') depth--;
    else if (body[i] === ',' && depth === 0) { at = i; break; }
  }
  if (at < 0) return undefined;
  const a = expand(body.slice(0, at), vars);
  const b = expand(body.slice(at + 1), vars);
  if (a === undefined || b === undefined) return undefined;
  return m[1] === 'ifeq' ? a === b : a !== b;
}

/** Target names of one conf.d file for the given variables. */
export function confTargets(text: string, vars: TreeVars): string[] {
  const found: string[] = [];
  // `known` false: a condition not evaluated here, whose every branch counts as met.
  const stack: Array<{ on: boolean; known: boolean; taken: boolean }> = [];
  const active = () => stack.every((s) => s.on);
  for (const line of text.split('\n')) {
    if (/^\s*(ifeq|ifneq)\b/.test(line)) {
      const c = condition(line, vars);
      stack.push({ on: c ?? true, known: c !== undefined, taken: c === true });
      continue;
    }
    const e = /^\s*else\b\s*(.*)$/.exec(line);
    if (e) {
      const top = stack[stack.length - 1];
      if (!top) continue;
      const c = e[1] ? condition(e[1], vars) : true;
      if (!top.known || c === undefined) {
        top.on = true;
        top.known = false;
      } else {
        top.on = !top.taken && c;
        top.taken ||= top.on;
      }
      continue;
    }
    if (/^\s*endif\b/.test(line)) {
      stack.pop();
      continue;
    }
    if (!active()) continue;
    const m = new RegExp(`^(${vars.IMAGE_CLASS}/[^.:\\s]+)\\s*:(?!=)`).exec(line);
    if (m) found.push(m[1]!);
  }
  return found;
}

/** Every <class>/<name> target the tree's conf.d defines for ARCH and BRANCH. */
export function treeTargets(profilesDir: string, arch: string, branch: string): Set<string> {
  const dir = path.join(profilesDir, 'conf.d');
  const out = new Set<string>();
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.mk')).sort()) {
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    for (const cls of ['distro', 've', 'vm']) for (const t of confTargets(text, { ARCH: arch, BRANCH: branch, IMAGE_CLASS: cls })) out.add(t);
  }
  return out;
}
