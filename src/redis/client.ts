/**
 * One connection to a redis server, with a deadline on everything. The
 * client library is node-redis (`@redis/client`, the client maintained by
 * Redis itself, written in TypeScript, with a RESP decoder tested at every
 * split of its input). Its own reconnection and offline queue are off: a
 * redis that stops answering (SIGSTOP, a full disk, a wedged host) keeps the
 * TCP connection open and would hold every command forever, so each call
 * here has a timeout, and on a timeout the connection is destroyed (failing
 * whatever was still waiting) and the next call makes a new one, as the
 * queueserver bridge does with a REQ socket that missed its reply.
 */
import { createClient, ErrorReply } from '@redis/client';
import { ServiceIocError } from '../errors';
import type { SecretText } from '../secret';
import { formatRedisAddress, type RedisAddress } from './config';

export type RedisErrorCode =
  | 'REDIS_ERR_TIMEOUT'   // no answer within the timeout (connecting, authenticating or a command)
  | 'REDIS_ERR_CONNECT'   // connection refused, reset or closed; authentication refused
  | 'REDIS_ERR_CLOSED';   // the connection was closed by us

/** Why a redis call did not produce a reply. An error *reply* (WRONGTYPE...) is the library's ErrorReply instead. */
export class RedisError extends ServiceIocError {
  declare readonly code: RedisErrorCode;
  constructor(code: RedisErrorCode, message: string) {
    super(code, message);
  }
}

/** Whether `err` is an error reply of the server (WRONGTYPE, LOADING...): the connection is fine. */
export function isErrorReply(err: unknown): err is Error {
  return err instanceof ErrorReply;
}

export interface RedisConnectionOptions {
  addr: RedisAddress;
  password?: SecretText;
  timeoutMs: number;
  /** CLIENT SETNAME, so `CLIENT LIST` on the server shows who this is. */
  clientName?: string;
}

type Client = ReturnType<typeof createClient>;

/** The commands a watcher sends. */
export interface RedisCommands {
  ping(): Promise<string>;
  info(): Promise<string>;
  lLen(key: string): Promise<number>;
  get(key: string): Promise<string | null>;
}

export class RedisConnection {
  private client: Client | undefined;
  private opening: Promise<Client> | undefined;
  private closed = false;
  /** Connections made (tests, logs). */
  opened = 0;

  constructor(private readonly opts: RedisConnectionOptions) {}

  get address(): string {
    return formatRedisAddress(this.opts.addr);
  }

  /** Run `fn` with a connected client, all of it within the timeout; a timeout or a lost connection drops the connection. */
  async run<T>(what: string, fn: (c: RedisCommands) => Promise<T>): Promise<T> {
    if (this.closed) throw new RedisError('REDIS_ERR_CLOSED', `${what}: the connection is closed`);
    const deadline = Date.now() + this.opts.timeoutMs;
    const client = await this.withDeadline(what, deadline, this.connected());
    const commands: RedisCommands = {
      ping: () => client.ping(),
      info: () => client.info() as Promise<string>,
      lLen: (key) => client.lLen(key),
      get: (key) => client.get(key) as Promise<string | null>,
    };
    return this.withDeadline(what, deadline, fn(commands));
  }

  close(): void {
    this.closed = true;
    this.drop();
  }

  /** Destroy the connection (fails what waits on it); the next run() connects again. */
  drop(): void {
    const c = this.client;
    this.client = undefined;
    this.opening = undefined;
    if (c) {
      try {
        c.destroy();
      } catch {
        // already closed
      }
    }
  }

  private connected(): Promise<Client> {
    if (this.client?.isReady) return Promise.resolve(this.client);
    if (this.client && !this.opening) this.drop();
    return (this.opening ??= this.open());
  }

  private async open(): Promise<Client> {
    const { addr, password, timeoutMs, clientName } = this.opts;
    const client: Client = createClient({
      socket: { host: addr.host, port: addr.port, connectTimeout: timeoutMs, reconnectStrategy: false },
      database: addr.db,
      ...(password ? { password: password.reveal() } : {}),
      ...(clientName ? { name: clientName } : {}),
      disableOfflineQueue: true,
      RESP: 2,
    });
    // Without a listener an 'error' event would end the process; failures reach callers through their promises.
    client.on('error', () => undefined);
    // A connection that ends under us (redis restarted) is made anew on the next call.
    client.on('end', () => {
      if (this.client === client) {
        this.client = undefined;
        this.opening = undefined;
      }
    });
    this.client = client;
    this.opened++;
    try {
      await client.connect();
    } catch (err) {
      if (this.client === client) this.drop();
      throw connectError(err, this.address);
    } finally {
      if (this.client === client) this.opening = undefined;
    }
    return client;
  }

  private withDeadline<T>(what: string, deadline: number, p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        // A redis that does not answer keeps its connection: destroy it, so nothing waits behind this call.
        this.drop();
        reject(new RedisError('REDIS_ERR_TIMEOUT', `${what}: no answer within ${seconds(this.opts.timeoutMs)} from ${this.address}`));
      }, Math.max(0, deadline - Date.now()));
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (err: unknown) => {
          clearTimeout(timer);
          if (err instanceof ErrorReply || err instanceof RedisError) reject(err);
          else {
            this.drop();
            reject(connectError(err, this.address, what));
          }
        },
      );
    });
  }
}

/** A failure to reach or keep the server, in words an operator acts on. */
function connectError(err: unknown, address: string, what?: string): Error {
  if (err instanceof RedisError) return err;
  const e = err as NodeJS.ErrnoException;
  const text = err instanceof ErrorReply ? err.message : e.code ? `${e.code} ${e.message.replace(/^\w+\s/, '')}` : e.message;
  // AUTH refused (WRONGPASS, NOAUTH) arrives as an error reply during the handshake.
  return new RedisError('REDIS_ERR_CONNECT', `${what ? `${what}: ` : ''}${address}: ${text}`);
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
