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
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
  }

  /** Span of text[offset, offset+length), clamped into the file. */
  span(offset: number, length: number): Span {
    const start = Math.max(0, Math.min(Number.isFinite(offset) ? offset : this.text.length, this.text.length));
    const len = Math.max(0, Math.min(Number.isFinite(length) ? length : 0, this.text.length - start));
    const { line, col } = this.position(start);
    return { file: this.path, offset: start, length: len, line, col };
  }

  /** 1-based line and column of an offset (clamped). */
  position(offset: number): { line: number; col: number } {
    const o = Math.max(0, Math.min(offset, this.text.length));
    // The AST builder asks in nearly ascending order: try the last line found, then the next.
    const starts = this.lineStarts;
    for (let l = this.lastLine; l <= this.lastLine + 1 && l < starts.length; l++) {
      if ((starts[l] as number) <= o && (l + 1 >= starts.length || o < (starts[l + 1] as number))) {
        this.lastLine = l;
        return { line: l + 1, col: o - (starts[l] as number) + 1 };
      }
    }
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.lineStarts[mid] ?? 0) <= o) lo = mid;
      else hi = mid - 1;
    }
    this.lastLine = lo;
    return { line: lo + 1, col: o - (this.lineStarts[lo] ?? 0) + 1 };
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
