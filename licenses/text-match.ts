// Identifies a license text against the SPDX license list's own texts (the
// spdx-license-list package), after the SPDX matching guidelines' normalisation: case,
// whitespace, punctuation, bullets and list numbering, copyright lines and the
// templates' <placeholders> do not count. A text matches a license when the word-bigram
// Dice/Sørensen similarity is high AND, in a word-level diff, neither side has a long run of words the other
// lacks: a changed name ("the University of California" for "the copyright holder") is a
// short run; an added or dropped condition is a long one, and no match.
import spdxCorrect from 'spdx-correct';
import spdxFull from 'spdx-license-list/full';
import { spdxLicenseId } from './spdx';

export const MIN_DICE = 0.9;
/** Consecutive words of one side absent from the other: a name, not a clause. */
export const MAX_RUN = 6;
/** The reference's title or trailer (a name, a version line) that a copy may leave out. */
export const MAX_EDGE_RUN = 40;
/** Texts longer than this (in words, product of both sides) are not diffed: GPL-sized texts need no run check to be told apart. */
const MAX_DIFF_CELLS = 4_000_000;
/** Short texts (about 400 words each side at most) are judged by the word diff when their bigrams are merely close. */
const MAX_SHORT_CELLS = 160_000;
const MIN_SHORT_DICE = 0.6;
/** Fewer words are a pointer or a name; autoconf's FSFUL grant is 19. */
const MIN_WORDS = 12;

export interface TextMatch {
  id: string;
  dice: number;
}

const COPYRIGHT_LINE = /^\s*(?:[*#/]+\s*)?(?:copyright\s*(?:\(c\)|©|\d|by\b|:|$)|\(c\)\s*\d|©)/i;

export function normalizeLicenseText(text: string): string[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n')
    // DEP-5's " ." stands for an empty line; copyright lines differ per work and never count.
    .map((l) => l.replace(/^\s*\.\s*$/, ''))
    // A notice ("Copyright (C) 2004 X", "Copyright 1999 by"), not a wrapped clause that starts
    // with the word ("copyright notice and this permission notice appear in all copies").
    .filter((l) => !COPYRIGHT_LINE.test(l));
  return lines.join(' ')
    .toLowerCase()
    .replace(/<[^<>\n]{1,60}>/g, ' ') // template placeholders: <year>, <owner>, <copyright holders>
    .replace(/https?:\/\/\S+/g, ' ')
    .replace(/\b(?:\d+|[a-z]|[ivx]+)[.)]\s/g, ' ') // list numbering: "1.", "(a)", "ii)"
    .replace(/[^a-z0-9\s]+/g, ' ')
    .split(/\s+/)
    .filter((w) => w !== '')
    .join(' ')
    .replace(HOLDER_SLOTS, holderSlot)
    .split(' ')
    .filter((w) => w !== '');
}

/**
 * Where SPDX's templates let a copy name its holder (BSD's endorsement clause, either form, and
 * its disclaimer): the name counts as one placeholder on both sides, so "the names of the
 * authors may not be used to endorse" is BSD-3-Clause's "neither the name of the copyright
 * holder nor the names of its contributors may be used to endorse". A name with a word that
 * sets a condition is no name, and stays as written.
 */
const HOLDER_SLOTS = new RegExp([
  String.raw`\bneither the names? of ((?:\S+ ){1,12}?)nor the names? of ((?:\S+ ){0,4}?)contributors may be used to endorse\b`,
  String.raw`\b(?:the )?names? of ((?:\S+ ){1,12}?)(?:may|shall) not be used to endorse\b`,
  String.raw`\bprovided by ((?:\S+ ){1,12}?)as is\b`,
  String.raw`\bin no event shall ((?:\S+ ){1,12}?)be liable\b`,
].join('|'), 'g');

function holderSlot(match: string, ...groups: unknown[]): string {
  const names = groups.slice(0, 5).filter((g): g is string => typeof g === 'string');
  if (names.some((n) => n.split(' ').some((w) => GUARDED.has(w)))) return match;
  if (match.endsWith('endorse')) return 'holder may not be used to endorse';
  if (match.startsWith('provided')) return 'provided by holder as is';
  return 'in no event shall holder be liable';
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
function unmatchedRuns(text: readonly string[], ref: readonly string[]): { extra: number; missing: number; common: number; edgeless: number; guarded: boolean; guardedShort: boolean } {
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
  return { extra: longestRun(inText, false), missing: longestRun(inRef, true), common: table[0]!, edgeless: withoutEdges(inRef), guarded: guardedUnmatched(text, inText, GUARDED) || guardedUnmatched(ref, inRef, GUARDED),
    guardedShort: guardedUnmatched(text, inText, GUARDED_SHORT) || guardedUnmatched(ref, inRef, GUARDED_SHORT) };
}

/**
 * Words that carry a condition or a restriction: one of them in a copy and not in the
 * reference (or the other way round) changes what the text permits ("not", "commercial"),
 * however short the change.
 */
const GUARDED = new Set(['not', 'no', 'never', 'except', 'unless', 'only', 'commercial', 'noncommercial', 'sell', 'military', 'nuclear', 'prohibited', 'forbidden', 'restricted', 'must', 'shall',
  'modify', 'distribute', 'sublicense']);
/** A short text is matched by its word diff, which a few words can pass: these count there too. */
const GUARDED_SHORT = new Set([...GUARDED, 'non', 'nor', 'without', 'provided', 'condition', 'conditions', 'retain', 'reproduce', 'acknowledge', 'acknowledgment',
  'acknowledgement', 'advertising', 'endorse', 'promote', 'fee', 'may']);

/** The reference's length without the unmatched title and trailer a copy may leave out. */
function withoutEdges(aligned: Uint8Array): number {
  const first = aligned.indexOf(1);
  if (first < 0) return aligned.length;
  const tail = aligned.length - 1 - aligned.lastIndexOf(1);
  return aligned.length - (first <= MAX_EDGE_RUN ? first : 0) - (tail <= MAX_EDGE_RUN ? tail : 0);
}

/** Word-level Dice/Sørensen similarity of a diff: the words both share, over both lengths. */
function wordDice(common: number, textLength: number, refLength: number): number {
  return (2 * common) / (textLength + refLength);
}

/** A guarded word left unmatched anywhere, the reference's title and trailer included (No-Nuclear's trailer is a condition). */
function guardedUnmatched(words: readonly string[], aligned: Uint8Array, guarded: ReadonlySet<string>): boolean {
  for (let i = 0; i < words.length; i += 1) if (!aligned[i] && guarded.has(words[i]!)) return true;
  return false;
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

/** What Debian's "public-domain" means in the policies (licenses/legacy-names.ts). */
export const PUBLIC_DOMAIN = 'LicenseRef-public-domain';
const PD_NAME = /(?:^|[-_ ])(?:public[-_ ]?domain|pd)(?:$|[-_ ])/i;
/** A dedication says what it gives up; any of these makes it a license or a doubt, for a person. */
const PD_DOUBT = new Set([...GUARDED_SHORT].filter((w) => w !== 'may' && w !== 'no' && w !== 'without').concat(['probably', 'believed', 'believe', 'unclear', 'license', 'licensed', 'permission', 'copyleft', 'gpl']));
const PD_MAX_WORDS = 150;

/**
 * A short name Debian gives a public-domain text ("public-domain-md5", "PD-sha1") whose text
 * says so ("is in the public domain", "placed in public domain") and sets no condition:
 * SPDX has no id for a dedication, the policies' LicenseRef-public-domain is what it is.
 * "probably-PD" with "see the note above" is not one: the text must say it.
 */
function isPublicDomainDedication(name: string, words: readonly string[]): boolean {
  if (!PD_NAME.test(name) || words.length > PD_MAX_WORDS) return false;
  if (!words.some((w, i) => w === 'public' && words[i + 1] === 'domain')) return false;
  return !words.some((w) => PD_DOUBT.has(w));
}

/** A text's words against one SPDX text: its match, or undefined (the rules in the file's header). */
function acceptText(words: readonly string[], set: ReadonlySet<string>, ref: Reference): TextMatch | undefined {
  const dice = compare(set, ref);
  const cells = words.length * ref.words.length;
  // A short text's bigrams: one changed name costs several of them, so the word diff decides.
  const short = cells <= MAX_SHORT_CELLS && dice >= MIN_SHORT_DICE;
  if (dice < MIN_DICE && !short) return undefined;
  // The copy may say less at the edges (the reference's title, a trailer), never more anywhere.
  if (cells <= MAX_DIFF_CELLS) {
    const runs = unmatchedRuns(words, ref.words);
    if (runs.extra > MAX_RUN || runs.missing > MAX_RUN || runs.guarded) return undefined;
    const byWords = wordDice(runs.common, words.length, runs.edgeless);
    if (dice < MIN_DICE && (byWords < MIN_DICE || runs.guardedShort)) return undefined;
    return { id: ref.id, dice: Math.max(dice, byWords) };
  }
  return { id: ref.id, dice };
}

/**
 * The SPDX license whose text this is, or undefined. `hint` (a short name, e.g. Debian's
 * "BSD-3-clause-Regents") is tried first through spdx-correct, which fixes common misspellings;
 * the text must match either way.
 */
export function identifyLicenseText(text: string, hint?: string): TextMatch | undefined {
  const words = normalizeLicenseText(text);
  if (hint !== undefined && isPublicDomainDedication(hint, words)) return { id: PUBLIC_DOMAIN, dice: 1 };
  if (words.length < MIN_WORDS) return undefined; // a pointer or a name, not a license text
  const set = new Set(bigrams(words));
  const refs = allReferences();
  const accept = (ref: Reference) => acceptText(words, set, ref);
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

const MAX_PARAGRAPHS = 2000;

/**
 * Whether a passage of a longer text (consecutive paragraphs of a free-form copyright file)
 * is SPDX license `id`'s text, by the same rules as a whole text.
 */
export function containsLicenseText(text: string, id: string): boolean {
  const ref = allReferences().find((r) => r.id === id);
  if (!ref) return false;
  // A copyright file is the packager's text: bounded, so a million one-line paragraphs cost what 2,000 do.
  const paragraphs = text.slice(0, 1024 * 1024).split(/\n[ \t]*\n/, MAX_PARAGRAPHS).map(normalizeLicenseText);
  for (let i = 0; i < paragraphs.length; i += 1) {
    if (!startsLike(paragraphs[i]!, ref)) continue;
    // The window grows a paragraph at a time; its words and bigrams grow with it.
    const words: string[] = [];
    const set = new Set<string>();
    for (let j = i; j < paragraphs.length && words.length <= ref.words.length * 1.33; j += 1) {
      const p = paragraphs[j]!;
      if (p.length === 0) continue;
      if (words.length > 0) set.add(`${words[words.length - 1]} ${p[0]}`);
      for (const g of bigrams(p)) set.add(g);
      words.push(...p);
      if (words.length >= ref.words.length * 0.75 && acceptText(words, set, ref)) return true;
    }
  }
  return false;
}

/** A passage starts with a paragraph most of whose bigrams are the reference's. */
function startsLike(paragraph: readonly string[], ref: Reference): boolean {
  const own = bigrams(paragraph);
  return own.length > 0 && own.filter((g) => ref.set.has(g)).length * 2 >= own.length;
}

/**
 * licensecheck names a variant it has no name for as family~variant ("MIT~OpenVision"). When
 * the variant is an SPDX id whose text the file carries, the term is that license; otherwise
 * it stays as licensecheck wrote it (and unknown).
 */
export function licensecheckVariants(guess: string, text: string): string {
  return guess.replace(/\b[A-Za-z0-9.+-]+~([A-Za-z0-9.+-]+)/g, (term, variant: string) => {
    const id = spdxLicenseId(variant);
    return id && containsLicenseText(text, id) ? id : term;
  });
}

function correct(name: string): string | undefined {
  try {
    return spdxCorrect(name, { upgrade: true }) ?? undefined;
  } catch {
    return undefined;
  }
}
