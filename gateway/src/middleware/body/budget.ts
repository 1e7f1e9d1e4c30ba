import { UnavailableError } from '@sluice/shared/errors/index.ts';

/**
 * Bytes of request bodies this gateway holds at once (being read, parsed,
 * validated or waiting for their answer), bounded by SLUICE_MAX_PENDING_BYTES.
 * SLUICE_MAX_PENDING_REQUESTS alone let 20,000 × 1 MiB bodies in. A request
 * reserves its declared Content-Length (or SLUICE_MAX_BODY_BYTES when it has
 * none: chunked) BEFORE a byte of it is read, and gives it back when its
 * answer is sent; a reservation over the budget is a fast 503.
 */
export class ByteBudget {
  /** Bytes reserved now. */
  held = 0;
  private readonly full: UnavailableError;

  constructor(readonly limit: number) {
    this.full = new UnavailableError(`this gateway holds SLUICE_MAX_PENDING_BYTES (${limit}) bytes of request bodies; retry later`, 1);
  }

  /** Reserve `bytes`, or throw the 503; the caller must `release(bytes)` after a successful reserve. */
  reserve(bytes: number): void {
    if (this.held + bytes > this.limit) throw this.full;
    this.held += bytes;
  }

  release(bytes: number): void {
    this.held -= bytes;
  }
}
