/**
 * QS_Console carries raw chunks of the worker's stdout: partial lines, `\r`
 * redraws (progress bars) and ESC[A (cursor up, tqdm's nested bars). This
 * replays them on a small screen, as bluesky-queueserver-api's console
 * monitor does (`_add_msg_to_text_buffer`), and hands out each line when the
 * cursor leaves it with `\n`: a complete line, in its final form.
 *
 * Pure: no sockets, no timers. Any split of the input gives the same lines.
 */

const ESC = '\x1b';
// These patterns are about control characters: that is the point of them.
/* eslint-disable no-control-regex */
/** A CSI sequence (ESC [ params final) or a two-character escape. */
const ESCAPE = /^\x1b(?:\[([0-9;?]*)([\x40-\x7e])|[^[])/;
/** The start of an escape sequence that the next chunk may complete. */
const ESCAPE_START = /^\x1b(\[[0-9;?]*)?$/;
/** Other C0 controls (BEL, BS, ...): dropped from the text. */
const OTHER_CONTROLS = /[\x00-\x08\x0b-\x1f\x7f]/g;
/* eslint-enable no-control-regex */

export interface ConsoleAssemblerOptions {
  /** Lines kept for ESC[A to move back into. */
  maxLines?: number;
  /** Characters kept per line; the rest is dropped. */
  maxLineLength?: number;
}

export class ConsoleAssembler {
  private screen: string[] = [''];
  private row = 0;
  private col = 0;
  /** An escape sequence cut by the end of a chunk. */
  private pending = '';
  private readonly maxLines: number;
  private readonly maxLineLength: number;

  constructor(opts: ConsoleAssemblerOptions = {}) {
    this.maxLines = opts.maxLines ?? 50;
    this.maxLineLength = opts.maxLineLength ?? 4096;
  }

  /** Feed one chunk; returns the lines it completed, oldest first. */
  feed(chunk: string): string[] {
    const done: string[] = [];
    const s = this.pending + chunk;
    this.pending = '';
    let i = 0;
    while (i < s.length) {
      const c = s[i];
      if (c === '\n') {
        done.push(this.screen[this.row]);
        this.row++;
        if (this.row === this.screen.length) this.screen.push('');
        this.col = 0;
        this.trim();
        i++;
      } else if (c === '\r') {
        this.col = 0;
        i++;
      } else if (c === ESC) {
        const rest = s.slice(i, i + 32);
        const seq = ESCAPE.exec(rest);
        if (seq) {
          if (seq[2] !== undefined) this.control(seq[2], seq[1]);
          i += seq[0].length;
        } else if (i + rest.length === s.length && ESCAPE_START.test(rest)) {
          // Cut by the end of the chunk: finish it with the next one.
          this.pending = rest;
          break;
        } else {
          i++; // not a sequence we know: drop the ESC
        }
      } else {
        let j = i;
        while (j < s.length && s[j] !== '\n' && s[j] !== '\r' && s[j] !== ESC) j++;
        this.write(s.slice(i, j).replace(OTHER_CONTROLS, ''));
        i = j;
      }
    }
    return done;
  }

  /** CSI sequences: A (up) and K (erase in line) change the text; colours and the rest are dropped. */
  private control(final: string, params: string): void {
    const n = params === '' ? 1 : Number.parseInt(params, 10) || 1;
    if (final === 'A') this.row = Math.max(0, this.row - n);
    else if (final === 'K') {
      const line = this.screen[this.row];
      if (params === '' || params === '0') this.screen[this.row] = line.slice(0, this.col);
      else if (params === '2') this.screen[this.row] = '';
    }
  }

  /** Overwrite from the cursor, padding with spaces as a terminal would. */
  private write(text: string): void {
    if (text === '') return;
    let line = this.screen[this.row];
    if (line.length < this.col) line += ' '.repeat(this.col - line.length);
    line = line.slice(0, this.col) + text + line.slice(this.col + text.length);
    this.col += text.length;
    this.screen[this.row] = line.slice(0, this.maxLineLength);
    this.col = Math.min(this.col, this.maxLineLength);
  }

  private trim(): void {
    const extra = this.screen.length - this.maxLines;
    if (extra <= 0) return;
    this.screen.splice(0, extra);
    this.row = Math.max(0, this.row - extra);
  }
}
