/**
 * Inbound rate limiting for Effect HTTP servers (`@effect/platform` in the Effect 3 build, `effect/http` in
 * the Effect 4 build): an `HttpMiddleware` (and a router-level form)
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
 * - `X-Forwarded-For` is read only when the connecting peer is in `trustedProxies` (addresses or
 *   CIDR ranges), and walked from the right only through addresses that are; otherwise anyone could
 *   pick their own key, or another client's. A malformed entry stops the walk at the proxy that wrote
 *   it; requests with no usable key share one `anonymous` limiter. Addresses are canonical (one IPv6
 *   address however spelled, IPv4-mapped IPv6 as IPv4, zone ids dropped) and IPv6 clients are keyed
 *   by their /64 (`ipv6Prefix`).
 * - Keys are bounded: long or non-ASCII keys are replaced by a digest, API keys always are (they are
 *   secrets). At most `maxKeys` keys have state (about 0.6 KB each, no timer); when full, a new key
 *   takes the place of the least recently used key with no request in flight (as nginx's
 *   `limit_req_zone`), so a flood of distinct keys costs bounded memory and never locks out a new
 *   client. A key unused for `idleTimeToLive` is forgotten. A client able to present more than
 *   `maxKeys` distinct keys can evict its own and start afresh: keep `maxKeys` above the clients
 *   expected within `idleTimeToLive`. When every key has a request in flight, a new key is answered
 *   503 (key class `overflow`).
 * - With `key: "route"` as a server-wide middleware, the key is the normalised path (`/quotes/`,
 *   `//quotes`, `/%71uotes`, `/QUOTES` and `/quotes;a` are one route). A path last answered 404
 *   shares the `(unmatched)` key with every other such path (the `maxKeys` most recently used are
 *   remembered); any other path, answered yet or not, has a key of its own (in the `maxKeys` table),
 *   so a flood of 404 paths never refuses a real route. Each never-seen path gets its own quota: to
 *   limit a client sending ever-new paths, add a `key: "ip"` middleware. Metrics label a path by
 *   itself only once it has been answered with something other than 404 (the `maxRoutes` most
 *   recently used paths). {@link RateLimitMiddleware.router} keys by the matched route's pattern
 *   instead, which needs no learning.
 * - Slots (`maxConcurrentRequests`, `maxConcurrentRequestsPerKey`) are held until the response body
 *   has been sent or the connection closed, not merely until the handler returns; a slow upload holds
 *   one for at most `requestBodyTimeout` (set it, or the server's own request timeout: Node's default
 *   is 300 s).
 * - `RateLimit`'s `t` (seconds to reset) is exact for the fixed window; for the token bucket it is the
 *   time to refill completely, for the sliding window the window's length (an upper bound).
 * - Metrics are labelled by route: with {@link RateLimitMiddleware.router} that is the route's pattern;
 *   as a server-wide middleware it is `routeLabel(request)` (default `"*"`), since a raw path would let
 *   clients create label values without end.
 * - Effect 4: the middleware is `effect/http`'s `HttpMiddleware` (`HttpServer.serve(app, limit)`, or
 *   `HttpRouter.serve(routes, { middleware: limit })`), and `limit.router` takes and returns a routes
 *   Layer: `HttpRouter.serve(limit.router(HttpRouter.add("GET", "/quotes", HttpServerResponse.text("ok"))))`.
 *   A handler is an Effect there (a response is not one): `Effect.succeed(HttpServerResponse.text("ok"))`
 *   where Effect 3 accepts the response itself. The example below is Effect 3's.
 * - Effect 4's server makes a server span for every request it serves through a middleware, even with no
 *   tracer installed, and none for an app served alone. Applied to the app instead
 *   (`HttpServer.serve(limit(app))`), the middleware answers the same (fields, 429s, metrics, the 500 of
 *   a failing app) without that span: a few percent of a small request's CPU (BENCHMARKS.md, section 11).
 *
 * @example
 * ```ts
 * // Effect 3
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
 * ```ts
 * // Effect 4
 * import { NodeHttpServer } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 * import { HttpRouter, HttpServerResponse } from "effect/http"
 * import { createServer } from "node:http"
 * import * as RateLimitMiddleware from "breakwater/RateLimitMiddleware"
 *
 * const Quotes = HttpRouter.add("GET", "/quotes", Effect.succeed(HttpServerResponse.text("ok")))
 *
 * const ServerLive = Layer.unwrap(
 *   Effect.map(
 *     RateLimitMiddleware.make({ name: "api", limitForPeriod: 100, limitRefreshPeriod: "1 minute", maxConcurrentRequests: 500 }),
 *     (limit) => HttpRouter.serve(Quotes, { middleware: limit })
 *   )
 * ).pipe(Layer.provide(NodeHttpServer.layer(createServer, { port: 0 })))
 * ```
 *
 * @since 0.1.0
 */
import { currentClock, decodeOptions, nowMillis, readFields } from "#port"
import {
  type App,
  matchedRoute,
  type Middleware as HttpMiddleware,
  routesMiddleware,
  type ServerRequest
} from "#port/httpServer"
import * as Config from "effect/Config"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { KeyTable } from "../core/keyTable.js"
import type { InvalidConfigError } from "../errors/InvalidConfigError.js"
import * as Bulkhead from "../guards/Bulkhead.js"
import * as RateLimiter from "../guards/RateLimiter.js"
import * as httpEdges from "../observability/internal/httpEdges.js"
import * as Metrics from "../observability/Metrics.js"
import { serverConfigFields } from "./internal/configFields.js"
import { failWithIssues, nestedIssues } from "./internal/nested.js"
import type { Options, RateLimitMiddleware } from "./internal/rateLimitMiddlewareApi.js"
import { ServerOptionsSchema } from "./internal/serverConfig.js"
import * as serverMetrics from "./internal/serverMetrics.js"
import { ServerMetrics } from "./internal/serverMetrics.js"
import { type KeyState, Middleware } from "./internal/serverMiddleware.js"
export type { Options, RateLimitMiddleware } from "./internal/rateLimitMiddlewareApi.js"

const MINUTE = 60_000

/**
 * Creates the middleware: per-key state on demand (a limiter's core in a bounded LRU table, no timer
 * per key) and, with `maxConcurrentRequests`, the shedding bulkhead, in the surrounding `Scope`.
 * Fails with `InvalidConfigError` naming every bad field.
 *
 * When a `Metrics.Collector` is in the context, it tracks the shedding bulkhead (`name:shed`) for as
 * long as the middleware lives. The per-key limiters are not tracked: one metric series per client
 * would be unbounded.
 *
 * @example
 * ```ts
 * // Effect 3
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
 * ```ts
 * // Effect 4
 * import { Effect, Layer } from "effect"
 * import { HttpRouter, HttpServerResponse } from "effect/http"
 * import * as RateLimitMiddleware from "breakwater/RateLimitMiddleware"
 *
 * const Hello = HttpRouter.add("GET", "/", Effect.succeed(HttpServerResponse.text("hello")))
 * const Served = Layer.unwrap(
 *   Effect.map(RateLimitMiddleware.make({ name: "api", key: "api-key" }), (limit) => HttpRouter.serve(limit.router(Hello)))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<RateLimitMiddleware, InvalidConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = yield* decodeOptions(ServerOptionsSchema, "RateLimitMiddleware", options)
    const limiterOptions: RateLimiter.Options = {
      name: "probe",
      limitForPeriod: settings.limitForPeriod,
      limitRefreshPeriod: settings.limitRefreshPeriod,
      timeoutDuration: 0,
      ...(options.algorithm === undefined ? {} : { algorithm: options.algorithm }),
      ...(options.capacity === undefined ? {} : { capacity: options.capacity })
    }
    const issues = yield* Effect.all([
      nestedIssues("limiter", RateLimiter.make(limiterOptions)),
      options.maxConcurrentRequests === undefined
        ? Effect.succeed([])
        : nestedIssues("bulkhead", Bulkhead.make({ name: "probe", maxConcurrentCalls: options.maxConcurrentRequests }))
    ])
    yield* failWithIssues("RateLimitMiddleware", settings.name, issues)
    const clock = yield* currentClock
    const idleMillis = Duration.toMillis(
      settings.idleTimeToLive ?? Duration.millis(Math.max(MINUTE, Duration.toMillis(settings.limitRefreshPeriod)))
    )
    const keys = new KeyTable<string, KeyState>(settings.maxKeys, idleMillis)
    const bulkhead = settings.maxConcurrentRequests === undefined ? undefined : yield* Bulkhead.make({
      name: `${settings.name}:shed`,
      maxConcurrentCalls: settings.maxConcurrentRequests,
      maxWaitDuration: 0
    })
    const collector = yield* Effect.serviceOption(Metrics.Collector)
    if (Option.isSome(collector) && bulkhead !== undefined) yield* collector.value.track(bulkhead)
    const impl = new Middleware(
      settings,
      options,
      clock,
      keys,
      bulkhead,
      new ServerMetrics(settings.name, settings.maxRoutes)
    )
    const routeLabel = options.routeLabel
    const learnRoutes = settings.key === "route" && routeLabel === undefined
    const serverRoute = (request: ServerRequest): string => {
      if (routeLabel === undefined) return "*"
      try {
        return routeLabel(request)
      } catch {
        return "*"
      }
    }
    // The label of a matched route, made once per route (the platform keeps one route object each).
    const routeLabels = new WeakMap<object, string>()
    const routerRoute = (_request: ServerRequest, context: Context.Context<never>): string => {
      const route = matchedRoute(context)
      if (route === undefined) return "*"
      let label = routeLabels.get(route)
      if (label === undefined) {
        label = `${route.method} ${route.path}`
        routeLabels.set(route, label)
      }
      return label
    }
    const middleware = (<E, R>(app: App<E, R>) => impl.guard(app, serverRoute, learnRoutes)) as HttpMiddleware
    const metrics = impl.metrics
    const liveKeys = Effect.sync(() => {
      keys.sweep(nowMillis(clock))
      metrics.keys(keys.size)
      return keys.size
    })
    const inFlight = bulkhead === undefined
      ? Effect.succeed(Option.none<number>())
      : Effect.map(bulkhead.metrics, (m) => Option.some(m.maxAllowedConcurrentCalls - m.availableConcurrentCalls))
    const edges: RateLimitMiddleware["httpEdges"] = Effect.map(
      Effect.all([liveKeys, inFlight]),
      ([live, busy]) => {
        const figures = metrics.figures
        const responses = Object.fromEntries(Array.from(figures.responses, ([code, n]) => [String(code), n]))
        const recentlyRefused = nowMillis(clock) - figures.lastRefusalAt < 10_000
        return {
          inbound: [{
            policy: settings.name,
            status: recentlyRefused ? "DEGRADED" : "UP",
            latencyMillis: httpEdges.latencyOf(figures.recent),
            responses,
            responseClasses: httpEdges.classesOf(responses),
            refusals: Object.fromEntries(figures.refusals),
            liveKeys: live,
            inFlight: Option.getOrElse(busy, () => 0)
          }]
        }
      }
    )
    return Object.assign(middleware, {
      policyName: settings.name,
      router: routesMiddleware((app) => impl.guard(app, routerRoute, false)),
      liveKeys,
      inFlight,
      httpEdges: edges
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
 * // Effect 3
 * import { ConfigProvider, Effect } from "effect"
 * import * as RateLimitMiddleware from "breakwater/RateLimitMiddleware"
 *
 * const provider = ConfigProvider.fromJson({ api: { limitForPeriod: 600, limitRefreshPeriod: "1 minute", trustProxy: 1 } })
 * const limit = Effect.flatMap(RateLimitMiddleware.config("api"), RateLimitMiddleware.make).pipe(
 *   Effect.withConfigProvider(provider)
 * )
 * ```
 *
 * ```ts
 * // Effect 4
 * import { ConfigProvider, Effect } from "effect"
 * import * as RateLimitMiddleware from "breakwater/RateLimitMiddleware"
 *
 * const provider = ConfigProvider.fromUnknown({ api: { limitForPeriod: 600, limitRefreshPeriod: "1 minute", trustProxy: 1 } })
 * const limit = Effect.flatMap(RateLimitMiddleware.config("api"), RateLimitMiddleware.make).pipe(
 *   Effect.provideService(ConfigProvider.ConfigProvider, provider)
 * )
 * ```
 *
 * @since 0.1.0
 */
export const config = (name: string): Config.Config<Options> =>
  Config.nested(readFields(serverConfigFields), name).pipe(Config.map((values) => ({ ...values, name }) as Options))

/**
 * The inbound metrics (Effect `Metric`s of the default registry), for exporters and tests: `requestDuration`
 * (seconds) and `responses` (`code`)
 * labelled by `policy` and `route`; `refusals` by `policy`, `reason` (rate_limited, shed,
 * concurrency, body_timeout) and `key_class` (ip, api-key, route, custom, anonymous, overflow);
 * `liveKeys` (a gauge, by `policy`): keys with state as of the policy's last request. On Effect 4 a
 * labelled series is read with `Metric.value(Metric.withAttributes(metric, { policy: "api", ... }))`;
 * the example below is Effect 3's.
 *
 * @example
 * ```ts
 * // Effect 3
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
 * ```ts
 * // Effect 4
 * import { Effect, Metric } from "effect"
 * import * as RateLimitMiddleware from "breakwater/RateLimitMiddleware"
 *
 * const refusedByIp = Metric.value(
 *   Metric.withAttributes(RateLimitMiddleware.metrics.refusals, { policy: "api", reason: "rate_limited", key_class: "ip" })
 * )
 * const program = Effect.map(refusedByIp, (state) => state.count)
 * ```
 *
 * @since 0.1.0
 */
export const metrics = {
  requestDuration: serverMetrics.requestDuration,
  responses: serverMetrics.responses,
  refusals: serverMetrics.refusals,
  liveKeys: serverMetrics.liveKeys
} as const
