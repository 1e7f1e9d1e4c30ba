/**
 * Unleash's sticky bucketing: `murmur3_x86_32("{groupId}:{userId}", seed 0)
 * % 100 + 1`, a number in 1…100 for a user and a flag (groupId = the flag's
 * name). A user is inside a rollout of `p` percent when its bucket is ≤ p, so
 * raising p only adds users and a user's answer never flips while p stays.
 * Checked against the `@unleash/client-specification` vectors
 * (test/flags/flags.bucket.test.ts).
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const encoder = new TextEncoder();

/** MurmurHash3 x86 32-bit of the UTF-8 bytes of `key` (Austin Appleby's reference algorithm). */
export function murmur3_32(key: string, seed = 0): number {
  const bytes = encoder.encode(key);
  const n = bytes.length;
  const blocks = n - (n % 4);
  let h = seed >>> 0;
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  switch (n & 3) {
    case 3:
      k ^= bytes[blocks + 2]! << 16;
    // falls through
    case 2:
      k ^= bytes[blocks + 1]! << 8;
    // falls through
    case 1:
      k ^= bytes[blocks]!;
      k = Math.imul(k, C1);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, C2);
      h ^= k;
  }
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Unleash's `normalizedValue(id, groupId)`: the user's bucket, 1…100. */
export function bucketOf(groupId: string, userId: string): number {
  return (murmur3_32(`${groupId}:${userId}`, 0) % 100) + 1;
}
