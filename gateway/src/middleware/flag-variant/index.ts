import type { MiddlewareHandler } from 'hono';
import { Counter, Histogram, type Registry } from 'prom-client';
import { AppError } from '@sluice/shared/errors/index.ts';
import { evaluate } from '@sluice/shared/flags/evaluate.ts';
import type { FlagFollower } from '@sluice/shared/flags/follower.ts';
import { header, type GatewayEnv } from '../../context.ts';
import { problemResponse } from '../errors/index.ts';

/** Options of `flagVariant`. */
export interface FlagVariantOptions {
  /** SLUICE_ROLLOUT_FLAG: the flag whose variant labels the request metrics. */
  flag: string;
  flags: Pick<FlagFollower, 'get'>;
  registry: Registry;
  /**
   * Test-only (SLUICE_FAILPOINTS=flag-on-fails): requests of users for whom
   * the flag is on answer 500, as a broken code path behind the flag would:
   * the rollout a controller must kill.
   */
  failOn?: boolean;
}

/** The request header naming the user a request is made for (what the flag is evaluated for). */
export const USER_HEADER = 'sluice-user-id';
const MAX_USER_ID = 256;

/**
 * Request metrics by the variant of the flag under rollout: a request that
 * names its user (`Sluice-User-Id`) is counted and timed under `variant="on"`
 * or `"off"`, the flag's evaluation for that user (the same bucketing as
 * `GET /v1/flags/{name}`, from the gateway's copy of the set, no I/O). Two
 * label values, whatever the users: `pnpm canary flag` compares the two
 * sides over the same window. Requests without the header are not counted
 * here (they are in `sluice_http_requests_total` as always).
 */
export function flagVariant(o: FlagVariantOptions): MiddlewareHandler<GatewayEnv> {
  const registers = [o.registry];
  const requests = new Counter({ name: 'sluice_flag_variant_requests_total', help: 'Requests naming a user (Sluice-User-Id) by the variant of SLUICE_ROLLOUT_FLAG for that user (on/off) and status', labelNames: ['flag', 'variant', 'status'], registers });
  const latency = new Histogram({
    name: 'sluice_flag_variant_request_duration_seconds',
    help: 'Latency of requests naming a user, by the variant of SLUICE_ROLLOUT_FLAG for that user',
    labelNames: ['flag', 'variant'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const failure = new AppError(500, 'https://sluice.dev/problems/internal', 'Internal error', `fail point flag-on-fails: ${o.flag} is on for this user`);
  return async function flagVariant(c, next) {
    const user = header(c, USER_HEADER);
    if (user === undefined || user.length === 0 || user.length > MAX_USER_ID) return next();
    const variant = evaluate(o.flag, o.flags.get(o.flag), user).enabled ? 'on' : 'off';
    const start = performance.now();
    if (o.failOn && variant === 'on') {
      const res = problemResponse(c, failure);
      requests.inc({ flag: o.flag, variant, status: 500 });
      latency.observe({ flag: o.flag, variant }, (performance.now() - start) / 1000);
      return res;
    }
    await next();
    // Hono runs onError inside `next`, so c.res is the final response here, errors included.
    requests.inc({ flag: o.flag, variant, status: c.res.status });
    latency.observe({ flag: o.flag, variant }, (performance.now() - start) / 1000);
  };
}
