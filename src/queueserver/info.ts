/**
 * The manager's optional info stream: a SUB socket on its PUB (started with
 * `--zmq-publish-console ON`), topics QS_Console (raw stdout chunks) and
 * QS_Info (the status dict on every change and at least once a second).
 * Never encrypted. 0MQ reconnects by itself when the manager restarts; the
 * receive queue is bounded by the socket's high-water mark.
 */
import * as zmq from 'zeromq';
import { DEFAULT_ENCODING, decodeInfo, type Dict, type Encoding } from './protocol';

export interface InfoHandlers {
  status(status: Dict): void;
  console(text: string): void;
  /** A message that could not be read; the stream goes on. */
  fault(reason: string): void;
}

export class InfoSubscriber {
  private socket: zmq.Subscriber | undefined;
  private closed = false;

  constructor(readonly address: string, private readonly handlers: InfoHandlers, private readonly encoding: Encoding = DEFAULT_ENCODING) {}

  start(): void {
    const socket = new zmq.Subscriber({ linger: 0, maxMessageSize: 16 * 1024 * 1024, receiveHighWaterMark: 1000 });
    socket.connect(this.address);
    socket.subscribe('QS_Console', 'QS_Info');
    this.socket = socket;
    void this.run(socket);
  }

  close(): void {
    this.closed = true;
    if (this.socket && !this.socket.closed) this.socket.close();
    this.socket = undefined;
  }

  private async run(socket: zmq.Subscriber): Promise<void> {
    while (!this.closed) {
      let frames: Buffer[];
      try {
        frames = await socket.receive();
      } catch (err) {
        if (!this.closed) this.handlers.fault(`info socket: ${(err as Error).message}`);
        return;
      }
      try {
        const m = decodeInfo(frames, this.encoding);
        if (m.topic === 'QS_Info') this.handlers.status(m.status);
        else if (m.topic === 'QS_Console') this.handlers.console(m.text);
      } catch (err) {
        this.handlers.fault((err as Error).message);
      }
    }
  }
}
