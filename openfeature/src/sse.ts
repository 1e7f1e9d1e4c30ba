/**
 * A parser of the `text/event-stream` format (WHATWG HTML, "Server-sent
 * events", §9.2.6 "Interpreting an event stream"), fed decoded text in chunks
 * of any size. Node 20 has no EventSource, and an EventSource could not send
 * the `authorization` header the gateway asks for, so the provider reads the
 * stream with `fetch` and parses it here.
 */

/** One dispatched event. `id` is the last event id seen (it persists across events, as the spec says). */
export interface SseEvent {
  event: string;
  data: string;
  id: string;
}

/** Incremental parser: `push` text, get the events it completed. */
export class SseParser {
  private buffer = '';
  /** A chunk ended in CR: a LF opening the next chunk belongs to the same line end. */
  private pendingCr = false;
  private event = '';
  private data: string[] = [];
  private lastId = '';

  /** Feed decoded text; returns every event completed by it, in order. */
  push(text: string): SseEvent[] {
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    const out: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i += 1) {
      const ch = this.buffer.charCodeAt(i);
      if (ch !== 10 && ch !== 13) continue;
      this.line(this.buffer.slice(start, i), out);
      // CRLF is one line end; a CR last in the buffer may be followed by a LF in the next chunk.
      if (ch === 13) {
        if (i + 1 === this.buffer.length) this.pendingCr = true;
        else if (this.buffer.charCodeAt(i + 1) === 10) i += 1;
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') return this.dispatch(out);
    if (line.startsWith(':')) return; // a comment (the gateway's keep-alive)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.lastId = value;
    // `retry` and unknown fields: ignored (the provider has its own backoff).
  }

  private dispatch(out: SseEvent[]): void {
    // An event with no data line is not dispatched (spec step "If the data buffer is an empty string").
    if (this.data.length > 0) out.push({ event: this.event === '' ? 'message' : this.event, data: this.data.join('\n'), id: this.lastId });
    this.event = '';
    this.data = [];
  }
}
