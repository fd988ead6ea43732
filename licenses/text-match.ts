// Identifies a license text against the SPDX license list's own texts (the
// spdx-license-list package), after the SPDX matching guidelines' normalisation: case,
// whitespace, punctuation, bullets and list numbering, copyright lines and the
// templates' <placeholders> do not count. A text matches a license when the word-bigram
// Dice/Sørensen similarity is high AND, in a word-level diff, neither side has a long run of words the other
// lacks: a changed name ("the University of California" for "the copyright holder") is a
// short run; an added or dropped condition is a long one, and no match.
import spdxCorrect from 'spdx-correct';
import spdxFull from 'spdx-license-list/full';

export const MIN_DICE = 0.9;
/** Consecutive words of one side absent from the other: a name, not a clause. */
export const MAX_RUN = 6;
/** The reference's title or trailer (a name, a version line) that a copy may leave out. */
export const MAX_EDGE_RUN = 40;
/** Texts longer than this (in words, product of both sides) are not diffed: GPL-sized texts need no run check to be told apart. */
const MAX_DIFF_CELLS = 4_000_000;

export interface TextMatch {
  id: string;
  dice: number;
}

export function normalizeLicenseText(text: string): string[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n')
    // DEP-5's " ." stands for an empty line; copyright lines differ per work and never count.
    .map((l) => l.replace(/^\s*\.\s*$/, ''))
    .filter((l) => !/^\s*(?:[*#/]+\s*)?(?:copyright\b|\(c\)|©)/i.test(l));
  return lines.join(' ')
    .toLowerCase()
    .replace(/<[^<>\n]{1,60}>/g, ' ') // template placeholders: <year>, <owner>, <copyright holders>
    .replace(/https?:\/\/\S+/g, ' ')
    .replace(/\b(?:\d+|[a-z]|[ivx]+)[.)]\s/g, ' ') // list numbering: "1.", "(a)", "ii)"
    .replace(/[^a-z0-9\s]+/g, ' ')
    .split(/\s+/)
    .filter((w) => w !== '');
}

function bigrams(words: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < words.length; i += 1) out.push(`${words[i]} ${words[i + 1]}`);
  return out;
}

interface Reference { id: string; words: string[]; set: Set<string> }

let references: Reference[] | undefined;
/** The SPDX texts, normalised once per process (on first use: most copyright files never need it). */
function allReferences(): Reference[] {
  references ??= Object.entries(spdxFull)
    .filter(([, l]) => typeof l.licenseText === 'string' && l.licenseText.length > 0)
    .map(([id, l]) => {
      const words = normalizeLicenseText(l.licenseText);
      return { id, words, set: new Set(bigrams(words)) };
    });
  return references;
}

/**
 * The longest runs of words each side has that the other lacks, from a word-level longest
 * common subsequence (the diff a person would read). Runs at the reference's ends up to
 * MAX_EDGE_RUN words do not count: a copy may leave out its title or trailer.
 */
function unmatchedRuns(text: readonly string[], ref: readonly string[]): { extra: number; missing: number } {
  const n = text.length;
  const m = ref.length;
  const w = m + 1;
  const table = new Uint16Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      table[i * w + j] = text[i] === ref[j] ? table[(i + 1) * w + j + 1]! + 1 : Math.max(table[(i + 1) * w + j]!, table[i * w + j + 1]!);
    }
  }
  const inText = new Uint8Array(n);
  const inRef = new Uint8Array(m);
  for (let i = 0, j = 0; i < n && j < m;) {
    if (text[i] === ref[j]) {
      inText[i] = 1;
      inRef[j] = 1;
      i += 1;
      j += 1;
    } else if (table[(i + 1) * w + j]! >= table[i * w + j + 1]!) i += 1;
    else j += 1;
  }
  return { extra: longestRun(inText, false), missing: longestRun(inRef, true) };
}

/** Matched words count only in runs of MIN_SEGMENT or more: a lone "the" or "and" aligned across a clause does not split it. */
const MIN_SEGMENT = 3;

function longestRun(aligned: Uint8Array, edges: boolean): number {
  const matched = Uint8Array.from(aligned);
  for (let i = 0; i < matched.length;) {
    if (!matched[i]) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < matched.length && matched[j]) j += 1;
    if (j - i < MIN_SEGMENT) matched.fill(0, i, j);
    i = j;
  }
  let longest = 0;
  let run = 0;
  let leading = true;
  for (const hit of matched) {
    if (hit) {
      if (!(leading && edges && run <= MAX_EDGE_RUN)) longest = Math.max(longest, run);
      leading = false;
      run = 0;
    } else run += 1;
  }
  if (!(edges && run <= MAX_EDGE_RUN)) longest = Math.max(longest, run);
  return longest;
}

function compare(set: ReadonlySet<string>, ref: Reference): number {
  let common = 0;
  for (const g of set) if (ref.set.has(g)) common += 1;
  return (2 * common) / (set.size + ref.set.size);
}

/**
 * The SPDX license whose text this is, or undefined. `hint` (a short name, e.g. Debian's
 * "BSD-3-clause-Regents") is tried first through spdx-correct, which fixes common misspellings;
 * the text must match either way.
 */
export function identifyLicenseText(text: string, hint?: string): TextMatch | undefined {
  const words = normalizeLicenseText(text);
  if (words.length < 20) return undefined; // a pointer or a name, not a license text
  const set = new Set(bigrams(words));
  const refs = allReferences();
  const accept = (ref: Reference): TextMatch | undefined => {
    const dice = compare(set, ref);
    if (dice < MIN_DICE) return undefined;
    // The copy may say less at the edges (the reference's title, a trailer), never more anywhere.
    if (words.length * ref.words.length <= MAX_DIFF_CELLS) {
      const runs = unmatchedRuns(words, ref.words);
      if (runs.extra > MAX_RUN || runs.missing > MAX_RUN) return undefined;
    }
    return { id: ref.id, dice };
  };
  const corrected = hint ? correct(hint) : undefined;
  const hinted = corrected ? refs.find((r) => r.id === corrected) : undefined;
  const byHint = hinted && accept(hinted);
  if (byHint) return byHint;
  let best: TextMatch | undefined;
  for (const ref of refs) {
    // Dice >= 0.9 needs word counts within about 20% of each other.
    if (ref.words.length < words.length * 0.75 || ref.words.length > words.length * 1.33) continue;
    const m = accept(ref);
    if (m && (!best || m.dice > best.dice)) best = m;
  }
  return best;
}

/** The closest SPDX text with its figures (for diagnostics and tests). */
export function closestLicenseText(text: string): { id: string; dice: number; extraRun: number; missingRun: number } | undefined {
  const words = normalizeLicenseText(text);
  const set = new Set(bigrams(words));
  let best: { id: string; dice: number } | undefined;
  for (const ref of allReferences()) {
    const dice = compare(set, ref);
    if (!best || dice > best.dice) best = { id: ref.id, dice };
  }
  if (!best) return undefined;
  const runs = unmatchedRuns(words, allReferences().find((r) => r.id === best.id)!.words);
  return { ...best, extraRun: runs.extra, missingRun: runs.missing };
}

function correct(name: string): string | undefined {
  try {
    return spdxCorrect(name, { upgrade: true }) ?? undefined;
  } catch {
    return undefined;
  }
}
