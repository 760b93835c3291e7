/**
 * A quota learned from an upstream's headers (`RateLimit`, `RateLimit-Policy`, `X-RateLimit-*`): at most
 * `remaining` calls until `resetAt`; then, when the upstream also announced its policy (`limit` per
 * `windowMillis`), one more window at that policy, after which the limiter's own settings decide alone
 * (every response the upstream sends teaches the quota afresh, so a stale one never outlives a window).
 *
 * Two announcements for the same reset (within {@link SAME_RESET_MILLIS}) keep the lower count: answers
 * arrive out of order, and a stale one must not hand back calls the fleet has already spent. The model
 * is Effect 4's `effect/persistence/RateLimiter` learned phase, fed by the upstream's own figures rather
 * than inferred from a 429.
 *
 * Pure (no Effect): the in-process limiter and the memory store use it; the Redis script mirrors it.
 *
 * @internal
 */

/** What a limiter is taught: `remaining` calls for `resetAfterMillis` from now, and the policy if known. */
export interface Announcement {
  readonly remaining: number
  readonly resetAfterMillis: number
  readonly limit?: number | undefined
  readonly windowMillis?: number | undefined
}

export interface Quota {
  remaining: number
  resetAt: number
  limit: number | undefined
  windowMillis: number | undefined
}

/** Resets this close together are the same reset, seen by answers a few hundred milliseconds apart. */
export const SAME_RESET_MILLIS = 1_000
/** The largest count taken (as the header parser's cap). */
export const MAX_LEARNED_QUOTA = 1_000_000_000
/** The longest reset or window taken: one day. */
export const MAX_LEARNED_MILLIS = 86_400_000

const clamp = (n: number | undefined, max: number): number | undefined =>
  n === undefined || !Number.isFinite(n) || n < 0 ? undefined : Math.min(Math.floor(n), max)

/** The announcement made safe (whole, non-negative, capped), or undefined when it teaches nothing. */
export const sanitize = (a: Announcement): Announcement | undefined => {
  const remaining = clamp(a.remaining, MAX_LEARNED_QUOTA)
  const resetAfterMillis = clamp(a.resetAfterMillis, MAX_LEARNED_MILLIS)
  // A quota that resets now says nothing about the calls to come.
  if (remaining === undefined || resetAfterMillis === undefined || resetAfterMillis === 0) return undefined
  const limit = clamp(a.limit, MAX_LEARNED_QUOTA)
  const windowMillis = clamp(a.windowMillis, MAX_LEARNED_MILLIS)
  return limit !== undefined && windowMillis !== undefined && windowMillis > 0
    ? { remaining, resetAfterMillis, limit, windowMillis }
    : { remaining, resetAfterMillis }
}

/** The quota in force at `now` (renewed once at the policy after its reset), or undefined. */
export const settle = (quota: Quota | undefined, now: number): Quota | undefined => {
  if (quota === undefined) return undefined
  if (now < quota.resetAt) return quota
  if (quota.limit !== undefined && quota.windowMillis !== undefined && now < quota.resetAt + quota.windowMillis) {
    return {
      remaining: quota.limit,
      resetAt: quota.resetAt + quota.windowMillis,
      limit: undefined,
      windowMillis: undefined
    }
  }
  return undefined
}

/** The quota after an announcement received at `now` (`a` sanitized). */
export const learn = (current: Quota | undefined, a: Announcement, now: number): Quota => {
  const resetAt = now + a.resetAfterMillis
  const held = settle(current, now)
  const sameReset = held !== undefined && Math.abs(held.resetAt - resetAt) <= SAME_RESET_MILLIS
  return {
    remaining: sameReset ? Math.min(held.remaining, a.remaining) : a.remaining,
    resetAt: sameReset ? Math.max(held.resetAt, resetAt) : resetAt,
    limit: a.limit,
    windowMillis: a.windowMillis
  }
}

/**
 * Takes `permits` from the quota: `undefined` when no quota is in force (the limiter decides alone),
 * else whether they were granted, what is left and how long until the reset.
 */
export interface Taken {
  readonly granted: boolean
  readonly remaining: number
  readonly resetAfterMillis: number
}

export const take = (
  quota: Quota | undefined,
  permits: number,
  now: number
): { readonly quota: Quota | undefined; readonly taken: Taken | undefined } => {
  const held = settle(quota, now)
  if (held === undefined) return { quota: undefined, taken: undefined }
  const granted = held.remaining >= permits
  const next = granted ? { ...held, remaining: held.remaining - permits } : held
  return { quota: next, taken: { granted, remaining: next.remaining, resetAfterMillis: next.resetAt - now } }
}
