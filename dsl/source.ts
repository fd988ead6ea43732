// A recipe file's text with a line index, so every span can say file:line:col.

/** Where a piece of recipe text is: offsets into the file, 1-based line and column. */
export interface Span {
  file: string;
  offset: number;
  length: number;
  line: number;
  col: number;
}

export class SourceFile {
  private readonly lineStarts: number[];
  private lastLine = 0;

  constructor(public readonly path: string, public readonly text: string) {
    this.lineStarts = [0];
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) this.lineStarts.push(i + 1);
  }

  /** Span of text[offset, offset+length), clamped into the file. */
  span(offset: number, length: number): Span {
    const start = Math.max(0, Math.min(Number.isFinite(offset) ? offset : this.text.length, this.text.length));
    const len = Math.max(0, Math.min(Number.isFinite(length) ? length : 0, this.text.length - start));
    const l = this.lineIndex(start);
    return { file: this.path, offset: start, length: len, line: l + 1, col: start - (this.lineStarts[l] as number) + 1 };
  }

  /** 1-based line and column of an offset (clamped). */
  position(offset: number): { line: number; col: number } {
    const o = Math.max(0, Math.min(offset, this.text.length));
    const l = this.lineIndex(o);
    return { line: l + 1, col: o - (this.lineStarts[l] as number) + 1 };
  }

  /** 0-based line of an offset inside the text. */
  private lineIndex(o: number): number {
    // The AST builder asks in nearly ascending order: try the last line found, then the next.
    const starts = this.lineStarts;
    const n = starts.length;
    for (let l = this.lastLine; l <= this.lastLine + 1 && l < n; l++) {
      if ((starts[l] as number) <= o && (l + 1 >= n || o < (starts[l + 1] as number))) {
        this.lastLine = l;
        return l;
      }
    }
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] as number) <= o) lo = mid;
      else hi = mid - 1;
    }
    this.lastLine = lo;
    return lo;
  }

  /** The text of a 1-based line, without its newline. */
  lineText(line: number): string {
    const start = this.lineStarts[line - 1];
    if (start === undefined) return '';
    const next = this.lineStarts[line];
    const end = next === undefined ? this.text.length : next - 1;
    return this.text.slice(start, end).replace(/\r$/, '');
  }

  get lineCount(): number {
    return this.lineStarts.length;
  }
}
