/** The CLI's HTTP: the gateway's base URL and API key from flags or env, JSON in and out, problems as errors. */

/** `--name value` from `args`, or undefined. */
export function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
  return v;
}

/** Positional arguments (flags and their values left out). */
export function positional(args: string[], valued: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('--')) {
      if (valued.includes(a.slice(2))) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

/** Where the gateway is: --url, SLUICE_URL or http://localhost:3000; --api-key or SLUICE_API_KEY. */
export function gatewayOf(args: string[]): { base: string; key: string | undefined } {
  return { base: (option(args, 'url') ?? process.env.SLUICE_URL ?? 'http://localhost:3000').replace(/\/$/, ''), key: option(args, 'api-key') ?? process.env.SLUICE_API_KEY };
}

/** One JSON request; a non-2xx answer throws with the problem's detail. `timeoutMs`: per request (long admin work answers 202 and is polled). */
export async function call<T>(g: { base: string; key: string | undefined }, method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (g.key) headers.authorization = `Bearer ${g.key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(g.base + path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }), signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  if (!res.ok) {
    const detail = typeof json === 'object' && json !== null && 'detail' in json ? String((json as { detail: unknown }).detail) : text.slice(0, 200);
    throw new Error(`${method} ${path}: HTTP ${res.status}: ${detail}`);
  }
  return json as T;
}
