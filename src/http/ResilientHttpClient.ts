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
 * // Effect 3
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
 * ```ts
 * // Effect 4
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 * import { HttpClient } from "effect/http"
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
import { type ConfigFailure, currentClock, layerContext, readFields, unwrapLayer } from "#port"
import { decodeFailure, HttpClient, HttpClientError, type ResponseFailure, transportFailure } from "#port/httpClient"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { isRefusing } from "../core/breakerRefusal.js"
import type { InvalidConfigError } from "../errors/InvalidConfigError.js"
import * as Metrics from "../observability/Metrics.js"
import { check, isBudget } from "./internal/clientConfig.js"
import { ClientImpl } from "./internal/clientImpl.js"
import * as clientMetrics from "./internal/clientMetrics.js"
import { ClientMetrics } from "./internal/clientMetrics.js"
import { buildTarget, RetryShaping } from "./internal/clientTargets.js"
import { clientConfigFields } from "./internal/configFields.js"
import { readPool } from "./internal/pool.js"
import { watchUndici } from "./internal/poolWait.js"
import {
  type Options,
  type Refusal,
  ResilientHttpClient,
  type ResponseBodyTooLargeError
} from "./internal/resilientHttpClientApi.js"
import { parseRetryAfter as parse } from "./internal/retryAfter.js"
import { TargetTable } from "./internal/targetTable.js"
export {
  type Options,
  PoolExhaustedError,
  type PoolStats,
  type Pressure,
  type Refusal,
  ResilientHttpClient,
  ResponseBodyTooLargeError,
  type Snapshot,
  type TargetSnapshot
} from "./internal/resilientHttpClientApi.js"

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
 * // Effect 3
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
 * ```ts
 * // Effect 4
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { HttpClient } from "effect/http"
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
    const clock = yield* currentClock
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
 * // Effect 3
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
 * ```ts
 * // Effect 4
 * import { Effect } from "effect"
 * import { HttpClient } from "effect/http"
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
    E | Refusal | ResponseFailure | ResponseBodyTooLargeError,
    R
  >
  <E, R>(
    client: HttpClient.HttpClient.With<E, R>,
    resilience: ResilientHttpClient
  ): HttpClient.HttpClient.With<E | Refusal | ResponseFailure | ResponseBodyTooLargeError, R>
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
 * // Effect 3
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
 * ```ts
 * // Effect 4
 * import { Effect, Option } from "effect"
 * import { HttpClient } from "effect/http"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const call = HttpClient.get("http://127.0.0.1:1/").pipe(
 *   Effect.catch((error) =>
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
 * // Effect 3
 * import { HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * declare const resilience: ResilientHttpClient.ResilientHttpClient
 * const protectedClient = Effect.map(HttpClient.HttpClient, ResilientHttpClient.wrapTransparent(resilience))
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Effect } from "effect"
 * import { HttpClient } from "effect/http"
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
            ? decodeFailure(request, error.response, error, error.message)
            : transportFailure(request, error, error.message)
      ))
)

/**
 * A Layer replacing the `HttpClient` service with a protected one (see {@link wrapTransparent}), and
 * providing the {@link ResilientHttpClient} for its snapshot. Provide the real client layer to it.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { HttpClient } from "@effect/platform"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const Client = ResilientHttpClient.layer({ name: "partners" }).pipe(Layer.provide(NodeHttpClient.layer))
 * const program = HttpClient.get("http://127.0.0.1:1/").pipe(Effect.provide(Client))
 * ```
 *
 * ```ts
 * // Effect 4
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 * import { HttpClient } from "effect/http"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const Client = ResilientHttpClient.layer({ name: "partners" }).pipe(Layer.provide(NodeHttpClient.layerUndici))
 * const program = HttpClient.get("http://127.0.0.1:1/").pipe(Effect.provide(Client))
 * ```
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options
): Layer.Layer<HttpClient.HttpClient | ResilientHttpClient, InvalidConfigError, HttpClient.HttpClient> =>
  layerContext(Effect.gen(function*() {
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
 * // Effect 3
 * import { ConfigProvider, Effect } from "effect"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const provider = ConfigProvider.fromJson({
 *   partners: { attemptTimeout: "2 seconds", circuitBreaker: { failureRateThreshold: 25 }, rateLimiter: false }
 * })
 * const options = Effect.withConfigProvider(ResilientHttpClient.config("partners"), provider)
 * ```
 *
 * ```ts
 * // Effect 4
 * import { ConfigProvider, Effect } from "effect"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const provider = ConfigProvider.fromUnknown({
 *   partners: { attemptTimeout: "2 seconds", circuitBreaker: { failureRateThreshold: 25 }, rateLimiter: false }
 * })
 * const options = Effect.provideService(ResilientHttpClient.config("partners"), ConfigProvider.ConfigProvider, provider)
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
 * // Effect 3
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
 * ```ts
 * // Effect 4
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Layer, Schema } from "effect"
 * import { HttpClient } from "effect/http"
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
  InvalidConfigError | ConfigFailure,
  HttpClient.HttpClient
> => unwrapLayer(Effect.map(options, (read) => layer({ ...read, ...code })))

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
 * // Effect 3
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
 * ```ts
 * // Effect 4
 * import { Effect } from "effect"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * declare const client: ResilientHttpClient.ResilientHttpClient
 * const openRefusals = Effect.map(client.series, (series) =>
 *   series.filter((s) =>
 *     s.id === ResilientHttpClient.metrics.refusals.id && s.attributes?.["reason"] === "circuit_open"
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
