/**
 * Test-only fail points (SLUICE_FAILPOINTS, refused by config unless
 * NODE_ENV=test). A fail point named in the list pauses the process at that
 * step for its duration (`name=ms`, default "forever" = until killed), so a
 * fault test can SIGKILL a writer in an exact window, e.g. after COMMIT and
 * before the jobs are marked done.
 */
export class FailPoints {
  private readonly points: Map<string, number>;
  constructor(spec: readonly string[]) {
    this.points = new Map(
      spec.map((s) => {
        const [name, ms] = s.split('=');
        return [name!, ms === undefined ? Number.POSITIVE_INFINITY : Number(ms)];
      }),
    );
  }
  get enabled(): boolean {
    return this.points.size > 0;
  }
  /** The point is in the list (for fail points that change behaviour instead of pausing). */
  armed(name: string): boolean {
    return this.points.has(name);
  }
  /**
   * The number a point carries (`name=N`), for fail points that set a value
   * (e.g. `payload-read-max=1`: a writer that reads payloads up to v1, as an
   * older build would); undefined when not armed or without a number.
   */
  value(name: string): number | undefined {
    const v = this.points.get(name);
    return v === undefined || !Number.isFinite(v) ? undefined : v;
  }
  /** Await at a named step. Resolves at once when the point is not armed. */
  async hit(name: string, onHit?: () => void): Promise<void> {
    const ms = this.points.get(name);
    if (ms === undefined) return;
    onHit?.();
    if (ms === Number.POSITIVE_INFINITY) return new Promise<void>(() => {});
    await new Promise((r) => setTimeout(r, ms));
  }
}
