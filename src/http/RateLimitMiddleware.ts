/**
 * Inbound rate limiting for `@effect/platform` servers: an `HttpMiddleware` (and a router-level form)
 * that gives each client — by IP address, API key, route, or any function of the request — its own
 * rate limiter, answers `429 Too Many Requests` with `Retry-After`, the IETF `RateLimit-Policy` and
 * `RateLimit` header fields and a problem+json body, and can shed load with a bulkhead (`503` beyond N
 * requests at once).
 *
 * ## When to use
 * At the edge of a service that others call: to keep one client from taking the capacity all the
 * others share, and to refuse fast (instead of queueing until everyone times out) when overloaded.
 *
 * ## Gotchas
 * - `X-Forwarded-For` is read only when `trustProxy` says how many proxies of ours append to it
 *   (`true` = 1); otherwise anyone could pick their own key. Malformed entries fall back to the peer
 *   address; requests with no usable key share one `anonymous` limiter.
 * - Keys are bounded: long or non-ASCII keys are replaced by a digest, API keys always are (they are
 *   secrets), at most `maxKeys` keys have a limiter (each costs ~20 KB: keep the bound realistic) and a
 *   key's limiter is dropped after `idleTimeToLive` unused. Requests for new keys beyond the bound share
 *   one overflow limiter, so a flood of distinct keys costs bounded memory and cannot crowd out the
 *   keys already known.
 * - `RateLimit`'s `t` (seconds to reset) is exact for the fixed window; for the token bucket it is the
 *   time to refill completely, for the sliding window the window's length (an upper bound).
 * - Metrics are labelled by route: with {@link RateLimitMiddleware.router} that is the route's pattern;
 *   as a server-wide middleware it is `routeLabel(request)` (default `"*"`), since a raw path would let
 *   clients create label values without end.
 *
 * @example
 * ```ts
 * import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
 * import { NodeHttpServer } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 * import { createServer } from "node:http"
 * import * as RateLimitMiddleware from "breakwater/RateLimitMiddleware"
 *
 * const router = HttpRouter.empty.pipe(HttpRouter.get("/quotes", HttpServerResponse.text("ok")))
 *
 * const ServerLive = Layer.unwrapScoped(
 *   Effect.map(
 *     RateLimitMiddleware.make({ name: "api", limitForPeriod: 100, limitRefreshPeriod: "1 minute", maxConcurrentRequests: 500 }),
 *     (limit) => HttpServer.serve(router, limit)
 *   )
 * ).pipe(Layer.provide(NodeHttpServer.layer(createServer, { port: 0 })))
 * ```
 *
 * @since 0.1.0
 */
import * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as RcMap from "effect/RcMap"
import type * as Scope from "effect/Scope"
import * as Bulkhead from "../Bulkhead.js"
import { decodeOptions, readFields } from "../internal/validation.js"
import type { InvalidConfigError } from "../InvalidConfigError.js"
import * as Metrics from "../Metrics.js"
import * as RateLimiter from "../RateLimiter.js"
import { serverConfigFields } from "./internal/configFields.js"
import { boundedKey, clientIp, secretKey } from "./internal/keys.js"
import { failWithIssues, nestedIssues } from "./internal/nested.js"
import { ServerOptionsSchema } from "./internal/serverConfig.js"
import * as serverMetrics from "./internal/serverMetrics.js"
import { ServerMetrics } from "./internal/serverMetrics.js"

/**
 * The middleware's options. The limit is per key: `limitForPeriod` requests per `limitRefreshPeriod`
 * (default 100 per minute), with the rate limiter's algorithms; refusals never wait.
 *
 * @example
 * ```ts
 * import type * as RateLimitMiddleware from "breakwater/RateLimitMiddleware"
 *
 * const perApiKey: RateLimitMiddleware.Options = {
 *   name: "public-api",
 *   limitForPeriod: 1000,
 *   limitRefreshPeriod: "1 hour",
 *   key: "api-key",
 *   apiKeyHeader: "x-api-key",
 *   maxKeys: 50_000,
 *   maxConcurrentRequests: 200
 * }
 * const behindOneProxy: RateLimitMiddleware.Options = { name: "web", trustProxy: 1 }
 * ```
 *
 * @since 0.1.0
 */
export interface Options {
  /** The policy's name in the `RateLimit-Policy` and `RateLimit` fields; printable ASCII. */
  readonly name: string
  /** Requests per period and key. Default 100. */
  readonly limitForPeriod?: number
  /** Default 1 minute. */
  readonly limitRefreshPeriod?: Duration.DurationInput
  readonly algorithm?: "fixed-window" | "token-bucket" | "sliding-window"
  /** Token bucket only: the largest burst. */
  readonly capacity?: number
  /**
   * What a client is: its IP address (default), its API key (`apiKeyHeader`), the route, or a
   * function of the request (`undefined` = anonymous).
   */
  readonly key?: "ip" | "api-key" | "route" | ((request: HttpServerRequest.HttpServerRequest) => string | undefined)
  /** Default `x-api-key`. */
  readonly apiKeyHeader?: string
  /** Proxies of ours appending to `X-Forwarded-For` (`true` = 1). Default `false`: the header is ignored. */
  readonly trustProxy?: boolean | number
  /** Most keys with a limiter. Default 10,000. */
  readonly maxKeys?: number
  /** How long an unused key's limiter is kept. Default the period, at least 1 minute. */
  readonly idleTimeToLive?: Duration.DurationInput
  /** Longer keys (and any non-ASCII key) are replaced by a digest. Default 128. */
  readonly maxKeyLength?: number
  /** Load shedding: beyond this many requests at once, answer 503 at once. Default: no limit. */
  readonly maxConcurrentRequests?: number
  /** The route label of metrics as a server-wide middleware (keep it bounded). Default `"*"`. */
  readonly routeLabel?: (request: HttpServerRequest.HttpServerRequest) => string
  /** Most distinct route labels; later ones are counted as `(other)`. Default 200. */
  readonly maxRoutes?: number
}

/**
 * The running middleware: apply it to an app (it is an `HttpMiddleware`), or to a router's routes
 * with `router` so that route keys and metric labels are the routes' patterns.
 *
 * @example
 * ```ts
 * import { HttpRouter, HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 * import type * as RateLimitMiddleware from "breakwater/RateLimitMiddleware"
 *
 * declare const limit: RateLimitMiddleware.RateLimitMiddleware
 * const router = HttpRouter.empty.pipe(HttpRouter.get("/a", HttpServerResponse.text("a")))
 * const whole = limit(router) // one middleware for everything
 * const perRoute = limit.router(router) // per route
 * const keys = Effect.flatMap(limit.liveKeys, (n) => Effect.log(`${n} clients tracked`))
 * ```
 *
 * @since 0.1.0
 */
export interface RateLimitMiddleware extends HttpMiddleware.HttpMiddleware {
  readonly policyName: string
  /** Applies the middleware to each route of `router`. */
  readonly router: <E, R>(router: HttpRouter.HttpRouter<E, R>) => HttpRouter.HttpRouter<E, R>
  /** Keys with a live limiter (never more than `maxKeys`). */
  readonly liveKeys: Effect.Effect<number>
  /** Requests being served, when load shedding is on. */
  readonly inFlight: Effect.Effect<Option.Option<number>>
}

type Settings = typeof ServerOptionsSchema.Type

interface KeyEntry {
  readonly limiter: RateLimiter.RateLimiter
  readonly createdAt: number
}

interface Admission {
  readonly allowed: boolean
  readonly remaining: number
  readonly resetSeconds: number
  readonly retryAfterSeconds: number
}

const ANONYMOUS = "anonymous"

/** A structured-field string (RFC 8941): quotes and backslashes escaped. */
const sfString = (s: string) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`

class Middleware {
  readonly periodMillis: number
  readonly windowSeconds: number
  readonly hops: number
  readonly policyHeader: string
  readonly quotedName: string

  constructor(
    readonly settings: Settings,
    readonly options: Options,
    readonly clock: Clock.Clock,
    readonly keys: RcMap.RcMap<string, KeyEntry, Cause.ExceededCapacityException>,
    readonly overflow: KeyEntry,
    readonly bulkhead: Bulkhead.Bulkhead | undefined,
    readonly metrics: ServerMetrics
  ) {
    this.periodMillis = Duration.toMillis(settings.limitRefreshPeriod)
    this.windowSeconds = Math.max(1, Math.ceil(this.periodMillis / 1000))
    this.hops = settings.trustProxy === true ? 1 : settings.trustProxy === false ? 0 : settings.trustProxy
    this.quotedName = sfString(settings.name)
    this.policyHeader = `${this.quotedName};q=${settings.limitForPeriod};w=${this.windowSeconds}`
  }

  /** The client's key and its class (for refusal metrics); never throws, always bounded. */
  keyOf(request: HttpServerRequest.HttpServerRequest, route: string): readonly [key: string, keyClass: string] {
    const kind = this.settings.key
    const max = this.settings.maxKeyLength
    if (kind === "ip") {
      const ip = clientIp(request.headers["x-forwarded-for"], Option.getOrUndefined(request.remoteAddress), this.hops)
      return ip === undefined ? [ANONYMOUS, ANONYMOUS] : [`ip:${ip}`, "ip"]
    }
    if (kind === "api-key") {
      const apiKey = request.headers[this.settings.apiKeyHeader]
      return apiKey === undefined || apiKey.length === 0
        ? [ANONYMOUS, ANONYMOUS]
        : [`key:${secretKey(apiKey)}`, "api-key"]
    }
    if (kind === "route") return [`route:${boundedKey(route, max)}`, "route"]
    let custom: string | undefined
    try {
      custom = (kind as (request: HttpServerRequest.HttpServerRequest) => string | undefined)(request)
    } catch {
      custom = undefined
    }
    return custom === undefined || custom.length === 0
      ? [ANONYMOUS, ANONYMOUS]
      : [`custom:${boundedKey(custom, max)}`, "custom"]
  }

  /** Seconds until the key's quota is whole again (see the module's Gotchas). */
  private resetSeconds(entry: KeyEntry, available: number, now: number): number {
    const period = this.periodMillis
    switch (this.options.algorithm ?? "fixed-window") {
      case "fixed-window":
        return Math.ceil((period - ((now - entry.createdAt) % period)) / 1000)
      case "token-bucket": {
        const capacity = this.options.capacity ?? this.settings.limitForPeriod
        const missing = Math.max(0, capacity - available)
        return Math.ceil((missing * period) / this.settings.limitForPeriod / 1000)
      }
      default:
        return this.windowSeconds
    }
  }

  admit(key: string): Effect.Effect<readonly [Admission, boolean]> {
    return Effect.scoped(
      Effect.flatMap(
        Effect.orElseSucceed(
          Effect.map(RcMap.get(this.keys, key), (entry) => [entry, false] as const),
          () => [this.overflow, true] as const
        ),
        ([entry, overflowed]) =>
          Effect.flatMap(
            Effect.either(entry.limiter.acquire(1)),
            (result) =>
              Effect.map(entry.limiter.metrics, ({ availablePermissions }): readonly [Admission, boolean] => {
                const now = this.clock.unsafeCurrentTimeMillis()
                const retryAfter = result._tag === "Left"
                  ? Option.getOrElse(result.left.retryAfter, () => Duration.millis(this.periodMillis))
                  : Duration.zero
                return [{
                  allowed: result._tag === "Right",
                  remaining: Math.max(0, Math.floor(availablePermissions)),
                  resetSeconds: Math.max(0, this.resetSeconds(entry, availablePermissions, now)),
                  retryAfterSeconds: Math.max(1, Math.ceil(Duration.toMillis(retryAfter) / 1000))
                }, overflowed]
              })
          )
      )
    )
  }

  rateLimitHeaders(admission: Admission): Record<string, string> {
    return {
      "ratelimit-policy": this.policyHeader,
      "ratelimit": `${this.quotedName};r=${admission.remaining};t=${admission.resetSeconds}`
    }
  }

  tooManyRequests(admission: Admission): HttpServerResponse.HttpServerResponse {
    return problem(429, "Too Many Requests", "The rate limit for this client has been reached; retry later.", {
      ...this.rateLimitHeaders(admission),
      "retry-after": String(admission.retryAfterSeconds)
    })
  }

  guard<E, R, RR>(
    app: HttpApp.Default<E, R>,
    routeOf: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<string, never, RR>
  ): HttpApp.Default<E, R | RR | HttpServerRequest.HttpServerRequest> {
    return Effect.flatMap(
      HttpServerRequest.HttpServerRequest,
      (request) =>
        Effect.flatMap(routeOf(request), (route) => {
          const start = this.clock.unsafeCurrentTimeMillis()
          const labels = this.metrics.route(route)
          const [key, keyClass] = this.keyOf(request, route)
          return Effect.flatMap(this.admit(key), ([admission, overflowed]) => {
            if (!admission.allowed) {
              this.metrics.refused("rate_limited", overflowed ? "overflow" : keyClass)
              const refusal = this.tooManyRequests(admission)
              labels.record(refusal.status, this.seconds(start))
              return Effect.succeed(refusal)
            }
            // A server-wide middleware sees the response only after it is sent: add the fields just before.
            const headers = this.rateLimitHeaders(admission)
            const served = Effect.zipRight(
              HttpApp.appendPreResponseHandler((_request, response) =>
                Effect.succeed(HttpServerResponse.setHeaders(response, headers))
              ),
              app
            )
            const shed = this.bulkhead === undefined ? served : Effect.catchIf(
              Bulkhead.withBulkhead(served, this.bulkhead),
              (e): e is Bulkhead.BulkheadFullError => (e as { _tag?: unknown })._tag === "BulkheadFullError",
              () => {
                this.metrics.refused("shed", keyClass)
                return Effect.succeed(
                  problem(503, "Service Unavailable", "The service is at capacity; retry shortly.", {
                    "retry-after": "1"
                  })
                )
              }
            )
            return Effect.onExit(shed, (exit) => {
              const seconds = this.seconds(start)
              if (exit._tag === "Success") {
                labels.record(exit.value.status, seconds)
                return Effect.void
              }
              if (Cause.isInterruptedOnly(exit.cause)) return Effect.void
              return Effect.map(
                HttpServerError.causeResponse(exit.cause),
                ([response]) => labels.record(response.status, seconds)
              )
            })
          })
        })
    ) as HttpApp.Default<E, R | RR | HttpServerRequest.HttpServerRequest>
  }

  private seconds(start: number): number {
    return (this.clock.unsafeCurrentTimeMillis() - start) / 1000
  }
}

const problem = (status: number, title: string, detail: string, headers: Record<string, string>) =>
  HttpServerResponse.unsafeJson({ type: "about:blank", title, status, detail }, {
    status,
    contentType: "application/problem+json",
    headers
  })

const MINUTE = 60_000

/**
 * Creates the middleware: per-key limiters on demand (in an Effect `RcMap`, bounded by `maxKeys`),
 * the overflow limiter and, with `maxConcurrentRequests`, the shedding bulkhead, all in the
 * surrounding `Scope`. Fails with `InvalidConfigError` naming every bad field.
 *
 * When a `Metrics.Collector` is in the context, it tracks the overflow limiter (`name:(overflow)`: busy
 * when `maxKeys` is reached) and the shedding bulkhead (`name:shed`) for as long as the middleware lives.
 * The per-key limiters are not tracked: one metric series per client would be unbounded.
 *
 * @example
 * ```ts
 * import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
 * import { Effect, Layer } from "effect"
 * import * as RateLimitMiddleware from "breakwater/RateLimitMiddleware"
 *
 * const router = HttpRouter.empty.pipe(HttpRouter.get("/", HttpServerResponse.text("hello")))
 * const Served = Layer.unwrapScoped(
 *   Effect.map(RateLimitMiddleware.make({ name: "api", key: "api-key" }), (limit) => HttpServer.serve(limit.router(router)))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<RateLimitMiddleware, InvalidConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = yield* decodeOptions(ServerOptionsSchema, "RateLimitMiddleware", options)
    const limiterOptions = (name: string): RateLimiter.Options => ({
      name,
      limitForPeriod: settings.limitForPeriod,
      limitRefreshPeriod: settings.limitRefreshPeriod,
      timeoutDuration: 0,
      ...(options.algorithm === undefined ? {} : { algorithm: options.algorithm }),
      ...(options.capacity === undefined ? {} : { capacity: options.capacity })
    })
    const issues = yield* Effect.all([
      nestedIssues("limiter", RateLimiter.make(limiterOptions("probe"))),
      options.maxConcurrentRequests === undefined
        ? Effect.succeed([])
        : nestedIssues("bulkhead", Bulkhead.make({ name: "probe", maxConcurrentCalls: options.maxConcurrentRequests }))
    ])
    yield* failWithIssues("RateLimitMiddleware", settings.name, issues)
    const clock = yield* Effect.clock
    const entry = (key: string) =>
      Effect.map(
        Effect.orDie(RateLimiter.make(limiterOptions(`${settings.name}:${key}`))),
        (limiter): KeyEntry => ({ limiter, createdAt: clock.unsafeCurrentTimeMillis() })
      )
    const keys = yield* RcMap.make({
      lookup: entry,
      capacity: settings.maxKeys,
      idleTimeToLive: settings.idleTimeToLive ??
        Duration.millis(Math.max(MINUTE, Duration.toMillis(settings.limitRefreshPeriod)))
    })
    const overflow = yield* entry("(overflow)")
    const bulkhead = settings.maxConcurrentRequests === undefined ? undefined : yield* Bulkhead.make({
      name: `${settings.name}:shed`,
      maxConcurrentCalls: settings.maxConcurrentRequests,
      maxWaitDuration: 0
    })
    const collector = yield* Effect.serviceOption(Metrics.Collector)
    if (Option.isSome(collector)) {
      yield* collector.value.track(overflow.limiter)
      if (bulkhead !== undefined) yield* collector.value.track(bulkhead)
    }
    const impl = new Middleware(
      settings,
      options,
      clock,
      keys,
      overflow,
      bulkhead,
      new ServerMetrics(settings.name, settings.maxRoutes)
    )
    const routeLabel = options.routeLabel
    const serverRoute = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<string> =>
      Effect.sync(() => {
        if (routeLabel === undefined) return settings.key === "route" ? pathOf(request.url) : "*"
        try {
          return routeLabel(request)
        } catch {
          return "*"
        }
      })
    const routerRoute = Effect.map(
      HttpRouter.RouteContext,
      (context) => `${context.route.method} ${context.route.path}`
    )
    const middleware = (<E, R>(app: HttpApp.Default<E, R>) =>
      impl.guard(app, serverRoute)) as HttpMiddleware.HttpMiddleware
    return Object.assign(middleware, {
      policyName: settings.name,
      router: <E, R>(router: HttpRouter.HttpRouter<E, R>): HttpRouter.HttpRouter<E, R> =>
        HttpRouter.use(router, (app) => impl.guard(app, () => routerRoute)) as unknown as HttpRouter.HttpRouter<E, R>,
      liveKeys: Effect.map(RcMap.keys(keys), (all) => all.length),
      inFlight: bulkhead === undefined
        ? Effect.succeed(Option.none())
        : Effect.map(bulkhead.metrics, (m) => Option.some(m.maxAllowedConcurrentCalls - m.availableConcurrentCalls))
    }) satisfies RateLimitMiddleware
  })

/**
 * The plain (non-function) options read through `effect/Config` under the namespace `name` (which is
 * also the policy's name): `limitForPeriod`, `limitRefreshPeriod`, `algorithm`, `capacity`, `key` (a
 * kind: `ip`, `api-key` or `route`), `apiKeyHeader`, `trustProxy` (`true`, `false` or a number of hops),
 * `maxKeys`, `idleTimeToLive`, `maxKeyLength`, `maxConcurrentRequests` and `maxRoutes`. From the
 * environment with `ConfigProvider.fromEnv().pipe(ConfigProvider.constantCase)`: `API_LIMIT_FOR_PERIOD`,
 * `API_TRUST_PROXY`, ... Absent keys take the defaults; values are checked by {@link make}, so a bad one
 * fails with `InvalidConfigError` naming its field.
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import * as RateLimitMiddleware from "breakwater/RateLimitMiddleware"
 *
 * const provider = ConfigProvider.fromJson({ api: { limitForPeriod: 600, limitRefreshPeriod: "1 minute", trustProxy: 1 } })
 * const limit = Effect.flatMap(RateLimitMiddleware.config("api"), RateLimitMiddleware.make).pipe(
 *   Effect.withConfigProvider(provider)
 * )
 * ```
 *
 * @since 0.1.0
 */
export const config = (name: string): Config.Config<Options> =>
  Config.nested(readFields(serverConfigFields), name).pipe(Config.map((values) => ({ ...values, name }) as Options))

/** The path of a request URL, without the query; bounded later as a key. */
const pathOf = (url: string): string => {
  const query = url.indexOf("?")
  return query === -1 ? url : url.slice(0, query)
}

/**
 * The inbound metrics, for exporters and tests: `requestDuration` (seconds) and `responses` (`code`)
 * labelled by `policy` and `route`; `refusals` by `policy`, `reason` (rate_limited, shed) and
 * `key_class` (ip, api-key, route, custom, anonymous, overflow).
 *
 * @example
 * ```ts
 * import { Effect, Metric, MetricLabel } from "effect"
 * import * as RateLimitMiddleware from "breakwater/RateLimitMiddleware"
 *
 * const refusedByIp = Metric.value(
 *   Metric.taggedWithLabels(RateLimitMiddleware.metrics.refusals, [
 *     MetricLabel.make("policy", "api"),
 *     MetricLabel.make("reason", "rate_limited"),
 *     MetricLabel.make("key_class", "ip")
 *   ])
 * )
 * const program = Effect.map(refusedByIp, (state) => state.count)
 * ```
 *
 * @since 0.1.0
 */
export const metrics = {
  requestDuration: serverMetrics.requestDuration,
  responses: serverMetrics.responses,
  refusals: serverMetrics.refusals
} as const
