/** The SSE parser against the WHATWG rules it implements, fed in every possible chunking. */
import { describe, expect, it } from 'vitest';
import { SseParser } from './sse.ts';

const parseAll = (chunks: string[]) => {
  const p = new SseParser();
  return chunks.flatMap((c) => p.push(c));
};

describe('SseParser', () => {
  const stream = ': keep-alive\n\nevent: flags\nid: 7\ndata: {"version":7}\n\nevent: flag\r\nid: 8\r\ndata: a\r\ndata: b\r\n\r\ndata:no-space\rid: 9\r\r: comment\nevent: ignored-without-data\n\n';
  const expected = [
    { event: 'flags', id: '7', data: '{"version":7}' },
    { event: 'flag', id: '8', data: 'a\nb' },
    { event: 'message', id: '9', data: 'no-space' },
  ];

  it('reads events, multi-line data, comments and the three line ends', () => {
    expect(parseAll([stream])).toEqual(expected);
  });

  it('gives the same events whatever the chunk boundaries (including a CR|LF split)', () => {
    for (let i = 0; i <= stream.length; i += 1) {
      expect(parseAll([stream.slice(0, i), stream.slice(i)]), `split at ${i}`).toEqual(expected);
    }
    expect(parseAll([...stream])).toEqual(expected);
  });

  it('keeps an unfinished event until its blank line arrives', () => {
    const p = new SseParser();
    expect(p.push('event: flag\ndata: x\n')).toEqual([]);
    expect(p.push('\n')).toEqual([{ event: 'flag', id: '', data: 'x' }]);
  });
});
