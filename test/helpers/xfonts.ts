/**
 * The X fonts MEDM draws with, as a running X server has them. MEDM
 * (medmInit in medm/medm.c) opens `widgetDM_<size>` for each size of its
 * font table with XLoadQueryFont and, when one does not open, "fixed" in
 * its place. `xlsfonts -lll -fn NAME` opens a font the same way and prints
 * what XLoadQueryFont returns: ascent, descent, default character, each
 * character's width and ink (left and right bearing, ascent, descent; all
 * zero for one the font does not have), and the font's properties, whose FONT is the font an alias
 * resolved to.
 */
import { spawnSync } from 'node:child_process';
import type { XFontMetrics } from './layout-check';

/** MEDM's font sizes, in the order of its font table (fontSizeTable in medm/medm.c). */
export const MEDM_FONT_SIZES: readonly number[] = [4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 30, 36, 40, 48, 60];
/** What MEDM opens when a widgetDM_* font does not (LAST_CHANCE_FONT in medm/medm.c). */
export const MEDM_LAST_CHANCE_FONT = 'fixed';

export interface XChar {
  width: number;
  left: number;
  right: number;
  ascent: number;
  descent: number;
}

export interface XFont extends XFontMetrics {
  /** The name asked for. */
  asked: string;
  /** The font the server opened (its FONT property). */
  name: string;
  defaultChar: number;
  chars: ReadonlyMap<number, XChar>;
  /** Whether every character has the same width. */
  cell: boolean;
}

/** A character's metrics as XTextWidth and XDrawString use them: its own, else the default character's, else none. */
function charOf(font: Pick<XFont, 'chars' | 'defaultChar'>, code: number): XChar | undefined {
  return font.chars.get(code) ?? font.chars.get(font.defaultChar);
}

/** Parse the output of `xlsfonts -lll -fn NAME` for one font. */
export function parseXlsfonts(asked: string, out: string): XFont {
  const field = (re: RegExp, what: string): string => {
    const m = re.exec(out);
    if (!m) throw new Error(`xlsfonts -lll -fn ${asked}: no ${what} in\n${out.slice(0, 2000)}`);
    return m[1];
  };
  const ascent = Number(field(/^\s+ascent:\s+(-?\d+)$/m, 'ascent'));
  const descent = Number(field(/^\s+descent:\s+(-?\d+)$/m, 'descent'));
  const defaultChar = parseInt(field(/^\s+default char:\s+0x([0-9a-f]+)/m, 'default char'), 16);
  const name = field(/^\s+FONT\s+(\S+)\s*$/m, 'FONT property');
  const chars = new Map<number, XChar>();
  for (const m of out.matchAll(/^\s+0x([0-9a-f]{4}) \(\d+\)\s+(-?\d+)\s+(-?\d+)\s+(-?\d+)\s+(-?\d+)\s+(-?\d+)\s+0x[0-9a-f]+/gm)) {
    const [width, left, right, asc, desc] = m.slice(2, 7).map(Number);
    // All zero: a character the font does not have (Xlib's CI_NONEXISTCHAR).
    if (width === 0 && left === 0 && right === 0 && asc === 0 && desc === 0) continue;
    chars.set(parseInt(m[1], 16), { width, left, right, ascent: asc, descent: desc });
  }
  if (chars.size === 0) throw new Error(`xlsfonts -lll -fn ${asked}: no character metrics`);
  const widths = new Set([...chars.values()].map((c) => c.width));
  const font: XFont = {
    asked, name, ascent, descent, defaultChar, chars, cell: widths.size === 1,
    textWidth: (text: string): number => {
      let w = 0;
      for (let i = 0; i < text.length; i++) w += charOf(font, text.charCodeAt(i))?.width ?? 0;
      return w;
    },
    ink: (text: string) => {
      let x = 0;
      let left = 0;
      let right = 0;
      let asc = 0;
      let desc = 0;
      for (let i = 0; i < text.length; i++) {
        const c = charOf(font, text.charCodeAt(i));
        if (!c) continue;
        left = Math.min(left, x + c.left);
        right = Math.max(right, x + c.right);
        asc = Math.max(asc, c.ascent);
        desc = Math.max(desc, c.descent);
        x += c.width;
      }
      return { left, right, ascent: asc, descent: desc };
    },
  };
  return font;
}

/** The font the X server on `display` opens for `name`, or undefined when it has none by that name. */
export function queryXFont(display: string, name: string): XFont | undefined {
  const r = spawnSync('xlsfonts', ['-display', display, '-lll', '-fn', name], { encoding: 'utf8', timeout: 20000, maxBuffer: 16 << 20 });
  if (r.error) throw new Error(`xlsfonts: ${r.error.message}`);
  if (/pattern ".*" unmatched/.test(r.stderr) || !/^name:/m.test(r.stdout)) return undefined;
  if (r.status !== 0) throw new Error(`xlsfonts -lll -fn ${name}: ${r.stderr}`);
  return parseXlsfonts(name, r.stdout);
}

/** MEDM's font table on the X server on `display`: widgetDM_<size>, or "fixed" where that does not open. */
export function medmFontTable(display: string): XFont[] {
  let fixed: XFont | undefined;
  return MEDM_FONT_SIZES.map((size) => {
    const alias = `widgetDM_${size}`;
    const font = queryXFont(display, alias);
    if (font) return font;
    fixed ??= queryXFont(display, MEDM_LAST_CHANCE_FONT);
    if (!fixed) throw new Error(`the X server on ${display} has neither ${alias} nor ${MEDM_LAST_CHANCE_FONT}`);
    return { ...fixed, asked: alias };
  });
}
