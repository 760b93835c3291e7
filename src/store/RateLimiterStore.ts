/**
 * The rate limiter's side of the {@link Store} interface: what a limiter made where a `Store` is provided
 * asks the shared state for. One call decides one request atomically (one round trip on Redis).
 *
 * The limiter's settings travel with every call ({@link SharedLimit}) and the store keeps them with the
 * state: the first writer's settings decide for every caller (so two configurations under one name never
 * get the larger limit, nor the sum of both), and a caller whose settings differ is told so
 * (`settingsDiffer`). The caller's settings take over once nobody has used the stored ones for one period
 * (the instances using them are gone, e.g. at the end of a rolling deploy), when the state expires, or at
 * once when the caller asks (`takeOver`: a limiter's first call after `reconfigure`, an explicit change
 * meant for the fleet).
 *
 * Differences from the in-process limiter, which a shared store cannot avoid:
 * - Time is the store's clock (Redis `TIME`), not Effect's `Clock`, so process clock skew cannot break the
 *   limit; fixed-window cycles are aligned to the store's epoch (cycle `k` is
 *   `[k * period, (k + 1) * period)` in epoch milliseconds), not to the limiter's creation.
 * - `limitRefreshPeriod` must be a duration (no `Schedule`).
 * - A reservation is not given back when its waiting caller is interrupted (as in Resilience4j).
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type { StoreError } from "./internal/storeError.js"

/**
 * A limiter's settings as the store sees them, sent with every call. Its `name` is the shared key.
 *
 * @example
 * ```ts
 * import type { Store } from "breakwater"
 *
 * const partner: Store.SharedLimit = {
 *   name: "partner",
 *   algorithm: "fixed-window",
 *   limitForPeriod: 100,
 *   periodMillis: 1000,
 *   capacity: 100
 * }
 * ```
 *
 * @since 0.1.0
 */
export interface SharedLimit {
  readonly name: string
  /**
   * `"fixed-window"`: Resilience4j's reservation semantics on epoch-aligned cycles. `"token-bucket"`:
   * `capacity` tokens refilled at `limitForPeriod` per period. `"sliding-window"`: exact (a log of grants
   * in the window; on Redis a sorted set, whose size is at most one entry per grant in the window).
   */
  readonly algorithm: "fixed-window" | "token-bucket" | "sliding-window"
  readonly limitForPeriod: number
  readonly periodMillis: number
  /** Token bucket only (the largest burst); the others ignore it. */
  readonly capacity: number
  /** These settings replace the stored ones at once, even while others use them (after `reconfigure`). */
  readonly takeOver?: boolean
}

/**
 * A store's answer to a request for permits: granted, to be used after `waitMillis` (0: now), or refused,
 * with the wait that would have been needed (`Infinity`: never, more than the limiter ever grants).
 * `settingsDiffer`: the shared state is kept under other settings than the caller's, which decided.
 * `stateDiscarded`: the stored state did not parse (written by something else: a wrong type, a value out
 * of range) and was discarded as lost state before deciding; says why.
 *
 * @example
 * ```ts
 * import type { Store } from "breakwater"
 *
 * const describe = (grant: Store.Grant) =>
 *   grant._tag === "Granted" ? `run in ${grant.waitMillis} ms` : `retry in ${grant.retryAfterMillis} ms`
 * ```
 *
 * @since 0.1.0
 */
export type Grant =
  | {
    readonly _tag: "Granted"
    readonly waitMillis: number
    readonly settingsDiffer?: true
    readonly stateDiscarded?: string
  }
  | {
    readonly _tag: "Refused"
    readonly retryAfterMillis: number
    readonly settingsDiffer?: true
    readonly stateDiscarded?: string
  }

/**
 * A quota an upstream announced (its `RateLimit` / `RateLimit-Policy` / `X-RateLimit-*` headers): at most
 * `remaining` calls for `resetAfterMillis`, then, when known, `limit` calls per `windowMillis`.
 *
 * @example
 * ```ts
 * import type { Store } from "breakwater"
 *
 * const announced: Store.LearnedQuota = { remaining: 4, resetAfterMillis: 60_000, limit: 5, windowMillis: 60_000 }
 * ```
 *
 * @since 0.1.0
 */
export interface LearnedQuota {
  readonly remaining: number
  readonly resetAfterMillis: number
  readonly limit?: number | undefined
  readonly windowMillis?: number | undefined
}

/**
 * The answer to taking permits from a learned quota: whether they were granted, what is left, and how
 * long until the quota resets.
 *
 * @example
 * ```ts
 * import type { Store } from "breakwater"
 *
 * const wait = (taken: Store.QuotaTaken) => taken.granted ? 0 : taken.resetAfterMillis
 * ```
 *
 * @since 0.1.0
 */
export interface QuotaTaken {
  readonly granted: boolean
  readonly remaining: number
  readonly resetAfterMillis: number
}

/**
 * Shared rate-limiter state. Every operation is atomic in the store.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { Store } from "breakwater"
 *
 * declare const store: Store.RateLimiterStore
 * const limit: Store.SharedLimit = { name: "partner", algorithm: "token-bucket", limitForPeriod: 10, periodMillis: 1000, capacity: 20 }
 * // Take 2 permits if they can be had within 500 ms (the caller then sleeps `waitMillis`).
 * const grant = store.acquire(limit, 2, 500)
 * ```
 *
 * @since 0.1.0
 */
export interface RateLimiterStore {
  /**
   * Reserves `permits` for the earliest moment they can be had in arrival order (never ahead of a waiting
   * reservation), if that is at most `maxWaitMillis` away; otherwise takes nothing and says how long it
   * would have been.
   */
  readonly acquire: (limit: SharedLimit, permits: number, maxWaitMillis: number) => Effect.Effect<Grant, StoreError>
  /**
   * Permits available now; negative while reservations wait for later permits (fixed window: counted as
   * whole cycles up to the latest reserved one).
   */
  readonly available: (limit: SharedLimit) => Effect.Effect<number, StoreError>
  /** Takes every permit available now (the current cycle's, the bucket's, the window's); returns how many. */
  readonly drain: (limit: SharedLimit) => Effect.Effect<number, StoreError>
  /**
   * Stores a quota learned from the upstream for every instance of the limiter (a lower count for the
   * same reset wins). Optional: a store without it leaves learned quotas in each process.
   */
  readonly learn?: (limit: SharedLimit, quota: LearnedQuota) => Effect.Effect<void, StoreError>
  /** Takes `permits` from the learned quota in force; `undefined` when there is none. */
  readonly takeLearned?: (limit: SharedLimit, permits: number) => Effect.Effect<QuotaTaken | undefined, StoreError>
}
