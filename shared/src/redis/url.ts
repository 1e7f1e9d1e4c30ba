/**
 * Redis addresses as Sluice spells them. `redis://…` and `rediss://…` name one
 * server (ioredis parses them); `redis+cluster://host1:port1,host2:port2,…`
 * names a Redis Cluster by some of its nodes (the seeds: the client asks one of
 * them for the slot map and finds the rest itself). WHATWG URL parsing refuses a
 * comma-separated host list, hence this small parser.
 */

/** A Redis Cluster address: its seed nodes and the optional `user:password@`. */
export interface ClusterAddress {
  readonly seeds: readonly { host: string; port: number }[];
  readonly username?: string | undefined;
  readonly password?: string | undefined;
}

const CLUSTER_SCHEME = 'redis+cluster://';

/** Does `url` name a Redis Cluster? */
export function isClusterUrl(url: string): boolean {
  return url.toLowerCase().startsWith(CLUSTER_SCHEME);
}

/** Parse `redis+cluster://[user:password@]h1:p1,h2:p2[/]`; throws with the reason. */
export function parseClusterUrl(url: string): ClusterAddress {
  if (!isClusterUrl(url)) throw new Error(`not a redis+cluster:// URL`);
  let rest = url.slice(CLUSTER_SCHEME.length).replace(/\/$/, '');
  let username: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const auth = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = auth.indexOf(':');
    username = decodeURIComponent(colon >= 0 ? auth.slice(0, colon) : auth) || undefined;
    password = colon >= 0 ? decodeURIComponent(auth.slice(colon + 1)) : undefined;
  }
  if (rest.includes('/') || rest.includes('?')) throw new Error('a redis+cluster:// URL has no database or options: every node uses db 0');
  const seeds = rest.split(',').map((hp) => {
    const m = /^(\[[0-9a-fA-F:]+\]|[^:\s,]+):(\d{1,5})$/.exec(hp.trim());
    if (m === null) throw new Error(`"${hp}" is not host:port`);
    const port = Number(m[2]);
    if (port < 1 || port > 65535) throw new Error(`port ${port} out of range`);
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
  });
  if (seeds.length === 0 || rest === '') throw new Error('a redis+cluster:// URL needs at least one host:port');
  return { seeds, username, password };
}

/** Is `url` a Redis address Sluice can use (one server or a cluster)? Returns the reason when not. */
export function redisUrlProblem(url: string): string | null {
  if (isClusterUrl(url)) {
    try {
      parseClusterUrl(url);
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  }
  try {
    const u = new URL(url);
    return u.protocol === 'redis:' || u.protocol === 'rediss:' ? null : 'must start with redis://, rediss:// or redis+cluster://';
  } catch {
    return 'is not a URL';
  }
}

/** Shown in logs: the URL without its password. */
export function redactRedisUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
