/**
 * One keep-alive HTTP/1.1 connection on node:net with one request in flight:
 * the load generator's unit. It parses only what finds the end of a response
 * (status line, Content-Length or chunked framing, `Connection: close`) and
 * allocates nothing per response unless a header block straddles two reads.
 * A cheap client matters: on a 2-core machine the generator's CPU is taken
 * from the server under test (node:http's Agent cost ~3× the server's time).
 */
import { connect, type Socket } from 'node:net';

const CR = 13;
const LF = 10;
const HEAD_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = Buffer.from('content-length:');
const TRANSFER_ENCODING = Buffer.from('transfer-encoding:');
const CONNECTION = Buffer.from('connection:');
// One read buffer for every connection: `onread` hands it over synchronously and
// we parse it before returning, so nothing is allocated per read.
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** Called once per request: status (0 = connection failed or closed mid-response) and start time. */
export type OnResponse = (status: number, startedAt: number) => void;

/** True when `buf[at…]` starts with `lower` (ASCII, case-insensitive). */
function startsWithLower(buf: Buffer, at: number, end: number, lower: Buffer): boolean {
  if (end - at < lower.length) return false;
  for (let i = 0; i < lower.length; i++) if ((buf[at + i]! | 0x20) !== lower[i]) return false;
  return true;
}

function skipSpaces(buf: Buffer, at: number): number {
  while (buf[at] === 32 || buf[at] === 9) at++;
  return at;
}

const enum State { Head, Body, ChunkSize, ChunkData, ChunkCrlf, Trailer }

/** A connection that sends what `next()` returns, each time the previous answer is complete. */
export class Http1Connection {
  private sock!: Socket;
  private state = State.Head;
  private pending: Buffer | null = null;
  private need = 0;
  private chunkSize = 0;
  private inExtension = false;
  private lineLength = 0;
  private status = 0;
  private close = false;
  private startedAt = 0;
  private inFlight = false;
  private stopped = false;

  constructor(
    private readonly port: number,
    private readonly host: string,
    /** The next request's bytes, or null to stop. */
    private readonly next: () => Buffer | string | null,
    private readonly onResponse: OnResponse,
    private readonly onIdle: () => void,
  ) {
    this.open();
  }

  private open(): void {
    if (this.stopped) return; // aborted while a reconnection was pending
    const sock = connect({ port: this.port, host: this.host, noDelay: true, onread: { buffer: READ_BUFFER, callback: (n) => this.onData(READ_BUFFER, n) } });
    this.sock = sock;
    this.state = State.Head;
    this.pending = null;
    sock.on('connect', () => this.send());
    sock.on('error', () => {});
    sock.on('close', () => this.onClose(sock));
  }

  private onClose(sock: Socket): void {
    if (sock !== this.sock) return;
    if (this.inFlight) {
      this.inFlight = false;
      this.onResponse(0, this.startedAt);
    }
    if (this.stopped) return this.onIdle();
    // Reconnect (the server closed a kept-alive socket, or refused us); a pause keeps a dead server from spinning us.
    setTimeout(() => this.open(), this.close ? 0 : 10);
    this.close = false;
  }

  private send(): void {
    const req = this.next();
    if (req === null) {
      this.stopped = true;
      this.sock.end();
      return;
    }
    this.inFlight = true;
    this.startedAt = performance.now();
    // UTF-8, as Content-Length was counted (Buffer.byteLength): written as latin1, a body with a
    // non-ASCII character arrived shorter than announced and the server waited for the rest forever.
    if (typeof req === 'string') this.sock.write(req, 'utf8');
    else this.sock.write(req);
  }

  /**
   * Stop now: close the socket (a request in flight is reported with status
   * 0) and report idle. For a response that never comes, or a server that
   * went away (a closed connection only reconnects, and asks `next()` only
   * once connected, so it would retry forever).
   */
  abort(): void {
    if (this.stopped) return;
    this.stopped = true;
    const sock = this.sock;
    this.sock = null as unknown as Socket; // its 'close' is no longer ours
    if (this.inFlight) {
      this.inFlight = false;
      this.onResponse(0, this.startedAt);
    }
    sock.destroy();
    this.onIdle();
  }

  /** Still sending, waiting for an answer or reconnecting (not yet told to stop). */
  get busy(): boolean {
    return !this.stopped;
  }

  private done(): void {
    this.inFlight = false;
    this.state = State.Head;
    this.onResponse(this.status, this.startedAt);
    if (this.close) this.sock.destroy();
    else this.send();
  }

  /** Parse `n` bytes of `d`; returns true (keep reading). */
  private onData(d: Buffer, n: number): boolean {
    let buf = d;
    let len = n;
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, d.subarray(0, n)]);
      len = buf.length;
      this.pending = null;
    }
    let at = 0;
    while (at < len) {
      if (this.state === State.Head) {
        const end = buf.indexOf(HEAD_END, at);
        if (end < 0 || end + 4 > len) {
          this.pending = Buffer.from(buf.subarray(at, len));
          return true;
        }
        this.head(buf, at, end);
        at = end + 4;
        // head() moved the state on (TypeScript still narrows it to Head).
        if ((this.state as State) === State.Body && this.need === 0) this.done();
      } else if (this.state === State.Body || this.state === State.ChunkData) {
        const take = Math.min(this.need, len - at);
        this.need -= take;
        at += take;
        if (this.need > 0) continue;
        if (this.state === State.Body) this.done();
        else this.state = State.ChunkCrlf;
      } else {
        at = this.framing(buf, at, len);
      }
    }
    return true;
  }

  /** Status line and the headers that frame the body, from `buf[at…end)`. */
  private head(buf: Buffer, at: number, end: number): void {
    // "HTTP/1.1 200 …"
    this.close = false;
    this.status = (buf[at + 9]! - 48) * 100 + (buf[at + 10]! - 48) * 10 + (buf[at + 11]! - 48);
    let chunked = false;
    let length = 0;
    for (let line = buf.indexOf(LF, at) + 1; line > 0 && line < end; line = buf.indexOf(LF, line) + 1) {
      const c = buf[line]! | 0x20;
      if (c === 0x63 && startsWithLower(buf, line, end, CONTENT_LENGTH)) {
        length = 0;
        for (let i = skipSpaces(buf, line + CONTENT_LENGTH.length); buf[i]! >= 48 && buf[i]! <= 57; i++) length = length * 10 + buf[i]! - 48;
      } else if (c === 0x74 && startsWithLower(buf, line, end, TRANSFER_ENCODING)) {
        chunked = (buf[skipSpaces(buf, line + TRANSFER_ENCODING.length)]! | 0x20) === 0x63; // "chunked"
      } else if (c === 0x63 && startsWithLower(buf, line, end, CONNECTION)) {
        this.close = (buf[skipSpaces(buf, line + CONNECTION.length)]! | 0x20) === 0x63; // "close"
      }
    }
    // 1xx, 204 and 304 have no body (RFC 9112 §6.3).
    const bodiless = this.status < 200 || this.status === 204 || this.status === 304;
    if (chunked && !bodiless) {
      this.state = State.ChunkSize;
      this.chunkSize = 0;
    } else {
      this.state = State.Body;
      this.need = bodiless ? 0 : length;
    }
  }

  /** Chunk-size lines, the CRLF after each chunk and the trailer; returns where it stopped. */
  private framing(buf: Buffer, at: number, len: number): number {
    for (; at < len; at++) {
      const b = buf[at]!;
      if (b === CR) continue;
      if (this.state === State.ChunkCrlf) {
        if (b === LF) this.state = State.ChunkSize;
      } else if (this.state === State.ChunkSize) {
        if (b === LF) {
          this.inExtension = false;
          if (this.chunkSize === 0) {
            this.state = State.Trailer;
            this.lineLength = 0;
            continue;
          }
          this.state = State.ChunkData;
          this.need = this.chunkSize;
          this.chunkSize = 0;
          return at + 1;
        }
        const v = b <= 57 ? b - 48 : (b | 0x20) - 87;
        // Anything after the hex digits (";ext", spaces) is a chunk extension: ignored.
        if (!this.inExtension && v >= 0 && v < 16) this.chunkSize = this.chunkSize * 16 + v;
        else this.inExtension = true;
      } else if (b !== LF) {
        this.lineLength++;
      } else if (this.lineLength === 0) {
        // The empty line that ends the trailer section ends the message.
        this.done();
        return at + 1;
      } else {
        this.lineLength = 0;
      }
    }
    return at;
  }
}
