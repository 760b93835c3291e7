/**
 * A resilient outbound HTTP client for `@effect/platform`: per-target circuit breaker, rate limiter,
 * retries drawn on a retry budget, per-attempt and total timeouts, `Retry-After` honoured, response
 * bodies validated, and every call measured. One line protects a whole program: provide
 * {@link layer} over your `HttpClient` layer and no call site changes.
 *
 * Order of the guards, outermost first (Polly's standard resilience handler):
 * rate limiter → total timeout → retry → circuit breaker → attempt timeout → the request.
 *
 * ## When to use
 * Whenever a program calls another team's (or company's) service over HTTP: a failing or slow
 * dependency is cut off by its breaker instead of tying up our callers, retries can never multiply
 * its load, and a dependency that says "429, retry after 30 s" is listened to.
 *
 * ## Gotchas
 * - Guards are kept per target, the URL's host by default (`key` changes that). Targets are created on
 *   first use and dropped after `idleTimeToLive` without calls. At most `maxTargets` live at once: when
 *   the table is full, a new target takes the place of the least recently used idle one (nginx's
 *   `limit_req_zone`), so no host's answers (a 503, a `Retry-After`) ever refuse calls to another.
 *   When every target has a call in flight, a call for a new target gets guards of its own for that
 *   call only (not tracked, not in the snapshot; counted in `Snapshot.oneCallTargets`).
 * - Classification, per attempt: transport errors, attempt timeouts, 5xx, 408 and 429 are failures for
 *   the breaker; other 4xx are successes (the dependency is healthy, the request was wrong); `Encode`
 *   and `InvalidUrl` errors are ignored. A 2xx whose body fails `validate` is a failure and is not
 *   retried (retrying a dependency that answers wrongly does not make it answer right).
 * - Failure responses (those the breaker counts) are read whole before they are returned, so that
 *   their connection is freed before a retry; they stay readable. So are 2xx bodies when `validate` is
 *   set. After the last attempt, a 5xx (or 408/429) is returned as a response, as a plain client would.
 * - 429 and 503 with `Retry-After` (delta-seconds or HTTP-date, capped at `maxRetryAfter`) pause the
 *   target: new calls are refused with `RequestNotPermittedError` until then (its `retryAfter` says how
 *   long), its rate limiter is drained, and a retry waits at least that long (or is not made at all
 *   when the wait is longer than `maxRetryAfter`).
 * - Retries are for idempotent methods only by default (GET, HEAD, OPTIONS, PUT, DELETE); every call
 *   deposits into the retry budget, every retry withdraws.
 * - Refusals and timeouts are typed errors with {@link wrap}; the {@link layer}, which must keep the
 *   `HttpClient` type, carries them as the `cause` of a `RequestError` (read them with {@link refusal}).
 *
 * @example
 * ```ts
 * import { HttpClient } from "@effect/platform"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const Client = ResilientHttpClient.layer({
 *   name: "partners",
 *   circuitBreaker: { failureRateThreshold: 50, minimumNumberOfCalls: 20 },
 *   retry: { maxAttempts: 3 },
 *   attemptTimeout: "2 seconds",
 *   totalTimeout: "10 seconds"
 * }).pipe(Layer.provide(NodeHttpClient.layerUndici))
 *
 * // Unchanged call sites, now protected.
 * const program = HttpClient.get("http://127.0.0.1:1/quotes").pipe(Effect.provide(Client))
 * ```
 *
 * @since 0.1.0
 */
import type * as Undici from "@effect/platform-node/Undici"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import type * as MetricPair from "effect/MetricPair"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { isRefusing } from "../core/breakerRefusal.js"
import type { InvalidConfigError } from "../errors/InvalidConfigError.js"
import * as CircuitBreaker from "../guards/CircuitBreaker.js"
import * as RateLimiter from "../guards/RateLimiter.js"
import * as Retry from "../guards/Retry.js"
import * as RetryBudget from "../guards/RetryBudget.js"
import * as TimeLimiter from "../guards/TimeLimiter.js"
import * as httpEdges from "../observability/internal/httpEdges.js"
import * as Metrics from "../observability/Metrics.js"
import { decodeOptions, readFields } from "../port/effect3/validation.js"
import type { Guard } from "../registry/Registry.js"
import { retryAfterField } from "../shared/internal/errors.js"
import { copyWithBody, readCapped } from "./internal/body.js"
import { ClientOptionsSchema } from "./internal/clientConfig.js"
import * as clientMetrics from "./internal/clientMetrics.js"
import { ClientMetrics, type TargetMetrics } from "./internal/clientMetrics.js"
import { clientConfigFields } from "./internal/configFields.js"
import * as edgeFigures from "./internal/edgeFigures.js"
import { failWithIssues, nestedIssues } from "./internal/nested.js"
import { type PoolFigures, readPool } from "./internal/pool.js"
import { PoolAdmission } from "./internal/poolAdmission.js"
import { AttemptTrace, traced, watchUndici } from "./internal/poolWait.js"
import { parseAnnouncedQuota } from "./internal/rateLimitHeaders.js"
import { parseRetryAfter as parse } from "./internal/retryAfter.js"
import { TargetTable } from "./internal/targetTable.js"

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
  readonly idleTimeToLive?: Duration.DurationInput
  /** Time allowed to one attempt (headers; and the body when it is read). Default 10 seconds. */
  readonly attemptTimeout?: Duration.DurationInput
  /** Time allowed to a whole call, retries and their waits included. Default 30 seconds. */
  readonly totalTimeout?: Duration.DurationInput
  /** Longest `Retry-After` obeyed; a longer one pauses only this long and ends retries. Default `totalTimeout`. */
  readonly maxRetryAfter?: Duration.DurationInput
  /** Methods whose calls may be retried. Default GET, HEAD, OPTIONS, PUT, DELETE. */
  readonly retryMethods?: ReadonlyArray<"GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "POST" | "PATCH">
  /** Statuses worth another attempt. Default 408, 429, 500, 502, 503, 504. */
  readonly retryStatuses?: ReadonlyArray<number>
  /** A 2xx response's JSON body must decode with this Schema, or the attempt fails (reason `Decode`). */
  readonly validate?: Schema.Schema<any, any, never>
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
  readonly poolMetricsInterval?: Duration.DurationInput
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
  readonly series: Effect.Effect<ReadonlyArray<MetricPair.MetricPair.Untyped>>
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
export const ResilientHttpClient: Context.Tag<ResilientHttpClient, ResilientHttpClient> = Context.GenericTag<
  ResilientHttpClient
>("breakwater/ResilientHttpClient")

/**
 * Reads a `Retry-After` value: delta-seconds or an HTTP-date, relative to `nowMillis` (a past date
 * is a zero wait); none for anything else.
 *
 * @example
 * ```ts
 * import { Clock, Effect } from "effect"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const waits = Effect.map(Clock.currentTimeMillis, (now) => ({
 *   inTwoMinutes: ResilientHttpClient.parseRetryAfter("120", now),
 *   atDate: ResilientHttpClient.parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now)
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const parseRetryAfter: (value: string | undefined, nowMillis: number) => Option.Option<Duration.Duration> = parse

type Settings = typeof ClientOptionsSchema.Type

const isHttpResponse = (u: unknown): u is HttpClientResponse.HttpClientResponse =>
  typeof u === "object" && u !== null && HttpClientResponse.TypeId in u

/** Statuses the breaker counts as failures. */
const isFailureStatus = (status: number) => status >= 500 || status === 408 || status === 429

const isCallerFault = (error: unknown) =>
  HttpClientError.isHttpClientError(error) && error._tag === "RequestError" && error.reason !== "Transport"

const isTransport = (error: unknown) =>
  HttpClientError.isHttpClientError(error) && error._tag === "RequestError" && error.reason === "Transport"

/** How retries are spaced: the configured delays, never shorter than a `Retry-After`. */
class RetryShaping {
  constructor(
    readonly clock: Clock.Clock,
    readonly maxRetryAfterMillis: number,
    readonly retryStatuses: ReadonlySet<number>
  ) {}

  /** The wait a response or an error asks for before the next attempt, in millis (0 when none). */
  hintMillis(input: unknown): number {
    if (isHttpResponse(input)) {
      if (input.status !== 429 && input.status !== 503) return 0
      const hint = parse(input.headers["retry-after"], this.clock.unsafeCurrentTimeMillis())
      return Option.isSome(hint) ? Duration.toMillis(hint.value) : 0
    }
    const hint = retryAfterField(input)
    return Option.isSome(hint) ? Duration.toMillis(hint.value) : 0
  }

  /** The retry delays: the configured ones, never shorter than a `Retry-After`; none past the cap. */
  schedule(base: Schedule.Schedule<unknown, unknown>): Schedule.Schedule<unknown, unknown> {
    return Schedule.intersect(base, Schedule.identity<unknown>()).pipe(
      Schedule.check((input: unknown) => this.hintMillis(input) <= this.maxRetryAfterMillis),
      Schedule.modifyDelay(([, input], delay) => Duration.max(delay, Duration.millis(this.hintMillis(input))))
    )
  }
}

/** One call: whether its last attempt ended waiting in the pool, and how long it waited. */
interface CallTrace {
  poolWaitMillis: number | undefined
}

/** One target's guards and figures. */
interface Target {
  readonly key: string
  readonly breaker: CircuitBreaker.CircuitBreaker<unknown, HttpClientResponse.HttpClientResponse> | undefined
  readonly limiter: RateLimiter.RateLimiter | undefined
  readonly retry: Retry.Retry<unknown, HttpClientResponse.HttpClientResponse> | undefined
  readonly budget: RetryBudget.RetryBudget | undefined
  readonly attemptTimeout: TimeLimiter.TimeLimiter
  readonly totalTimeout: TimeLimiter.TimeLimiter
  readonly metrics: TargetMetrics
  pausedUntil: number
  origin: string | undefined
}

const guardsOf = (target: Target): ReadonlyArray<Guard> => {
  const guards: Array<Guard> = []
  if (target.breaker !== undefined) guards.push(target.breaker)
  if (target.limiter !== undefined) guards.push(target.limiter)
  if (target.retry !== undefined) guards.push(target.retry)
  guards.push(target.attemptTimeout, target.totalTimeout)
  return guards
}

class ClientImpl implements ResilientHttpClient {
  readonly retryMethods: ReadonlySet<string>
  readonly maxRetryAfterMillis: number
  /** Calls in flight per origin, when `poolQueueLimit` bounds them. */
  readonly pool: PoolAdmission | undefined
  /** Whether attempts are traced through undici's diagnostics channels (see `internal/poolWait.ts`). */
  tracesPool = false
  oneCallTargets = 0

  constructor(
    readonly name: string,
    readonly settings: Settings,
    readonly options: Options,
    readonly clock: Clock.Clock,
    readonly table: TargetTable<Target>,
    readonly oneCallTarget: (key: string) => Effect.Effect<Target, never, Scope.Scope>,
    readonly metrics: ClientMetrics
  ) {
    this.retryMethods = new Set(settings.retryMethods)
    this.maxRetryAfterMillis = Duration.toMillis(settings.maxRetryAfter ?? settings.totalTimeout)
    this.pool = settings.poolQueueLimit === undefined || settings.poolConnections === undefined
      ? undefined
      : new PoolAdmission(settings.poolConnections, settings.poolQueueLimit)
  }

  keyOf(request: HttpClientRequest.HttpClientRequest): string {
    const key = this.options.key
    try {
      // A user key function that throws must not turn a request into a defect: use the host instead.
      if (key !== undefined) {
        try {
          return key(request)
        } catch {
          // fall through to the host
        }
      }
      return new URL(request.url).host
    } catch {
      return "(invalid-url)"
    }
  }

  // ---- one attempt -------------------------------------------------------------------------------

  private classify(
    target: Target,
    request: HttpClientRequest.HttpClientRequest,
    response: HttpClientResponse.HttpClientResponse
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.ResponseError | ResponseBodyTooLargeError> {
    if (this.settings.learnRateLimits && target.limiter !== undefined) {
      const quota = parseAnnouncedQuota((name) => response.headers[name], this.clock.unsafeCurrentTimeMillis())
      if (quota !== undefined) {
        return Effect.zipRight(RateLimiter.learn(target.limiter, quota), this.classifyStatus(target, request, response))
      }
    }
    return this.classifyStatus(target, request, response)
  }

  private classifyStatus(
    target: Target,
    request: HttpClientRequest.HttpClientRequest,
    response: HttpClientResponse.HttpClientResponse
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.ResponseError | ResponseBodyTooLargeError> {
    const status = response.status
    const schema = this.settings.validate
    if (schema !== undefined && status >= 200 && status < 300) {
      const limitBytes = this.settings.maxValidatedBodyBytes
      return Effect.flatMap(readCapped(response.stream, limitBytes), ({ bytes, complete }): Effect.Effect<
        HttpClientResponse.HttpClientResponse,
        HttpClientError.ResponseError | ResponseBodyTooLargeError
      > => {
        if (!complete) {
          target.metrics.bodyTooLarge()
          return Effect.fail(
            new ResponseBodyTooLargeError({
              client: this.name,
              target: target.key,
              limitBytes,
              response: copyWithBody(request, response, new Uint8Array(0), false)
            })
          )
        }
        const copy = copyWithBody(request, response, bytes, true)
        const decoded = decodeJson(schema, bytes)
        if (Either.isRight(decoded)) return Effect.succeed(copy)
        target.metrics.invalidBody()
        return Effect.fail(
          new HttpClientError.ResponseError({
            request,
            response: copy,
            reason: "Decode",
            cause: decoded.left,
            description: "the body does not match the expected schema"
          })
        )
      })
    }
    if (!isFailureStatus(status)) return Effect.succeed(response)
    if (status === 429 || status === 503) this.pause(target, response)
    const drain = target.limiter !== undefined && target.pausedUntil > this.clock.unsafeCurrentTimeMillis()
      ? target.limiter.drainPermissions
      : Effect.void
    // Read (up to the cap) so that the connection is free before a retry; past the cap the rest is
    // never downloaded: the connection is closed and the kept copy holds the first bytes.
    const kept = Effect.map(
      readCapped(response.stream, this.settings.maxFailureBodyBytes),
      ({ bytes, complete }) => copyWithBody(request, response, bytes, complete)
    )
    // A failure body that cannot be read is no worse than the failure: keep the response.
    return Effect.zipRight(drain, Effect.orElseSucceed(kept, () => response))
  }

  private pause(target: Target, response: HttpClientResponse.HttpClientResponse): void {
    const now = this.clock.unsafeCurrentTimeMillis()
    const hint = parse(response.headers["retry-after"], now)
    if (Option.isNone(hint)) return
    const until = now + Math.min(Duration.toMillis(hint.value), this.maxRetryAfterMillis)
    if (until > target.pausedUntil) target.pausedUntil = until
  }

  /**
   * Whether the attempt traced by `trace` waited in `origin`'s pool while every open connection was
   * busy: undici created its request, no connection took it, and the pool has no free connection. A
   * request waiting for a connection still being opened (an unreachable host) is not the pool's fault.
   */
  private waitedInPool(trace: AttemptTrace | undefined, origin: string | undefined): boolean {
    if (trace === undefined || !trace.waitedInPool || this.options.dispatcher === undefined) return false
    const pool = readPool(this.options.dispatcher).find((p) => p.origin === origin)
    return pool !== undefined && pool.busy > 0 && pool.free === 0
  }

  private attempt<E, R>(
    target: Target,
    request: HttpClientRequest.HttpClientRequest,
    send: Effect.Effect<HttpClientResponse.HttpClientResponse, E, R>,
    call: CallTrace
  ): Effect.Effect<
    HttpClientResponse.HttpClientResponse,
    E | HttpClientError.ResponseError | ResponseBodyTooLargeError | TimeLimiter.TimeoutExceededError,
    R
  > {
    return Effect.suspend(() => {
      const start = this.clock.unsafeCurrentTimeMillis()
      const metrics = target.metrics
      metrics.inFlight++
      const trace = this.tracesPool ? new AttemptTrace() : undefined
      call.poolWaitMillis = undefined
      return Effect.flatMap(
        trace === undefined ? send : traced(send, trace),
        (response) => this.classify(target, request, response)
      ).pipe(
        TimeLimiter.withTimeLimiter(target.attemptTimeout),
        Effect.onExit((exit) => {
          metrics.inFlight--
          const elapsed = this.clock.unsafeCurrentTimeMillis() - start
          const seconds = elapsed / 1000
          if (exit._tag === "Success") {
            metrics.response(exit.value.status, seconds)
            return Effect.void
          }
          const failure = Cause.failureOption(exit.cause)
          const error = Option.getOrUndefined(failure)
          const timedOut = (error as { _tag?: unknown } | undefined)?._tag === "TimeoutExceededError"
          // Timed out (this attempt's limit, or the call's total one interrupting it) before any
          // connection took it: the pool's doing, counted as such and not as a timeout.
          if ((timedOut || Cause.isInterruptedOnly(exit.cause)) && this.waitedInPool(trace, target.origin)) {
            call.poolWaitMillis = elapsed
            metrics.poolWait(seconds)
          } else if (timedOut) metrics.timeout(seconds)
          else if (isTransport(error)) metrics.transport(seconds)
          else metrics.latency(seconds) // invalid body (counted), caller's fault, defect or interruption
          return Effect.void
        })
      )
    })
  }

  // ---- one call ----------------------------------------------------------------------------------

  call<E, R>(
    request: HttpClientRequest.HttpClientRequest,
    send: Effect.Effect<HttpClientResponse.HttpClientResponse, E, R>
  ): Effect.Effect<
    HttpClientResponse.HttpClientResponse,
    E | Refusal | HttpClientError.ResponseError | ResponseBodyTooLargeError,
    R
  > {
    const key = this.keyOf(request)
    return Effect.acquireUseRelease(
      this.table.acquire(key),
      (lease) => lease === undefined ? this.alone(key, request, send) : this.guarded(lease.value, request, send),
      (lease) => lease === undefined ? Effect.void : this.table.release(lease)
    )
  }

  /** Every target is busy: this call gets guards of its own, never another host's. */
  private alone<E, R>(
    key: string,
    request: HttpClientRequest.HttpClientRequest,
    send: Effect.Effect<HttpClientResponse.HttpClientResponse, E, R>
  ) {
    this.oneCallTargets++
    return Effect.scoped(Effect.flatMap(this.oneCallTarget(key), (target) => this.guarded(target, request, send)))
  }

  private guarded<E, R>(
    target: Target,
    request: HttpClientRequest.HttpClientRequest,
    send: Effect.Effect<HttpClientResponse.HttpClientResponse, E, R>
  ): Effect.Effect<
    HttpClientResponse.HttpClientResponse,
    E | Refusal | HttpClientError.ResponseError | ResponseBodyTooLargeError,
    R
  > {
    const now = this.clock.unsafeCurrentTimeMillis()
    try {
      target.origin = new URL(request.url).origin
    } catch {
      // the client will fail with InvalidUrl
    }
    const pool = this.pool
    const origin = target.origin
    if (pool !== undefined && origin !== undefined) {
      if (!pool.admit(origin)) {
        target.metrics.refused("poolExhausted")
        return Effect.fail(
          new PoolExhaustedError({
            client: this.name,
            target: target.key,
            origin,
            inFlight: pool.count(origin),
            connections: pool.connections,
            queueLimit: pool.queueLimit
          })
        )
      }
      return Effect.ensuring(
        this.protect(target, request, send, now),
        Effect.sync(() => pool.release(origin))
      )
    }
    return this.protect(target, request, send, now)
  }

  private protect<E, R>(
    target: Target,
    request: HttpClientRequest.HttpClientRequest,
    send: Effect.Effect<HttpClientResponse.HttpClientResponse, E, R>,
    now: number
  ): Effect.Effect<
    HttpClientResponse.HttpClientResponse,
    E | Refusal | HttpClientError.ResponseError | ResponseBodyTooLargeError,
    R
  > {
    const trace: CallTrace = { poolWaitMillis: undefined }
    if (now < target.pausedUntil) {
      target.metrics.refused("paused")
      return Effect.fail(
        new RateLimiter.RequestNotPermittedError({
          limiterName: `${this.name}:${target.key}`,
          permits: 1,
          retryAfter: Option.some(Duration.millis(target.pausedUntil - now))
        })
      )
    }
    let call: Effect.Effect<
      HttpClientResponse.HttpClientResponse,
      E | Refusal | HttpClientError.ResponseError | ResponseBodyTooLargeError | Retry.MaxRetriesExceededError,
      R
    > = this.attempt(target, request, send, trace)
    if (target.breaker !== undefined) call = CircuitBreaker.withCircuitBreaker(call, target.breaker)
    if (target.retry !== undefined && this.retryMethods.has(request.method)) {
      call = Retry.withRetry(call, target.retry)
    } else if (target.budget !== undefined) {
      // Not retried, but still volume the budget's percentage is taken of.
      call = Effect.zipRight(target.budget.deposit, call)
    }
    call = TimeLimiter.withTimeLimiter(call, target.totalTimeout)
    if (target.limiter !== undefined) call = RateLimiter.withRateLimiter(call, target.limiter)
    return call.pipe(
      // `failAfterMaxAttempts` is off: the last response is returned, never this error.
      Effect.catchTag("MaxRetriesExceededError", (e) => Effect.die(e)),
      Effect.tapError((error) => {
        const tag = (error as { _tag?: unknown })._tag
        if (tag === "CallNotPermittedError") target.metrics.refused("circuitOpen")
        else if (tag === "RequestNotPermittedError") target.metrics.refused("rateLimited")
        return Effect.void
      }),
      // Timed out while its last attempt still waited for a connection: the pool, not the dependency.
      Effect.mapError((error) =>
        (error as { _tag?: unknown })._tag === "TimeoutExceededError" && trace.poolWaitMillis !== undefined
          ? this.poolWaitError(target, trace.poolWaitMillis)
          : error
      )
    ) as Effect.Effect<
      HttpClientResponse.HttpClientResponse,
      E | Refusal | HttpClientError.ResponseError | ResponseBodyTooLargeError,
      R
    >
  }

  private poolWaitError(target: Target, waitedMillis: number): PoolExhaustedError {
    const origin = target.origin ?? "(unknown)"
    const pool = this.options.dispatcher === undefined
      ? undefined
      : readPool(this.options.dispatcher).find((p) => p.origin === origin)
    return new PoolExhaustedError({
      client: this.name,
      target: target.key,
      origin,
      inFlight: this.pool?.count(origin) ?? target.metrics.inFlight,
      connections: this.settings.poolConnections ?? pool?.connected ?? 0,
      queueLimit: this.settings.poolQueueLimit ?? Number.POSITIVE_INFINITY,
      waitedMillis: Math.round(waitedMillis)
    })
  }

  // ---- reading -----------------------------------------------------------------------------------

  readonly targets: Effect.Effect<ReadonlyArray<string>> = Effect.sync(() => this.table.keys())

  readonly series: Effect.Effect<ReadonlyArray<MetricPair.MetricPair.Untyped>> = Effect.sync(() => {
    const out: Array<MetricPair.MetricPair.Untyped> = []
    for (const target of this.table.values()) target.metrics.series.pairs(out)
    this.metrics.poolSeries?.pairs(out)
    return out
  })

  readonly guards: Effect.Effect<ReadonlyArray<Guard>> = Effect.sync(() => this.table.values().flatMap(guardsOf))

  readonly snapshot: Effect.Effect<Snapshot> = Effect.gen(this, function*() {
    const pools = this.options.dispatcher === undefined ? [] : readPool(this.options.dispatcher)
    const targets: Array<TargetSnapshot> = []
    for (const target of this.table.values()) targets.push(yield* this.describe(target, pools))
    return { targets, pools, oneCallTargets: this.oneCallTargets }
  })

  readonly httpEdges: ResilientHttpClient["httpEdges"] = Effect.map(this.snapshot, (snapshot) => ({
    outbound: snapshot.targets.map((target) => edgeFigures.outbound(this.name, target))
  }))

  private describe(target: Target, pools: ReadonlyArray<PoolStats>): Effect.Effect<TargetSnapshot> {
    return Effect.gen(this, function*() {
      const now = this.clock.unsafeCurrentTimeMillis()
      const circuitState = target.breaker === undefined ? "None" : yield* target.breaker.state
      const circuitMetrics = target.breaker === undefined ? Option.none() : Option.some(yield* target.breaker.metrics)
      const rateLimiter = target.limiter === undefined ? Option.none() : Option.some(yield* target.limiter.metrics)
      const pool = Option.fromNullable(pools.find((p) => p.origin === target.origin))
      const pausedFor = now < target.pausedUntil
        ? Option.some(Duration.millis(target.pausedUntil - now))
        : Option.none()
      const pressures: Array<Pressure> = []
      if (circuitState === "Open" || circuitState === "ForcedOpen") pressures.push("circuit-open")
      if (Option.isSome(pausedFor)) pressures.push("paused-by-dependency")
      if (Option.isSome(rateLimiter) && rateLimiter.value.availablePermissions <= 0) pressures.push("rate-limited")
      if (Option.isSome(pool) && pool.value.free === 0 && pool.value.queued + pool.value.pending > 0) {
        pressures.push("pool-exhausted")
      }
      const m = target.metrics
      return {
        target: target.key,
        circuitState,
        circuitMetrics,
        rateLimiter,
        pausedFor,
        inFlight: m.inFlight,
        responses: m.responsesByCode(),
        failures: {
          transport: m.transportCount,
          timeout: m.timeoutCount,
          poolWait: m.poolWaitCount,
          invalidBody: m.invalidBodyCount,
          bodyTooLarge: m.bodyTooLargeCount
        },
        refusals: {
          circuitOpen: m.circuitOpenCount,
          rateLimited: m.rateLimitedCount,
          paused: m.pausedCount,
          poolExhausted: m.poolExhaustedCount
        },
        latencyMillis: httpEdges.latencyOf(m.recent),
        pool,
        pressures
      }
    })
  }
}

const decodeJson = (schema: Schema.Schema<any, any, never>, bytes: Uint8Array): Either.Either<unknown, unknown> => {
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder().decode(bytes))
  } catch (error) {
    return Either.left(error)
  }
  return Schema.decodeUnknownEither(schema)(json)
}

/** Builds one target's guards, in the target's scope. */
const buildTarget = (
  name: string,
  key: string,
  options: Options,
  shaping: RetryShaping,
  sharedBudget: RetryBudget.RetryBudget | undefined,
  metrics: ClientMetrics,
  collector: Option.Option<Metrics.Collector>,
  tracked: boolean
): Effect.Effect<Target, never, Scope.Scope> =>
  Effect.gen(function*() {
    const guardName = `${name}:${key}`
    const breaker = options.circuitBreaker === false ? undefined : yield* CircuitBreaker.make<
      unknown,
      HttpClientResponse.HttpClientResponse
    >({
      ...options.circuitBreaker,
      name: guardName,
      ignoreError: isCallerFault,
      recordResult: (response) => isFailureStatus(response.status),
      // As Effect 4's `HttpClient.withCircuitBreaker`: the upstream's own word on how long it is down.
      retryAfter: (failure) => {
        const millis = shaping.hintMillis(failure)
        return millis > 0 ? Option.some(Duration.millis(millis)) : Option.none()
      },
      maxRetryAfter: Duration.millis(shaping.maxRetryAfterMillis)
    })
    const limiter = options.rateLimiter === undefined || options.rateLimiter === false
      ? undefined
      : yield* RateLimiter.make({ ...options.rateLimiter, name: guardName })
    if (limiter !== undefined && options.learnRateLimits === true) RateLimiter.learnFromUpstream(limiter)
    const budget = options.retryBudget === false
      ? undefined
      : sharedBudget ?? (yield* RetryBudget.make({ ...options.retryBudget, name: guardName }))
    const retry = options.retry === false ? undefined : yield* makeRetry(guardName, options, shaping, budget)
    const attemptTimeout = yield* TimeLimiter.make({
      name: `${guardName}:attempt`,
      timeoutDuration: options.attemptTimeout ?? "10 seconds"
    })
    const totalTimeout = yield* TimeLimiter.make({
      name: `${guardName}:total`,
      timeoutDuration: options.totalTimeout ?? "30 seconds"
    })
    const target: Target = {
      key,
      breaker,
      limiter,
      retry,
      budget,
      attemptTimeout,
      totalTimeout,
      metrics: metrics.forTarget(key),
      pausedUntil: 0,
      origin: undefined
    }
    // Collected (metrics, and `collector.guards` for snapshots) until the target's scope closes, and
    // its own series exported until then too. A one-call target (untracked) has neither.
    if (Option.isSome(collector)) yield* Effect.forEach(guardsOf(target), collector.value.track, { discard: true })
    if (tracked) {
      yield* Effect.acquireRelease(
        Effect.sync(() => target.metrics.register()),
        () => Effect.sync(() => target.metrics.unregister())
      )
    }
    return target
  }).pipe(Effect.orDie) // options were checked by `make`

const makeRetry = (
  name: string,
  options: Options,
  shaping: RetryShaping,
  budget: RetryBudget.RetryBudget | undefined
) => {
  const { schedule, waitDuration, ...rest } = (options.retry || {}) as Retry.Options
  const base: Schedule.Schedule<unknown, unknown> = schedule ?? Schedule.spaced(waitDuration ?? "500 millis")
  return Retry.make<unknown, HttpClientResponse.HttpClientResponse>({
    ...rest,
    name,
    schedule: shaping.schedule(base),
    retryOn: (error) => isTransport(error) || (error as { _tag?: unknown })._tag === "TimeoutExceededError",
    retryOnResult: (response) => shaping.retryStatuses.has(response.status),
    failAfterMaxAttempts: false,
    ...(budget === undefined ? {} : { budget })
  })
}

const isBudget = (u: unknown): u is RetryBudget.RetryBudget =>
  typeof u === "object" && u !== null && "tryWithdraw" in u && "deposit" in u

/** Nested options worth handing to the guard's `make`: anything else is reported by the Schema. */
const isOptionsObject = (u: unknown): u is object => typeof u === "object" && u !== null && !Array.isArray(u)

/** Checks every option, the guards' included, reporting all issues in one error. */
const check = (options: Options): Effect.Effect<Settings, InvalidConfigError> =>
  Effect.gen(function*() {
    const decoded = yield* Effect.either(decodeOptions(ClientOptionsSchema, "ResilientHttpClient", options))
    if (Either.isLeft(decoded) && (typeof options !== "object" || options === null)) return yield* decoded.left
    const name = "probe"
    const issues = yield* Effect.all([
      Effect.succeed(Either.isLeft(decoded) ? decoded.left.issues : []),
      !isOptionsObject(options.circuitBreaker)
        ? Effect.succeed([])
        : nestedIssues("circuitBreaker", CircuitBreaker.make({ ...options.circuitBreaker, name })),
      !isOptionsObject(options.rateLimiter)
        ? Effect.succeed([])
        : nestedIssues("rateLimiter", RateLimiter.make({ ...options.rateLimiter, name })),
      !isOptionsObject(options.retry)
        ? Effect.succeed([])
        : nestedIssues("retry", Retry.make({ ...options.retry, name })),
      !isOptionsObject(options.retryBudget) || isBudget(options.retryBudget)
        ? Effect.succeed([])
        : nestedIssues("retryBudget", RetryBudget.make({ ...options.retryBudget, name }))
    ])
    yield* failWithIssues("ResilientHttpClient", typeof options.name === "string" ? options.name : "<unnamed>", issues)
    return Either.getOrThrow(decoded)
  })

/**
 * Creates the client's guards (none yet: each target's are built on its first call). Fails with
 * `InvalidConfigError` naming every bad field, the nested guards' included (e.g.
 * `circuitBreaker.failureRateThreshold`). Everything lives in the surrounding `Scope`.
 *
 * When a `Metrics.Collector` is in the context, every target's guards are tracked by it while the
 * target lives (its RcMap entry), so they appear in the guards' metrics (`breakwater_circuitbreaker_*`
 * with `name="client:target"`, ...), in `Prometheus.scrape` and in `collector.guards` (for
 * `Snapshot.ofGuards` and `Health.ofGuards`).
 *
 * @example
 * ```ts
 * import { HttpClient } from "@effect/platform"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const resilience = yield* ResilientHttpClient.make({ name: "partners", retry: { maxAttempts: 2 } })
 *     const client = (yield* HttpClient.HttpClient).pipe(ResilientHttpClient.wrap(resilience))
 *     return yield* client.get("http://127.0.0.1:1/health")
 *   })
 * ).pipe(Effect.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<ResilientHttpClient, InvalidConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = yield* check(options)
    const clock = yield* Effect.clock
    const collector = yield* Effect.serviceOption(Metrics.Collector)
    const metrics = yield* Effect.acquireRelease(
      Effect.sync(() => new ClientMetrics(settings.name)),
      (metrics) => Effect.sync(() => metrics.close())
    )
    const sharedBudget = isBudget(options.retryBudget) ? options.retryBudget : undefined
    const shaping = new RetryShaping(
      clock,
      Duration.toMillis(settings.maxRetryAfter ?? settings.totalTimeout),
      new Set(settings.retryStatuses)
    )
    const lookup = (key: string, tracked: boolean) =>
      buildTarget(
        settings.name,
        key,
        options,
        shaping,
        sharedBudget,
        metrics,
        tracked ? collector : Option.none(),
        tracked
      )
    const table = new TargetTable(
      settings.maxTargets,
      Duration.toMillis(settings.idleTimeToLive),
      clock,
      (key) => lookup(key, true),
      // Closing such a target would bring its host back Closed and unpaused: never evicted nor expired.
      (target, now) => now < target.pausedUntil || (target.breaker !== undefined && isRefusing(target.breaker, now))
    )
    yield* table.start()
    const client = new ClientImpl(
      settings.name,
      settings,
      options,
      clock,
      table,
      (key) => lookup(key, false),
      metrics
    )
    const dispatcher = options.dispatcher
    if (dispatcher !== undefined) {
      client.tracesPool = yield* watchUndici
      yield* Effect.forkScoped(
        Effect.repeat(
          Effect.sync(() => metrics.pools(readPool(dispatcher))),
          Schedule.spaced(settings.poolMetricsInterval)
        )
      )
    }
    return client
  })

/**
 * Protects a client with `resilience`'s guards: every request goes through its target's guards.
 * Refusals and timeouts are added to the client's error type. Dual.
 *
 * @example
 * ```ts
 * import { HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * declare const resilience: ResilientHttpClient.ResilientHttpClient
 * const program = Effect.gen(function*() {
 *   const client = ResilientHttpClient.wrap(yield* HttpClient.HttpClient, resilience)
 *   return yield* client.get("http://127.0.0.1:1/").pipe(
 *     Effect.catchTag("CallNotPermittedError", () => Effect.succeed("circuit open"))
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 */
export const wrap: {
  (
    resilience: ResilientHttpClient
  ): <E, R>(client: HttpClient.HttpClient.With<E, R>) => HttpClient.HttpClient.With<
    E | Refusal | HttpClientError.ResponseError | ResponseBodyTooLargeError,
    R
  >
  <E, R>(
    client: HttpClient.HttpClient.With<E, R>,
    resilience: ResilientHttpClient
  ): HttpClient.HttpClient.With<E | Refusal | HttpClientError.ResponseError | ResponseBodyTooLargeError, R>
} = dual(
  2,
  <E, R>(client: HttpClient.HttpClient.With<E, R>, resilience: ResilientHttpClient) =>
    HttpClient.transform(client, (send, request) => (resilience as ClientImpl).call(request, send))
)

/**
 * The refusal (open circuit, rate limit or dependency's pause, timeout) behind an error, whether it
 * is the typed refusal itself ({@link wrap}) or a `RequestError` carrying it ({@link layer}).
 *
 * @example
 * ```ts
 * import { HttpClient } from "@effect/platform"
 * import { Effect, Option } from "effect"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const call = HttpClient.get("http://127.0.0.1:1/").pipe(
 *   Effect.catchAll((error) =>
 *     Option.match(ResilientHttpClient.refusal(error), {
 *       onNone: () => Effect.fail(error),
 *       onSome: (refused) => Effect.succeed(`not sent: ${refused._tag}`)
 *     })
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 */
export const refusal = (error: unknown): Option.Option<Refusal> => {
  const isRefusal = (u: unknown): u is Refusal => {
    const tag = (u as { _tag?: unknown } | null)?._tag
    return tag === "CallNotPermittedError" || tag === "RequestNotPermittedError" || tag === "TimeoutExceededError" ||
      tag === "PoolExhaustedError"
  }
  if (isRefusal(error)) return Option.some(error)
  if (HttpClientError.isHttpClientError(error) && isRefusal(error.cause)) return Option.some(error.cause)
  return Option.none()
}

/**
 * {@link wrap} for a plain `HttpClient`, keeping its type: refusals and timeouts become a
 * `RequestError` (reason `"Transport"`) whose `cause` is the refusal.
 *
 * @example
 * ```ts
 * import { HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * declare const resilience: ResilientHttpClient.ResilientHttpClient
 * const protectedClient = Effect.map(HttpClient.HttpClient, ResilientHttpClient.wrapTransparent(resilience))
 * ```
 *
 * @since 0.1.0
 */
export const wrapTransparent: {
  (resilience: ResilientHttpClient): (client: HttpClient.HttpClient) => HttpClient.HttpClient
  (client: HttpClient.HttpClient, resilience: ResilientHttpClient): HttpClient.HttpClient
} = dual(
  2,
  (client: HttpClient.HttpClient, resilience: ResilientHttpClient): HttpClient.HttpClient =>
    HttpClient.transform(client, (send, request) =>
      Effect.mapError(
        (resilience as ClientImpl).call(request, send),
        (error): HttpClientError.HttpClientError =>
          HttpClientError.isHttpClientError(error)
            ? error
            : error._tag === "ResponseBodyTooLargeError"
            ? new HttpClientError.ResponseError({
              request,
              response: error.response,
              reason: "Decode",
              cause: error,
              description: error.message
            })
            : new HttpClientError.RequestError({
              request,
              reason: "Transport",
              cause: error,
              description: error.message
            })
      ))
)

/**
 * A Layer replacing the `HttpClient` service with a protected one (see {@link wrapTransparent}), and
 * providing the {@link ResilientHttpClient} for its snapshot. Provide the real client layer to it.
 *
 * @example
 * ```ts
 * import { HttpClient } from "@effect/platform"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const Client = ResilientHttpClient.layer({ name: "partners" }).pipe(Layer.provide(NodeHttpClient.layer))
 * const program = HttpClient.get("http://127.0.0.1:1/").pipe(Effect.provide(Client))
 * ```
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options
): Layer.Layer<HttpClient.HttpClient | ResilientHttpClient, InvalidConfigError, HttpClient.HttpClient> =>
  Layer.scopedContext(Effect.gen(function*() {
    const resilience = yield* make(options)
    const client = wrapTransparent(yield* HttpClient.HttpClient, resilience)
    return Context.make(ResilientHttpClient, resilience).pipe(Context.add(HttpClient.HttpClient, client))
  }))

/**
 * The plain (non-function) options read through `effect/Config` under the namespace `name`: the
 * client's own (`maxTargets`, `attemptTimeout`, `retryMethods` as a list, ...) and each guard's under
 * its key (`circuitBreaker.failureRateThreshold`, `rateLimiter.limitForPeriod`, `retry.maxAttempts`,
 * `retryBudget.percentCanRetry`); a guard's key set to `false` turns it off. From the environment with
 * `ConfigProvider.fromEnv().pipe(ConfigProvider.constantCase)`: `PARTNERS_ATTEMPT_TIMEOUT`,
 * `PARTNERS_CIRCUIT_BREAKER_FAILURE_RATE_THRESHOLD`, `PARTNERS_RETRY_METHODS=GET,PUT`. Absent keys take
 * the defaults; values are checked by {@link make}, so a bad one fails with `InvalidConfigError` naming
 * its field.
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const provider = ConfigProvider.fromJson({
 *   partners: { attemptTimeout: "2 seconds", circuitBreaker: { failureRateThreshold: 25 }, rateLimiter: false }
 * })
 * const options = Effect.withConfigProvider(ResilientHttpClient.config("partners"), provider)
 * ```
 *
 * @since 0.1.0
 */
export const config = (name: string): Config.Config<Options> =>
  Config.nested(readFields(clientConfigFields), name).pipe(Config.map((values) => ({ ...values, name }) as Options))

/**
 * Like {@link layer}, with the options read from `effect/Config` (see {@link config}); `code` adds what
 * configuration cannot carry (`key`, `validate`, a shared `RetryBudget`, a `dispatcher`). Bad values
 * fail with `InvalidConfigError` naming the field; unreadable ones with `ConfigError`.
 *
 * @example
 * ```ts
 * import { HttpClient } from "@effect/platform"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Layer, Schema } from "effect"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const Quote = Schema.Struct({ symbol: Schema.String, price: Schema.Number })
 * const Client = ResilientHttpClient.layerConfig(ResilientHttpClient.config("partners"), { validate: Quote }).pipe(
 *   Layer.provide(NodeHttpClient.layerUndici)
 * )
 * const program = HttpClient.get("http://127.0.0.1:1/quotes").pipe(Effect.provide(Client))
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = (
  options: Config.Config<Options>,
  code?: Pick<Options, "key" | "validate" | "retryBudget" | "dispatcher">
): Layer.Layer<
  HttpClient.HttpClient | ResilientHttpClient,
  InvalidConfigError | ConfigError.ConfigError,
  HttpClient.HttpClient
> => Layer.unwrapEffect(Effect.map(options, (read) => layer({ ...read, ...code })))

/**
 * The outbound metric families (Effect `MetricKey`s: name, type, description). All carry the labels
 * `client` and `target` (pool gauges: `client` and `origin`): `requestDuration` (seconds, per
 * attempt), `responses` (`code`), `failures` (`reason`: transport, timeout, pool_wait, invalid_body,
 * body_too_large), `refusals` (`reason`: circuit_open, rate_limited, paused, pool_exhausted), `poolConnections`
 * (`state`: busy, free) and `poolQueued`. A target's series live as long as the target: they leave
 * the exposition and the heap when it expires or is evicted, so they are not in Effect's global
 * registry (which never forgets a series); read them from `Prometheus.producer`, or from
 * the client's `series`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * declare const client: ResilientHttpClient.ResilientHttpClient
 * const openRefusals = Effect.map(client.series, (series) =>
 *   series.filter((s) =>
 *     s.metricKey.name === ResilientHttpClient.metrics.refusals.name &&
 *     s.metricKey.tags.some((label) => label.key === "reason" && label.value === "circuit_open")
 *   ))
 * ```
 *
 * @since 0.1.0
 */
export const metrics = {
  requestDuration: clientMetrics.requestDuration,
  responses: clientMetrics.responses,
  failures: clientMetrics.failures,
  refusals: clientMetrics.refusals,
  poolConnections: clientMetrics.poolConnections,
  poolQueued: clientMetrics.poolQueued
} as const
