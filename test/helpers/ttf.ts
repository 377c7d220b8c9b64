/**
 * Advance widths from a TrueType font file: just enough of the format
 * (the table directory, head, hhea, hmtx and a format 4 cmap) to say how
 * wide a character is, in font units, for the layout checks of the
 * generated Phoebus displays (Phoebus draws with Liberation Sans).
 *
 *   node build/test/helpers/ttf.js FONT.ttf...   prints each font's widths of " ".."~"
 */
import * as fs from 'node:fs';

export interface TrueTypeMetrics {
  unitsPerEm: number;
  /** Advance width in font units by character code. */
  advance(code: number): number;
}

/** Debian fonts-liberation: the files Phoebus's default fonts come from. */
export const LIBERATION_SANS = {
  regular: '/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf',
  bold: '/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf',
} as const;

export function readTrueType(file: string): TrueTypeMetrics {
  const b = fs.readFileSync(file);
  const tables = new Map<string, number>();
  const numTables = b.readUInt16BE(4);
  for (let i = 0; i < numTables; i++) {
    const rec = 12 + i * 16;
    tables.set(b.toString('latin1', rec, rec + 4), b.readUInt32BE(rec + 8));
  }
  const table = (tag: string): number => {
    const at = tables.get(tag);
    if (at === undefined) throw new Error(`${file}: no ${tag} table`);
    return at;
  };
  const unitsPerEm = b.readUInt16BE(table('head') + 18);
  const numberOfHMetrics = b.readUInt16BE(table('hhea') + 34);
  const hmtx = table('hmtx');
  const widthOfGlyph = (g: number): number => b.readUInt16BE(hmtx + 4 * Math.min(g, numberOfHMetrics - 1));

  // The Unicode BMP subtable (platform 3 encoding 1, or platform 0), format 4.
  const cmap = table('cmap');
  let sub = -1;
  for (let i = 0; i < b.readUInt16BE(cmap + 2); i++) {
    const platform = b.readUInt16BE(cmap + 4 + i * 8);
    const encoding = b.readUInt16BE(cmap + 6 + i * 8);
    const offset = cmap + b.readUInt32BE(cmap + 8 + i * 8);
    if (b.readUInt16BE(offset) === 4 && ((platform === 3 && encoding === 1) || platform === 0)) sub = offset;
  }
  if (sub < 0) throw new Error(`${file}: no format 4 Unicode cmap`);
  const segCount = b.readUInt16BE(sub + 6) / 2;
  const ends = sub + 14;
  const starts = ends + segCount * 2 + 2;
  const deltas = starts + segCount * 2;
  const rangeOffsets = deltas + segCount * 2;
  const glyphOf = (code: number): number => {
    for (let s = 0; s < segCount; s++) {
      if (code > b.readUInt16BE(ends + s * 2)) continue;
      const start = b.readUInt16BE(starts + s * 2);
      if (code < start) return 0;
      const delta = b.readInt16BE(deltas + s * 2);
      const ro = b.readUInt16BE(rangeOffsets + s * 2);
      if (ro === 0) return (code + delta) & 0xffff;
      const at = rangeOffsets + s * 2 + ro + (code - start) * 2;
      const g = b.readUInt16BE(at);
      return g === 0 ? 0 : (g + delta) & 0xffff;
    }
    return 0;
  };
  return { unitsPerEm, advance: (code) => widthOfGlyph(glyphOf(code)) };
}

/** Widths of the printable ASCII characters " " (32) to "~" (126). */
export function asciiAdvances(m: TrueTypeMetrics): number[] {
  const out: number[] = [];
  for (let c = 32; c <= 126; c++) out.push(m.advance(c));
  return out;
}

if (require.main === module) {
  for (const file of process.argv.slice(2)) {
    const m = readTrueType(file);
    process.stdout.write(`${file}: unitsPerEm ${m.unitsPerEm}\n[${asciiAdvances(m).join(', ')}]\n`);
  }
}
