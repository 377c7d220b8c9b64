/**
 * How wide text is on the operator screens, so that the generated layouts
 * give every label and state the room it needs in both tools.
 *
 * MEDM draws with the X fonts named widgetDM_4 .. widgetDM_60 (aliases an
 * installation provides; ../shared/epics/fonts maps them to the misc-fixed,
 * sony-fixed and adobe fonts of Debian's xfonts packages). It does not take
 * a font from the file: it picks one by the widget's height, with two rules
 * (medm/utils.c dmGetBestFontWithInfo for text and text updates, a bisection
 * on ascent + descent; medm/medmMessageButton.c messageButtonFontListIndex
 * for buttons, the largest font no taller than 90% of the height less 4).
 * The metrics below are those fonts' (ascent + descent, and the cell width
 * of the character-cell ones), as Xvfb with Debian's xfonts-base, -75dpi
 * and -100dpi and those aliases opens them (the aliases for sizes 4 to 16
 * and 20 resolve to the 75 dpi misc-fixed fonts of those heights); the
 * MEDM interop test reads them from that X server and compares.
 *
 * Phoebus draws with Liberation Sans (its default named fonts); the advance
 * widths below are the font's, in units of 1/2048 em, for " " to "~"
 * (written from the font files of Debian's fonts-liberation with
 * `node build/test/helpers/ttf.js`; a unit test compares them).
 */

export interface MedmFont {
  /** The alias MEDM asks the X server for. */
  alias: string;
  /** ascent + descent, pixels. */
  height: number;
  /** Cell width of a character-cell font, pixels; undefined for a proportional one. */
  cell?: number;
}

/** MEDM's font table, in its order (fontSizeTable in medm/medm.c). */
export const MEDM_FONTS: readonly MedmFont[] = [
  { alias: 'widgetDM_4', height: 8, cell: 5 },
  { alias: 'widgetDM_6', height: 8, cell: 5 },
  { alias: 'widgetDM_8', height: 9, cell: 6 },
  { alias: 'widgetDM_10', height: 10, cell: 6 },
  { alias: 'widgetDM_12', height: 13, cell: 7 },
  { alias: 'widgetDM_14', height: 14, cell: 7 },
  { alias: 'widgetDM_16', height: 15, cell: 9 },
  { alias: 'widgetDM_18', height: 16, cell: 8 },
  { alias: 'widgetDM_20', height: 20, cell: 10 },
  { alias: 'widgetDM_22', height: 24, cell: 12 },
  { alias: 'widgetDM_24', height: 24, cell: 12 },
  { alias: 'widgetDM_30', height: 26 },
  { alias: 'widgetDM_36', height: 35 },
  { alias: 'widgetDM_40', height: 35 },
  { alias: 'widgetDM_48', height: 35 },
  { alias: 'widgetDM_60', height: 35 },
];

/**
 * The font MEDM uses for a text or text update of height `h`: a bisection
 * over the table by font height that stops when the bracket is three
 * entries wide or after half the table's length of steps (so it can pick a
 * font taller than the widget).
 */
export function medmTextFont(h: number, fonts: readonly { height: number }[] = MEDM_FONTS): number {
  const n = fonts.length;
  let i = Math.floor(n / 2);
  let upper = n - 1;
  let lower = 0;
  for (let step = 0; i > 0 && i < n && upper - lower > 2 && step < Math.floor(n / 2); step++) {
    const fh = fonts[i].height;
    if (fh > h) {
      upper = i;
      i = upper - Math.floor((upper - lower) / 2);
    } else if (fh < h) {
      lower = i;
      i = lower + Math.floor((upper - lower) / 2);
    }
  }
  return Math.min(Math.max(i, 0), n - 1);
}

/** The font MEDM uses for the label of a message button or related display of height `h`. */
export function medmButtonFont(h: number, fonts: readonly { height: number }[] = MEDM_FONTS): number {
  const room = Math.floor(0.9 * h) - 4;
  for (let i = fonts.length - 1; i >= 0; i--) if (room >= fonts[i].height) return i;
  return 0;
}

/** Width in pixels of `text` in MEDM font `index` (a character-cell font). */
export function medmTextWidth(index: number, text: string): number {
  const font = MEDM_FONTS[index];
  if (font.cell === undefined) throw new Error(`${font.alias} is proportional: choose a widget height that gives a character-cell font`);
  return font.cell * text.length;
}

/** Motif push button: highlight (1), shadow (2) and margin (2) on each side of the label. */
export const MEDM_BUTTON_PADDING = 2 * (1 + 2 + 2);

/** Liberation Sans advance widths, 1/2048 em, for character codes 32..126. */
const LIBERATION_SANS_REGULAR: readonly number[] = [
  569, 569, 727, 1139, 1139, 1821, 1366, 391, 682, 682, 797, 1196, 569, 682, 569, 569, 1139, 1139, 1139, 1139,
  1139, 1139, 1139, 1139, 1139, 1139, 569, 569, 1196, 1196, 1196, 1139, 2079, 1366, 1366, 1479, 1479, 1366, 1251, 1593,
  1479, 569, 1024, 1366, 1139, 1706, 1479, 1593, 1366, 1593, 1479, 1366, 1251, 1479, 1366, 1933, 1366, 1366, 1251, 569,
  569, 569, 961, 1139, 682, 1139, 1139, 1024, 1139, 1139, 569, 1139, 1139, 455, 455, 1024, 455, 1706, 1139, 1139,
  1139, 1139, 682, 1024, 569, 1139, 1024, 1479, 1024, 1024, 1024, 684, 532, 684, 1196,
];
const LIBERATION_SANS_BOLD: readonly number[] = [
  569, 682, 971, 1139, 1139, 1821, 1479, 487, 682, 682, 797, 1196, 569, 682, 569, 569, 1139, 1139, 1139, 1139,
  1139, 1139, 1139, 1139, 1139, 1139, 682, 682, 1196, 1196, 1196, 1251, 1997, 1479, 1479, 1479, 1479, 1366, 1251, 1593,
  1479, 569, 1139, 1479, 1251, 1706, 1479, 1593, 1366, 1593, 1479, 1366, 1251, 1479, 1366, 1933, 1366, 1366, 1251, 682,
  569, 682, 1196, 1139, 682, 1139, 1251, 1139, 1251, 1139, 682, 1251, 1251, 569, 569, 1139, 569, 1821, 1251, 1251,
  1251, 1251, 797, 1139, 682, 1251, 1139, 1593, 1139, 1139, 1024, 797, 573, 797, 1196,
];
export const LIBERATION_SANS = { regular: LIBERATION_SANS_REGULAR, bold: LIBERATION_SANS_BOLD, unitsPerEm: 2048 } as const;

export interface PhoebusFont {
  bold: boolean;
  /** Size in pixels (Phoebus font sizes are JavaFX sizes). */
  size: number;
}

/** Phoebus named fonts the screens use (its default font configuration). */
export const PHOEBUS_FONTS = {
  plain: { bold: false, size: 14 },
  heading: { bold: true, size: 14 },
  title: { bold: true, size: 18 },
} as const satisfies Record<string, PhoebusFont>;

/** Width in pixels of `text` in Liberation Sans; characters outside ASCII count as "W". */
export function phoebusTextWidth(text: string, font: PhoebusFont): number {
  const widths = font.bold ? LIBERATION_SANS.bold : LIBERATION_SANS.regular;
  let units = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    units += code >= 32 && code <= 126 ? widths[code - 32] : widths['W'.charCodeAt(0) - 32];
  }
  return (units * font.size) / LIBERATION_SANS.unitsPerEm;
}

/**
 * Room Phoebus takes inside a widget around its text: JavaFX's button
 * padding (8 px a side at 14 px) and border; LEDs and text updates a small
 * inset.
 */
export const PHOEBUS_PADDING = { label: 0, value: 4, led: 4, button: 24 } as const;

/**
 * Room MEDM's text updates get around their text: MEDM fills the widget's
 * box with its background colour and draws the text from its edge, so 4 px
 * a side keep a value that fills the column off the box's edges.
 */
export const MEDM_VALUE_PADDING = 2 * 4;
