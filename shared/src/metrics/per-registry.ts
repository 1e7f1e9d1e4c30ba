import type { Registry } from 'prom-client';

/**
 * prom-client refuses a second metric of one name in a registry. A gateway
 * with several shards runs one read service (and a warmer one warmer) per
 * shard on one registry, so their metrics are made once per registry and
 * shared: the counters count for every shard, the gauges collect from all.
 */
const made = new WeakMap<Registry, Map<string, unknown>>();

/** The value `make` built for `registry` under `name`, built on first use. */
export function perRegistry<T>(registry: Registry, name: string, make: () => T): T {
  let byName = made.get(registry);
  if (byName === undefined) made.set(registry, (byName = new Map()));
  if (!byName.has(name)) byName.set(name, make());
  return byName.get(name) as T;
}
