/**
 * A minimal scripted CA client for circuit tests: it writes raw requests and
 * collects the decoded messages the server sends, with awaitable expectations.
 */
import type { Duplex } from 'node:stream';
import { MessageFramer } from '../../src/ca/protocol/framer';
import type { Message } from '../../src/ca/protocol/header';

export class ScriptedClient {
  readonly received: Message[] = [];
  private readonly framer = new MessageFramer({ maxPayload: 1 << 24, requireAlignment: true });
  private waiters: Array<{ pred: (m: Message) => boolean; resolve: (m: Message) => void }> = [];
  ended = false;

  constructor(readonly stream: Duplex, autoRead = true) {
    if (autoRead) this.startReading();
    stream.on('end', () => { this.ended = true; });
    stream.on('close', () => { this.ended = true; });
    stream.on('error', () => { this.ended = true; });
  }

  startReading(): void {
    this.stream.on('data', (chunk: Buffer) => {
      for (const m of this.framer.push(chunk)) {
        this.received.push(m);
        this.waiters = this.waiters.filter((w) => {
          if (!w.pred(m)) return true;
          w.resolve(m);
          return false;
        });
      }
    });
  }

  send(...bufs: Buffer[]): void {
    for (const b of bufs) this.stream.write(b);
  }

  /** The first received message (past or future) matching `pred`. */
  waitFor(pred: (m: Message) => boolean, what = 'message', timeoutMs = 2000): Promise<Message> {
    const have = this.received.find(pred);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got commands ${this.received.map((m) => m.command).join(',')}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (m) => { clearTimeout(t); resolve(m); } });
    });
  }

  /** Wait until the stream has ended (the server closed the circuit). */
  waitEnd(timeoutMs = 2000): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('circuit did not close')), timeoutMs);
      const done = (): void => { clearTimeout(t); resolve(); };
      this.stream.once('close', done);
      this.stream.once('end', done);
    });
  }

  of(command: number): Message[] {
    return this.received.filter((m) => m.command === command);
  }
}
