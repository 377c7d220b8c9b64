/**
 * Two connected in-memory Duplex streams: what one writes, the other reads.
 * Flow control is real: a side that does not read makes the other's writes
 * return false and wait for 'drain', as a TCP socket would.
 */
import { Duplex } from 'node:stream';

class End extends Duplex {
  peer!: End;
  private waiting: (() => void) | undefined;

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.peer.push(chunk)) done();
    else this.peer.waiting = () => done();
  }

  override _final(done: (err?: Error | null) => void): void {
    this.peer.push(null);
    done();
  }

  override _read(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.push(null);
    done(err);
  }
}

export function duplexPair(highWaterMark = 16 * 1024): [Duplex, Duplex] {
  const a = new End({ highWaterMark });
  const b = new End({ highWaterMark });
  a.peer = b;
  b.peer = a;
  return [a, b];
}
