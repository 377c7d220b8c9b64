/**
 * Layout rules for the generated displays, checked from the files the way
 * the tools draw them: no widget outside its display, no two widgets
 * overlapping, and no text wider than the widget that shows it.
 *
 * MEDM (medm/utils.c, medmText.c, medmTextUpdate.c, medmMessageButton.c,
 * medmRelatedDisplay.c): a text or text update uses the font a bisection
 * over the widgetDM_* fonts by ascent + descent picks for its height; a
 * message button or related display the largest font no taller than 90% of
 * its height less 4, inside a Motif push button (1 px highlight, 2 px shadow
 * and 2 px margin a side). A string fits when its XTextWidth is no more than
 * the room it has: a text update cuts a longer one at its box (left
 * aligned) or shrinks its font (centred, right aligned), a button cuts its
 * label, and a text draws past its box onto its neighbours, so for a text
 * the ink (bearings, glyph ascent and descent), placed as its alignment
 * places it, must lie inside the box too. The metrics come from the caller:
 * the X server's in the interop test, the generator's assumptions in the
 * unit test.
 *
 * Phoebus: Liberation Sans at the size of the widget's named font (Default
 * 14, Default Bold 14, Header 2 bold 18); the room around the text is that
 * of JavaFX's controls (a button's padding, an LED's inset).
 */
import { longStringPv, type Screen } from '../../src/ioc/screens';
import { adlBlocks, adlValue, parseAdl, type AdlBlock } from './adl';
import type { TrueTypeMetrics } from './ttf';
import { childText, childrenNamed, parseXml, type XmlNode } from './xml';

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
  what: string;
}

export function boxProblems(boxes: readonly Box[], width: number, height: number): string[] {
  const out: string[] = [];
  for (const a of boxes) {
    if (a.x < 0 || a.y < 0 || a.x + a.width > width || a.y + a.height > height) out.push(`${a.what} lies outside the ${width}x${height} display`);
  }
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, b] = [boxes[i], boxes[j]];
      if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height) out.push(`${a.what} overlaps ${b.what}`);
    }
  }
  return out;
}

/** One X font as the server reports it. */
export interface XFontMetrics {
  ascent: number;
  descent: number;
  /** Width of a string in pixels (XTextWidth: the sum of the characters' widths). */
  textWidth(text: string): number;
  /**
   * Where a string drawn at x = 0 on its baseline puts ink: from `left` to
   * `right`, `ascent` above and `descent` below the baseline. Without it,
   * only widths and the font's height are checked.
   */
  ink?(text: string): { left: number; right: number; ascent: number; descent: number };
}

/** MEDM's pick for a text or text update of height h (the bisection of dmGetBestFontWithInfo). */
export function medmFontForText(fonts: readonly XFontMetrics[], h: number): number {
  const n = fonts.length;
  const fh = (i: number): number => fonts[i].ascent + fonts[i].descent;
  let i = Math.trunc(n / 2);
  let lo = 0;
  let hi = n - 1;
  let count = 0;
  while (i > 0 && i < n && hi - lo > 2 && count < Math.trunc(n / 2)) {
    count++;
    if (fh(i) > h) {
      hi = i;
      i = hi - Math.trunc((hi - lo) / 2);
    } else if (fh(i) < h) {
      lo = i;
      i = lo + Math.trunc((hi - lo) / 2);
    }
  }
  return Math.min(Math.max(i, 0), n - 1);
}

/** MEDM's pick for a button label of height h (messageButtonFontListIndex). */
export function medmFontForButton(fonts: readonly XFontMetrics[], h: number): number {
  for (let i = fonts.length - 1; i >= 0; i--) if (Math.trunc(0.9 * h) - 4 >= fonts[i].ascent + fonts[i].descent) return i;
  return 0;
}

const MOTIF_BUTTON_PADDING = 2 * (1 + 2 + 2);

function expand(text: string, macros: ReadonlyMap<string, string>): string {
  return text.replace(/\$\(([A-Za-z0-9_]+)\)/g, (m, name: string) => macros.get(name) ?? m);
}

function adlBox(w: AdlBlock, what: string): Box {
  const o = adlBlocks(w, 'object')[0];
  const n = (k: string): number => Number(adlValue(o, k));
  return { x: n('x'), y: n('y'), width: n('width'), height: n('height'), what };
}

/**
 * By channel (macros expanded), the strings the generator laid a screen's
 * text updates out for: a state's names, an LED's two labels, and a value
 * of all the characters it has room for.
 */
export function screenTexts(screen: Screen, macros: ReadonlyMap<string, string>): Map<string, string[]> {
  const texts = new Map<string, string[]>();
  for (const w of screen.widgets) {
    if (w.kind === 'state') texts.set(expand(w.pv, macros), w.states.map((st) => st.label));
    if (w.kind === 'flag') texts.set(expand(w.pv, macros), [w.look.off.label, w.look.on.label]);
    if (w.kind === 'value') texts.set(expand(w.long ? longStringPv(w.pv) : w.pv, macros), ['0'.repeat(w.chars)]);
  }
  return texts;
}

/**
 * Problems of an .adl as MEDM shows it with `macros`. `texts` gives, by
 * channel (macros expanded), the strings a text update must have room for:
 * its state names, or its value now.
 */
export function adlLayoutProblems(
  name: string, text: string, macros: ReadonlyMap<string, string>, fonts: readonly XFontMetrics[], texts: ReadonlyMap<string, readonly string[]>,
): string[] {
  const blocks = parseAdl(text);
  const display = adlBlocks(blocks.find((b) => b.name === 'display') as AdlBlock, 'object')[0];
  const widgets = blocks.filter((b) => !['file', 'display', 'color map'].includes(b.name));
  const out: string[] = [];
  const boxes: Box[] = [];
  for (const w of widgets) {
    const box = adlBox(w, `${name} line ${w.line} (${w.name})`);
    boxes.push(box);
    const fit = (shown: string, font: number, padding: number): void => {
      const width = fonts[font].textWidth(shown) + padding;
      if (width > box.width) out.push(`${box.what}: "${shown}" needs ${width} px, has ${box.width}`);
    };
    const tall = (font: number): void => {
      const f = fonts[font];
      if (f.ascent + f.descent > box.height) out.push(`${box.what}: its ${f.ascent + f.descent} px font is taller than the widget (${box.height} px)`);
    };
    if (w.name === 'text') {
      const shown = expand(adlValue(w, 'textix') ?? '', macros);
      const font = medmFontForText(fonts, box.height);
      fit(shown, font, 0);
      tall(font);
      const ink = fonts[font].ink?.(shown);
      if (ink) {
        // MEDM's drawText: x by alignment from XTextWidth, baseline at the top plus the font's ascent.
        const tw = fonts[font].textWidth(shown);
        const align = adlValue(w, 'align') ?? 'horiz. left';
        const x = align === 'horiz. centered' ? Math.trunc((box.width - tw) / 2) : align === 'horiz. right' ? box.width - tw : 0;
        const base = fonts[font].ascent;
        if (x + ink.left < 0 || x + ink.right > box.width || base - ink.ascent < 0 || base + ink.descent > box.height) {
          out.push(`${box.what}: "${shown}" draws ink from (${x + ink.left}, ${base - ink.ascent}) to (${x + ink.right}, ${base + ink.descent}), outside its ${box.width}x${box.height} box`);
        }
      }
    }
    if (w.name === 'message button') fit(adlValue(w, 'label') ?? '', medmFontForButton(fonts, box.height), MOTIF_BUTTON_PADDING);
    if (w.name === 'related display') fit((adlValue(w, 'label') ?? '').replace(/^-/, ''), medmFontForButton(fonts, box.height), MOTIF_BUTTON_PADDING);
    if (w.name === 'text update') {
      const chan = expand(adlValue(adlBlocks(w, 'monitor')[0], 'chan') ?? '', macros);
      const shown = texts.get(chan);
      if (shown === undefined) out.push(`${box.what}: no text known for ${chan}`);
      const font = medmFontForText(fonts, box.height);
      tall(font);
      for (const s of shown ?? []) fit(s, font, 0);
    }
  }
  out.push(...boxProblems(boxes, Number(adlValue(display, 'width')), Number(adlValue(display, 'height'))));
  return out;
}

export interface PhoebusFonts {
  regular: TrueTypeMetrics;
  bold: TrueTypeMetrics;
}

/** Room around the text inside a Phoebus widget, by type. */
const PHOEBUS_ROOM: Record<string, number> = { label: 0, textupdate: 4, led: 4, multi_state_led: 4, action_button: 24 };

function bobFont(w: XmlNode): { bold: boolean; size: number } {
  const property = childrenNamed(w, 'font')[0];
  const f = property === undefined ? undefined : childrenNamed(property, 'font')[0];
  if (!f) return { bold: false, size: 14 };
  return { bold: (f.attributes.get('style') ?? '').includes('BOLD'), size: Number(f.attributes.get('size') ?? '14') };
}

export function ttfWidth(fonts: PhoebusFonts, text: string, font: { bold: boolean; size: number }): number {
  const m = font.bold ? fonts.bold : fonts.regular;
  let units = 0;
  for (const ch of text) units += m.advance(ch.codePointAt(0) as number);
  return (units * font.size) / m.unitsPerEm;
}

/**
 * Problems of a .bob as Phoebus shows it (macros from its <macros>): text
 * update values are not known here, only the labels, LED and state labels
 * and button texts.
 */
export function bobLayoutProblems(name: string, text: string, fonts: PhoebusFonts): string[] {
  const display = parseXml(text);
  const macros = new Map<string, string>();
  for (const m of childrenNamed(display, 'macros')) for (const c of m.children) macros.set(c.name, c.text);
  const out: string[] = [];
  const boxes: Box[] = [];
  for (const w of childrenNamed(display, 'widget')) {
    const type = w.attributes.get('type') ?? '';
    const n = (k: string): number => Number(childText(w, k));
    const box: Box = { x: n('x'), y: n('y'), width: n('width'), height: n('height'), what: `${name} line ${w.line} (${type})` };
    boxes.push(box);
    const font = bobFont(w);
    const fit = (shown: string): void => {
      const width = ttfWidth(fonts, shown, font) + (PHOEBUS_ROOM[type] ?? 0);
      if (width > box.width) out.push(`${box.what}: "${shown}" needs ${width.toFixed(1)} px, has ${box.width}`);
    };
    const lineHeight = Math.ceil(font.size * 1.15);
    if (['label', 'textupdate', 'action_button', 'led', 'multi_state_led'].includes(type) && lineHeight > box.height) {
      out.push(`${box.what}: ${font.size} px text needs ${lineHeight} px of height, has ${box.height}`);
    }
    if (type === 'label' || type === 'action_button') fit(expand(childText(w, 'text') ?? '', macros));
    if (type === 'led') for (const k of ['off_label', 'on_label']) fit(childText(w, k) ?? '');
    if (type === 'multi_state_led') {
      for (const s of childrenNamed(childrenNamed(w, 'states')[0], 'state')) fit(childText(s, 'label') ?? '');
      fit(childText(w, 'fallback_label') ?? '');
    }
  }
  out.push(...boxProblems(boxes, Number(childText(display, 'width')), Number(childText(display, 'height'))));
  return out;
}
