/**
 * The resilient HTTP client's vocabulary: its options, refusals and errors, snapshot shapes and service
 * interface (with its Context tag). Below both the call pipeline (`clientImpl.ts`) and the public
 * `ResilientHttpClient` module, which re-exports all of it.
 *
 * @internal
 */
import { type Codec, type DurationInput, type SeriesSnapshot, type ServiceKey, serviceKey } from "#port"
import type { HttpClientRequest, HttpClientResponse } from "#port/httpClient"
import type * as Undici from "@effect/platform-node/Undici"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as CircuitBreaker from "../../guards/CircuitBreaker.js"
import type * as RateLimiter from "../../guards/RateLimiter.js"
import type * as Retry from "../../guards/Retry.js"
import type * as RetryBudget from "../../guards/RetryBudget.js"
import type * as TimeLimiter from "../../guards/TimeLimiter.js"
import type * as httpEdges from "../../observability/internal/httpEdges.js"
import type { Guard } from "../../registry/Registry.js"
import type { PoolFigures } from "./pool.js"

/**
 * The client's options. Every guard is per target and built from these; a guard's own options follow
 * that guard's names and defaults (Resilience4j's), with the name set to `name:target`.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import type * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const Quote = Schema.Struct({ symbol: Schema.String, price: Schema.Number })
 *
 * const options: ResilientHttpClient.Options = {
 *   name: "quotes",
 *   key: (request) => new URL(request.url).host,
 *   circuitBreaker: { slidingWindowSize: 20, minimumNumberOfCalls: 10, waitDurationInOpenState: "5 seconds" },
 *   rateLimiter: { limitForPeriod: 100, limitRefreshPeriod: "1 second", timeoutDuration: "100 millis" },
 *   retry: { maxAttempts: 3, waitDuration: "200 millis" },
 *   retryBudget: { percentCanRetry: 0.1 },
 *   attemptTimeout: "2 seconds",
 *   totalTimeout: "10 seconds",
 *   validate: Quote
 * }
 * ```
 *
 * @since 0.1.0
 */
export interface Options {
  readonly name: string
  /** The target a request belongs to (its guards' key). Default, and when it throws: the URL's host. */
  readonly key?: (request: HttpClientRequest.HttpClientRequest) => string
  /**
   * Most targets with live guards; when full, the least recently used idle one is dropped for a new
   * one (when all are busy, a new target's call gets one-call guards). Default 1000.
   */
  readonly maxTargets?: number
  /** How long an unused target's guards are kept. Default 5 minutes. */
  readonly idleTimeToLive?: DurationInput
  /** Time allowed to one attempt (headers; and the body when it is read). Default 10 seconds. */
  readonly attemptTimeout?: DurationInput
  /** Time allowed to a whole call, retries and their waits included. Default 30 seconds. */
  readonly totalTimeout?: DurationInput
  /** Longest `Retry-After` obeyed; a longer one pauses only this long and ends retries. Default `totalTimeout`. */
  readonly maxRetryAfter?: DurationInput
  /** Methods whose calls may be retried. Default GET, HEAD, OPTIONS, PUT, DELETE. */
  readonly retryMethods?: ReadonlyArray<"GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "POST" | "PATCH">
  /** Statuses worth another attempt. Default 408, 429, 500, 502, 503, 504. */
  readonly retryStatuses?: ReadonlyArray<number>
  /** A 2xx response's JSON body must decode with this Schema, or the attempt fails (reason `Decode`). */
  readonly validate?: Codec<any, any>
  /**
   * Most bytes of a failure body (5xx, 408, 429) read and kept; past it the rest is not read and the
   * connection is closed (the kept response holds the first bytes). 0 to 1 GiB. Default 65536 (64 KiB).
   */
  readonly maxFailureBodyBytes?: number
  /**
   * Most bytes of a 2xx body read for `validate`; past it the attempt fails with
   * {@link ResponseBodyTooLargeError} (a breaker failure, not retried) and the connection is closed.
   * 1 to 1 GiB. Default 10485760 (10 MiB).
   */
  readonly maxValidatedBodyBytes?: number
  /**
   * Options of each target's breaker (its predicates are the client's own), or `false` for none. A
   * failing 429/503's `Retry-After` is the breaker's `retryAfter` hint (an opening it causes lasts at
   * least that long), capped at the client's `maxRetryAfter`.
   */
  readonly circuitBreaker?:
    | Omit<CircuitBreaker.Options, "name" | "recordError" | "ignoreError" | "recordResult" | "retryAfter">
    | false
  /** Options of each target's rate limiter; none by default. */
  readonly rateLimiter?: Omit<RateLimiter.Options, "name"> | false
  /**
   * Teach each target's rate limiter the quota the upstream announces in its responses (`RateLimit` /
   * `RateLimit-Policy`, or `X-RateLimit-Limit` / `-Remaining` / `-Reset`; see `RateLimiter.learn`), so
   * calls past it are refused here, before the upstream answers 429. With a shared `Store` the quota is
   * the fleet's. Requires `rateLimiter`. Default false.
   */
  readonly learnRateLimits?: boolean
  /** Retry options (attempts and delays), or `false` for no retries. */
  readonly retry?:
    | Omit<Retry.Options, "name" | "retryOn" | "retryOnResult" | "failAfterMaxAttempts" | "retryRejections" | "budget">
    | false
  /** A budget shared by every target, options for one budget per target (the default), or `false`. */
  readonly retryBudget?: RetryBudget.RetryBudget | Omit<RetryBudget.Options, "name"> | false
  /** The undici dispatcher the client sends through, to report its connection pools. */
  readonly dispatcher?: Undici.Dispatcher
  /** How often the pool gauges are refreshed when there is a `dispatcher`. Default 1 second. */
  readonly poolMetricsInterval?: DurationInput
  /**
   * Connections per origin of the pool the client sends through (undici's `connections`), for
   * `poolQueueLimit`. `NodeResilientHttpClient.layer` sets it from its agent's options. At least 1.
   */
  readonly poolConnections?: number
  /**
   * A call is refused with {@link PoolExhaustedError} (not sent, not seen by the breaker, no
   * rate-limiter permit taken) when the client already has `poolConnections + poolQueueLimit` calls
   * in flight to its origin: every connection is taken and this many calls already wait for one.
   * Requires `poolConnections`. At least 1. Default: none (calls wait for a connection, their attempt
   * timeout running).
   */
  readonly poolQueueLimit?: number
}

/**
 * What a protected call can fail with besides the client's own errors: refused by the target's open
 * breaker, by its rate limiter (or its `Retry-After` pause), or out of time.
 *
 * @example
 * ```ts
 * import type * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const reason = (e: ResilientHttpClient.Refusal) =>
 *   e._tag === "CallNotPermittedError" ? "circuit open" : e._tag === "RequestNotPermittedError" ? "rate limited" : "timeout"
 * ```
 *
 * @since 0.1.0
 */
export type Refusal =
  | CircuitBreaker.CallNotPermittedError
  | RateLimiter.RequestNotPermittedError
  | TimeLimiter.TimeoutExceededError
  | PoolExhaustedError

/**
 * A call refused before the network because its target's connection pool is exhausted: every
 * connection taken and `poolQueueLimit` calls already waiting for one (see {@link Options.poolQueueLimit}).
 * Not a failure of the dependency: the breaker does not see it. Through {@link layer} it arrives as
 * the `cause` of a `RequestError` (read it with {@link refusal}).
 *
 * With a `dispatcher` (undici), also a call whose last attempt timed out while still waiting in the
 * pool's queue for a connection, every open connection busy: `waitedMillis` says how long it waited.
 * That attempt was never sent; it was a timeout for the breaker and the retry (as any attempt
 * timeout), but the call's error names the pool, not the dependency's slowness.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const busy = (self: Effect.Effect<string, ResilientHttpClient.PoolExhaustedError>) =>
 *   self.pipe(Effect.catchTag("PoolExhaustedError", (e) => Effect.succeed(`${e.origin}: ${e.inFlight} in flight`)))
 * ```
 *
 * @since 0.3.0
 */
export class PoolExhaustedError extends Data.TaggedError("PoolExhaustedError")<{
  readonly client: string
  readonly target: string
  /** The request's origin, whose pool is exhausted. */
  readonly origin: string
  /**
   * The client's calls in flight to the origin, the pool's connections, and `poolQueueLimit`
   * (`Infinity` when none is set: only a call that waited is refused then).
   */
  readonly inFlight: number
  readonly connections: number
  readonly queueLimit: number
  /** Set when the call waited this long for a connection and timed out before getting one. */
  readonly waitedMillis?: number | undefined
}> {
  override get message(): string {
    const pool = `The connection pool of '${this.client}:${this.target}' (${this.origin}) is exhausted: `
    return this.waitedMillis === undefined
      ? pool +
        `${this.inFlight} calls in flight for ${this.connections} connections (poolQueueLimit ${this.queueLimit})`
      : pool + `the call waited ${this.waitedMillis} ms for a connection (${this.connections} busy) and timed out`
  }
}

/**
 * A 2xx body read for `validate` went past `maxValidatedBodyBytes`: the rest was not read, its
 * connection was closed, and the attempt counts as a failure for the target's breaker (it is not
 * retried). `response` is the response without its body. Through {@link layer} (which keeps the
 * `HttpClient` type) it arrives as the `cause` of a `ResponseError` with reason `"Decode"`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const tooBig = (self: Effect.Effect<string, ResilientHttpClient.ResponseBodyTooLargeError>) =>
 *   self.pipe(Effect.catchTag("ResponseBodyTooLargeError", (e) => Effect.succeed(`${e.target}: over ${e.limitBytes} bytes`)))
 * ```
 *
 * @since 0.1.0
 */
export class ResponseBodyTooLargeError extends Data.TaggedError("ResponseBodyTooLargeError")<{
  /** The client's name. */
  readonly client: string
  /** The target (its key) whose response was too large. */
  readonly target: string
  /** The limit passed, `maxValidatedBodyBytes`. */
  readonly limitBytes: number
  readonly response: HttpClientResponse.HttpClientResponse
}> {
  override get message(): string {
    return `The response body of '${this.client}:${this.target}' (status ${this.response.status}) exceeds ` +
      `maxValidatedBodyBytes (${this.limitBytes} bytes); it was discarded with its connection`
  }
}

/**
 * One undici connection pool's figures (from `Agent.stats`): `busy` connections are serving a
 * request, `free` ones are idle, `queued` requests wait for a connection, `pending` ones for a
 * connection's pipeline.
 *
 * @example
 * ```ts
 * import type * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const exhausted = (pool: ResilientHttpClient.PoolStats) => pool.free === 0 && pool.queued > 0
 * ```
 *
 * @since 0.1.0
 */
export type PoolStats = PoolFigures

/**
 * Why a target's calls may be refused or slow now; several can hold at once.
 *
 * @example
 * ```ts
 * import type * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const alert = (p: ResilientHttpClient.Pressure) => p === "pool-exhausted" ? "raise connections" : "wait"
 * ```
 *
 * @since 0.1.0
 */
export type Pressure = "circuit-open" | "paused-by-dependency" | "rate-limited" | "pool-exhausted"

/**
 * A target's state and counts (since its guards were created), for dashboards and health checks.
 *
 * @example
 * ```ts
 * import type * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const line = (t: ResilientHttpClient.TargetSnapshot) => `${t.target}: ${t.circuitState} [${t.pressures.join(", ")}]`
 * ```
 *
 * @since 0.1.0
 */
export interface TargetSnapshot {
  readonly target: string
  /** The breaker's state, `"None"` without a breaker. */
  readonly circuitState: CircuitBreaker.State | "None"
  readonly circuitMetrics: Option.Option<CircuitBreaker.Metrics>
  readonly rateLimiter: Option.Option<RateLimiter.Metrics>
  /** Remaining pause asked for by the dependency's `Retry-After`. */
  readonly pausedFor: Option.Option<Duration.Duration>
  readonly inFlight: number
  /** Attempts' responses by status code. */
  readonly responses: Readonly<Record<string, number>>
  /** Attempts that failed without a usable response. */
  readonly failures: {
    readonly transport: number
    /** Attempts that timed out after a connection took them (the dependency was slow). */
    readonly timeout: number
    /**
     * Attempts that timed out still waiting in the pool for a connection, every open one busy (never
     * sent; needs a `dispatcher`). Not counted in `timeout`.
     */
    readonly poolWait: number
    readonly invalidBody: number
    /** 2xx bodies past `maxValidatedBodyBytes`. */
    readonly bodyTooLarge: number
  }
  /** Calls refused before reaching the network. */
  readonly refusals: {
    readonly circuitOpen: number
    readonly rateLimited: number
    readonly paused: number
    readonly poolExhausted: number
  }
  /** Percentiles of the newest 1,024 attempts' durations, in millis. */
  readonly latencyMillis: {
    readonly samples: number
    readonly p50?: number | undefined
    readonly p95?: number | undefined
    readonly p99?: number | undefined
  }
  /** The pool of the target's last origin, when the client knows its dispatcher. */
  readonly pool: Option.Option<PoolStats>
  readonly pressures: ReadonlyArray<Pressure>
}

/**
 * The client's targets and connection pools.
 *
 * @example
 * ```ts
 * import type * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const open = (s: ResilientHttpClient.Snapshot) => s.targets.filter((t) => t.circuitState === "Open").map((t) => t.target)
 * ```
 *
 * @since 0.1.0
 */
export interface Snapshot {
  readonly targets: ReadonlyArray<TargetSnapshot>
  readonly pools: ReadonlyArray<PoolStats>
  /** Calls made with guards of their own because every one of `maxTargets` targets had a call in flight. */
  readonly oneCallTargets: number
}

/**
 * A running resilient client: the guards of every target, ready to wrap any `HttpClient`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const report = (client: ResilientHttpClient.ResilientHttpClient) =>
 *   Effect.flatMap(client.snapshot, (s) => Effect.log(`${client.name}: ${s.targets.length} targets`))
 * ```
 *
 * @since 0.1.0
 */
export interface ResilientHttpClient {
  readonly name: string
  readonly snapshot: Effect.Effect<Snapshot>
  /** The targets with live guards. */
  readonly targets: Effect.Effect<ReadonlyArray<string>>
  /**
   * The live targets' guards, named `name:target` (time
   * limiters `name:target:attempt` and `:total`): give them to `Snapshot.ofGuards` or `Health.ofGuards`.
   */
  readonly guards: Effect.Effect<ReadonlyArray<Guard>>
  /** The live series of the client's metrics (see {@link metrics}): its targets' and its pools'. */
  readonly series: Effect.Effect<ReadonlyArray<SeriesSnapshot>>
  /** Its targets as outbound HTTP edges, for `Snapshot.ofGuards`, `Health.ofGuards` and `Dashboard`'s `http`. */
  readonly httpEdges: Effect.Effect<{ readonly outbound: ReadonlyArray<httpEdges.Outbound> }>
}

/**
 * The running client provided by {@link layer}, to read its snapshot.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const targets = Effect.flatMap(ResilientHttpClient.ResilientHttpClient, (client) => client.targets)
 * ```
 *
 * @since 0.1.0
 */
export const ResilientHttpClient: ServiceKey<ResilientHttpClient, ResilientHttpClient> = serviceKey<
  ResilientHttpClient
>("breakwater/ResilientHttpClient")
