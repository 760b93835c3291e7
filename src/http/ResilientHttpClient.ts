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
 *   first use, at most `maxTargets` of them (later ones share one overflow target), and dropped after
 *   `idleTimeToLive` without calls.
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
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Undici from "@effect/platform-node/Undici"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as RcMap from "effect/RcMap"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as CircuitBreaker from "../CircuitBreaker.js"
import { retryAfterField } from "../internal/errors.js"
import { decodeOptions, readFields } from "../internal/validation.js"
import type { InvalidConfigError } from "../InvalidConfigError.js"
import * as Metrics from "../Metrics.js"
import * as RateLimiter from "../RateLimiter.js"
import type { Guard } from "../Registry.js"
import * as Retry from "../Retry.js"
import * as RetryBudget from "../RetryBudget.js"
import * as TimeLimiter from "../TimeLimiter.js"
import { ClientOptionsSchema } from "./internal/clientConfig.js"
import * as clientMetrics from "./internal/clientMetrics.js"
import { ClientMetrics, type TargetMetrics } from "./internal/clientMetrics.js"
import { clientConfigFields } from "./internal/configFields.js"
import { failWithIssues, nestedIssues } from "./internal/nested.js"
import { type PoolFigures, readPool } from "./internal/pool.js"
import { parseRetryAfter as parse } from "./internal/retryAfter.js"

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
  /** Most targets with live guards; requests for more share one overflow target. Default 1000. */
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
  /** Options of each target's breaker (its predicates are the client's own), or `false` for none. */
  readonly circuitBreaker?:
    | Omit<CircuitBreaker.Options, "name" | "recordError" | "ignoreError" | "recordResult">
    | false
  /** Options of each target's rate limiter; none by default. */
  readonly rateLimiter?: Omit<RateLimiter.Options, "name"> | false
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
  readonly failures: { readonly transport: number; readonly timeout: number; readonly invalidBody: number }
  /** Calls refused before reaching the network. */
  readonly refusals: { readonly circuitOpen: number; readonly rateLimited: number; readonly paused: number }
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
   * The live targets' guards (and the overflow target's, once used), named `name:target` (time
   * limiters `name:target:attempt` and `:total`): give them to `Snapshot.ofGuards` or `Health.ofGuards`.
   */
  readonly guards: Effect.Effect<ReadonlyArray<Guard>>
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

  constructor(
    readonly name: string,
    readonly settings: Settings,
    readonly options: Options,
    readonly clock: Clock.Clock,
    readonly targetsMap: RcMap.RcMap<string, Target, Cause.ExceededCapacityException>,
    readonly overflow: Target,
    readonly metrics: ClientMetrics
  ) {
    this.retryMethods = new Set(settings.retryMethods)
    this.maxRetryAfterMillis = Duration.toMillis(settings.maxRetryAfter ?? settings.totalTimeout)
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

  /** Reads the body of a response we keep (failure or validated) and returns a readable copy. */
  private buffered(
    request: HttpClientRequest.HttpClientRequest,
    response: HttpClientResponse.HttpClientResponse
  ): Effect.Effect<readonly [HttpClientResponse.HttpClientResponse, Uint8Array], HttpClientError.ResponseError> {
    return Effect.map(response.arrayBuffer, (buffer) => {
      const bytes = new Uint8Array(buffer)
      const empty = bytes.byteLength === 0 || response.status === 204 || response.status === 205 ||
        response.status === 304
      const copy = new Response(empty ? null : bytes, {
        status: response.status,
        headers: response.headers as Record<string, string>
      })
      return [HttpClientResponse.fromWeb(request, copy), bytes] as const
    })
  }

  private classify(
    target: Target,
    request: HttpClientRequest.HttpClientRequest,
    response: HttpClientResponse.HttpClientResponse
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.ResponseError> {
    const status = response.status
    const schema = this.settings.validate
    if (schema !== undefined && status >= 200 && status < 300) {
      return Effect.flatMap(this.buffered(request, response), ([copy, bytes]) => {
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
    return Effect.zipRight(
      drain,
      // A failure body that cannot be read is no worse than the failure: keep the response.
      Effect.orElseSucceed(Effect.map(this.buffered(request, response), ([copy]) => copy), () => response)
    )
  }

  private pause(target: Target, response: HttpClientResponse.HttpClientResponse): void {
    const now = this.clock.unsafeCurrentTimeMillis()
    const hint = parse(response.headers["retry-after"], now)
    if (Option.isNone(hint)) return
    const until = now + Math.min(Duration.toMillis(hint.value), this.maxRetryAfterMillis)
    if (until > target.pausedUntil) target.pausedUntil = until
  }

  private attempt<E, R>(
    target: Target,
    request: HttpClientRequest.HttpClientRequest,
    send: Effect.Effect<HttpClientResponse.HttpClientResponse, E, R>
  ): Effect.Effect<
    HttpClientResponse.HttpClientResponse,
    E | HttpClientError.ResponseError | TimeLimiter.TimeoutExceededError,
    R
  > {
    return Effect.suspend(() => {
      const start = this.clock.unsafeCurrentTimeMillis()
      const metrics = target.metrics
      metrics.inFlight++
      return Effect.flatMap(send, (response) => this.classify(target, request, response)).pipe(
        TimeLimiter.withTimeLimiter(target.attemptTimeout),
        Effect.onExit((exit) => {
          metrics.inFlight--
          const seconds = (this.clock.unsafeCurrentTimeMillis() - start) / 1000
          if (exit._tag === "Success") {
            metrics.response(exit.value.status, seconds)
            return Effect.void
          }
          const failure = Cause.failureOption(exit.cause)
          const error = Option.getOrUndefined(failure)
          if ((error as { _tag?: unknown } | undefined)?._tag === "TimeoutExceededError") metrics.timeout(seconds)
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
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, E | Refusal | HttpClientError.ResponseError, R> {
    return Effect.acquireUseRelease(
      Scope.make(),
      (scope) =>
        Effect.flatMap(
          Effect.orElseSucceed(
            Scope.extend(RcMap.get(this.targetsMap, this.keyOf(request)), scope),
            () => this.overflow
          ),
          (target) => this.guarded(target, request, send)
        ),
      (scope, exit) => Scope.close(scope, exit)
    )
  }

  private guarded<E, R>(
    target: Target,
    request: HttpClientRequest.HttpClientRequest,
    send: Effect.Effect<HttpClientResponse.HttpClientResponse, E, R>
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, E | Refusal | HttpClientError.ResponseError, R> {
    const now = this.clock.unsafeCurrentTimeMillis()
    try {
      target.origin = new URL(request.url).origin
    } catch {
      // the client will fail with InvalidUrl
    }
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
      E | Refusal | HttpClientError.ResponseError | Retry.MaxRetriesExceededError,
      R
    > = this.attempt(target, request, send)
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
      })
    ) as Effect.Effect<HttpClientResponse.HttpClientResponse, E | Refusal | HttpClientError.ResponseError, R>
  }

  // ---- reading -----------------------------------------------------------------------------------

  readonly targets: Effect.Effect<ReadonlyArray<string>> = Effect.suspend(() => RcMap.keys(this.targetsMap))

  readonly guards: Effect.Effect<ReadonlyArray<Guard>> = Effect.gen(this, function*() {
    const guards: Array<Guard> = []
    for (const key of yield* RcMap.keys(this.targetsMap)) {
      const target = yield* Effect.scoped(Effect.option(RcMap.get(this.targetsMap, key)))
      if (Option.isSome(target)) guards.push(...guardsOf(target.value))
    }
    if (this.overflow.metrics.used) guards.push(...guardsOf(this.overflow))
    return guards
  })

  readonly snapshot: Effect.Effect<Snapshot> = Effect.gen(this, function*() {
    const pools = this.options.dispatcher === undefined ? [] : readPool(this.options.dispatcher)
    const keys = yield* RcMap.keys(this.targetsMap)
    const targets: Array<TargetSnapshot> = []
    for (const key of keys) {
      // `get` on a live key only takes a reference; the scope gives it back at once.
      const target = yield* Effect.scoped(Effect.option(RcMap.get(this.targetsMap, key)))
      if (Option.isSome(target)) targets.push(yield* this.describe(target.value, pools))
    }
    if (this.overflow.metrics.used) targets.push(yield* this.describe(this.overflow, pools))
    return { targets, pools }
  })

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
        failures: { transport: m.transportCount, timeout: m.timeoutCount, invalidBody: m.invalidBodyCount },
        refusals: { circuitOpen: m.circuitOpenCount, rateLimited: m.rateLimitedCount, paused: m.pausedCount },
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
  collector: Option.Option<Metrics.Collector>
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
      recordResult: (response) => isFailureStatus(response.status)
    })
    const limiter = options.rateLimiter === undefined || options.rateLimiter === false
      ? undefined
      : yield* RateLimiter.make({ ...options.rateLimiter, name: guardName })
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
    // Collected (metrics, and `collector.guards` for snapshots) until the target's scope closes.
    if (Option.isSome(collector)) yield* Effect.forEach(guardsOf(target), collector.value.track, { discard: true })
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
 * `Snapshot.ofGuards` and `Health.ofGuards`); the overflow target's guards are tracked from the start.
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
    const metrics = new ClientMetrics(settings.name)
    const sharedBudget = isBudget(options.retryBudget) ? options.retryBudget : undefined
    const shaping = new RetryShaping(
      clock,
      Duration.toMillis(settings.maxRetryAfter ?? settings.totalTimeout),
      new Set(settings.retryStatuses)
    )
    const lookup = (key: string) => buildTarget(settings.name, key, options, shaping, sharedBudget, metrics, collector)
    const targets = yield* RcMap.make({
      lookup,
      capacity: settings.maxTargets,
      idleTimeToLive: settings.idleTimeToLive
    })
    const overflow = yield* lookup("(overflow)")
    const client = new ClientImpl(settings.name, settings, options, clock, targets, overflow, metrics)
    const dispatcher = options.dispatcher
    if (dispatcher !== undefined) {
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
    E | Refusal | HttpClientError.ResponseError,
    R
  >
  <E, R>(
    client: HttpClient.HttpClient.With<E, R>,
    resilience: ResilientHttpClient
  ): HttpClient.HttpClient.With<E | Refusal | HttpClientError.ResponseError, R>
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
    return tag === "CallNotPermittedError" || tag === "RequestNotPermittedError" || tag === "TimeoutExceededError"
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
 * Like {@link layer}, over `@effect/platform-node`'s undici client with its own undici `Agent`
 * (built from `agentOptions`, e.g. `{ connections: 10 }` per origin, and closed with the layer), so the
 * connection pools are measured and shown in the snapshot.
 *
 * @example
 * ```ts
 * import { HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const Client = ResilientHttpClient.layerUndici({ name: "partners" }, { connections: 10 })
 * const program = Effect.gen(function*() {
 *   const response = yield* HttpClient.get("http://127.0.0.1:1/")
 *   const { pools } = yield* Effect.flatMap(ResilientHttpClient.ResilientHttpClient, (c) => c.snapshot)
 *   return { status: response.status, pools }
 * }).pipe(Effect.provide(Client))
 * ```
 *
 * @since 0.1.0
 */
export const layerUndici = (
  options: Omit<Options, "dispatcher">,
  agentOptions?: Undici.Agent.Options
): Layer.Layer<HttpClient.HttpClient | ResilientHttpClient, InvalidConfigError> =>
  Layer.scopedContext(Effect.gen(function*() {
    const dispatcher = yield* Effect.acquireRelease(
      Effect.sync(() => new Undici.Agent(agentOptions)),
      (agent) => Effect.promise(() => agent.destroy())
    )
    const resilience = yield* make({ ...options, dispatcher })
    const client = wrapTransparent(NodeHttpClient.makeUndici(dispatcher), resilience)
    return Context.make(ResilientHttpClient, resilience).pipe(Context.add(HttpClient.HttpClient, client))
  }))

/**
 * The connection pools of an undici dispatcher (an `Agent`: one per origin; a `Pool` or `Client`:
 * one), read now.
 *
 * @example
 * ```ts
 * import { Undici } from "@effect/platform-node"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const agent = new Undici.Agent({ connections: 4 })
 * const busy = ResilientHttpClient.poolStats(agent).map((pool) => `${pool.origin}: ${pool.busy} busy`)
 * ```
 *
 * @since 0.1.0
 */
export const poolStats = (dispatcher: Undici.Dispatcher): ReadonlyArray<PoolStats> => readPool(dispatcher)

/**
 * The outbound metrics, for exporters and tests. All carry the labels `client` and `target` (pool
 * gauges: `client` and `origin`): `requestDuration` (seconds, per attempt), `responses` (`code`),
 * `failures` (`reason`: transport, timeout, invalid_body), `refusals` (`reason`: circuit_open,
 * rate_limited, paused), `poolConnections` (`state`: busy, free) and `poolQueued`.
 *
 * @example
 * ```ts
 * import { Effect, Metric, MetricLabel } from "effect"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const openRefusals = Metric.value(
 *   Metric.taggedWithLabels(ResilientHttpClient.metrics.refusals, [
 *     MetricLabel.make("client", "partners"),
 *     MetricLabel.make("target", "api.example.com"),
 *     MetricLabel.make("reason", "circuit_open")
 *   ])
 * )
 * const program = Effect.map(openRefusals, (state) => state.count)
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
