// SHA256SUMS in sha256sum's own format, so `sha256sum -c SHA256SUMS` checks a download.

export interface SumLine {
  sha256: string;
  name: string;
}

export function formatSums(lines: readonly SumLine[]): string {
  return [...lines]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((l) => {
      if (/[\n\\]/.test(l.name)) throw new Error(`${JSON.stringify(l.name)} cannot be listed in SHA256SUMS`);
      return `${l.sha256}  ${l.name}\n`;
    })
    .join('');
}

export function parseSums(text: string): SumLine[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(l);
      if (!m) throw new Error(`not a SHA256SUMS line: ${JSON.stringify(l)}`);
      return { sha256: m[1]!, name: m[2]! };
    });
}
