import { MalformedBodyError } from '@sluice/shared/errors/index.ts';

const OPEN_OBJ = 0x7b; // {
const OPEN_ARR = 0x5b; // [
const CLOSE_OBJ = 0x7d; // }
const CLOSE_ARR = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/**
 * Nesting depth of a JSON text, found by one linear scan that skips strings:
 * no recursion and no parse, so a hostile `[[[[…` costs one pass over the
 * bytes and never reaches `JSON.parse`. Stops early once `limit` is passed.
 */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === BACKSLASH) i++;
      else if (ch === QUOTE) inString = false;
    } else if (ch === QUOTE) inString = true;
    else if (ch === OPEN_OBJ || ch === OPEN_ARR) {
      if (++depth > limit) return true;
    } else if (ch === CLOSE_OBJ || ch === CLOSE_ARR) depth--;
  }
  return false;
}

/** Decode UTF-8 strictly (RFC 8259 §8.1) and parse, mapping every failure to a 400. */
export function parseJson(bytes: Uint8Array, decoder: TextDecoder, maxDepth: number): unknown {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new MalformedBodyError('the request body is not valid UTF-8');
  }
  if (text.length === 0) throw new MalformedBodyError('the request body is empty');
  if (jsonDepthExceeds(text, maxDepth)) throw new MalformedBodyError(`JSON nesting deeper than SLUICE_MAX_JSON_DEPTH (${maxDepth})`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new MalformedBodyError(`the request body is not valid JSON: ${(err as Error).message}`);
  }
}
