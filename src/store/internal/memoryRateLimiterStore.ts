/**
 * The {@link RateLimiterStore} interface over the in-process cores: what a distributed limiter falls back
 * to while its shared store is unreachable (`local-fallback`), and the reference the Redis store is tested
 * against (one contract suite runs on both). Cycles are epoch-aligned and time is Effect's `Clock`.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { learn, type Quota, sanitize, take } from "../../core/learnedQuota.js"
import { FixedWindow, type LimiterCore, SlidingWindow, TokenBucket } from "../../core/rateLimiterCore.js"
import { PeriodicCycles } from "../../core/rateLimiterCycles.js"
import type { Grant, RateLimiterStore, SharedLimit } from "../RateLimiterStore.js"

interface Entry {
  core: LimiterCore
  limit: SharedLimit
}

const build = (limit: SharedLimit, now: number): LimiterCore => {
  switch (limit.algorithm) {
    case "fixed-window":
      return new FixedWindow(new PeriodicCycles(0, limit.periodMillis), limit.limitForPeriod, now)
    case "token-bucket":
      return new TokenBucket(limit.limitForPeriod / limit.periodMillis, limit.capacity, now)
    case "sliding-window":
      return new SlidingWindow(limit.periodMillis, limit.limitForPeriod)
  }
}

/** Brings a core in line with the settings of the call (they travel with every call, as on Redis). */
const align = (entry: Entry, limit: SharedLimit, now: number): void => {
  const was = entry.limit
  if (was === limit) return
  entry.limit = limit
  if (was.algorithm !== limit.algorithm || was.periodMillis !== limit.periodMillis) {
    entry.core = build(limit, now)
    return
  }
  const core = entry.core
  if (core instanceof FixedWindow) {
    if (core.limit !== limit.limitForPeriod) core.setLimit(limit.limitForPeriod, now)
  } else if (core instanceof TokenBucket) {
    core.configure(limit.limitForPeriod / limit.periodMillis, limit.capacity, now)
  } else if (core instanceof SlidingWindow) {
    core.limit = limit.limitForPeriod
  }
}

export const makeMemoryRateLimiterStore = (): RateLimiterStore => {
  const entries = new Map<string, Entry>()
  const quotas = new Map<string, Quota>()
  const entry = (limit: SharedLimit, now: number): LimiterCore => {
    const found = entries.get(limit.name)
    if (found === undefined) {
      const core = build(limit, now)
      entries.set(limit.name, { core, limit })
      return core
    }
    align(found, limit, now)
    return found.core
  }
  const acquire = (limit: SharedLimit, permits: number, maxWaitMillis: number, now: number): Grant => {
    const core = entry(limit, now)
    const at = core.earliest(permits, now, now)
    const wait = at - now
    if (!(wait <= maxWaitMillis)) return { _tag: "Refused", retryAfterMillis: wait }
    core.reserveAt(permits, now, at)
    return { _tag: "Granted", waitMillis: Math.max(0, wait) }
  }
  return {
    acquire: (limit, permits, maxWaitMillis) =>
      Effect.map(Clock.currentTimeMillis, (now) => acquire(limit, permits, maxWaitMillis, now)),
    available: (limit) => Effect.map(Clock.currentTimeMillis, (now) => entry(limit, now).available(now)),
    drain: (limit) => Effect.map(Clock.currentTimeMillis, (now) => entry(limit, now).drain(now)),
    learn: (limit, quota) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const safe = sanitize(quota)
        if (safe !== undefined) quotas.set(limit.name, learn(quotas.get(limit.name), safe, now))
      }),
    takeLearned: (limit, permits) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const { quota, taken } = take(quotas.get(limit.name), permits, now)
        if (quota === undefined) quotas.delete(limit.name)
        else quotas.set(limit.name, quota)
        return taken
      })
  }
}
