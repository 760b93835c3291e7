/**
 * The rate-limit middleware's vocabulary: its options and service interface. Below both the
 * middleware's implementation (`serverMiddleware.ts`) and the public `RateLimitMiddleware` module,
 * which re-exports it.
 *
 * @internal
 */
import type { DurationInput } from "#port"
import type { Middleware, RoutesMiddleware, ServerRequest } from "#port/httpServer"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as httpEdges from "../../observability/internal/httpEdges.js"

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
 *   maxConcurrentRequests: 200,
 *   maxConcurrentRequestsPerKey: 4,
 *   requestBodyTimeout: "10 seconds"
 * }
 * const behindOurProxies: RateLimitMiddleware.Options = { name: "web", trustedProxies: ["10.0.0.0/8", "fd00::/8"] }
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
  readonly limitRefreshPeriod?: DurationInput
  readonly algorithm?: "fixed-window" | "token-bucket" | "sliding-window"
  /** Token bucket only: the largest burst. */
  readonly capacity?: number
  /**
   * What a client is: its IP address (default), its API key (`apiKeyHeader`), the route, or a
   * function of the request (`undefined` = anonymous).
   */
  readonly key?: "ip" | "api-key" | "route" | ((request: ServerRequest) => string | undefined)
  /** Default `x-api-key`. */
  readonly apiKeyHeader?: string
  /**
   * Addresses and CIDR ranges (IPv4 or IPv6) of our own proxies. `X-Forwarded-For` is read only when
   * the connecting peer is one of them, and walked from the right only through addresses that are.
   * Default: none (the header is ignored).
   */
  readonly trustedProxies?: ReadonlyArray<string>
  /**
   * At most this many proxies are walked through in `X-Forwarded-For` (`true`: as many as are listed,
   * up to 32; `false`: the header is ignored). Needs `trustedProxies`. Default `true` when
   * `trustedProxies` is set.
   */
  readonly trustProxy?: boolean | number
  /** IPv6 clients are keyed by their network of this many bits (a host often holds a whole /64). Default 64. */
  readonly ipv6Prefix?: number
  /**
   * Most keys with state. When full, a new key takes the place of the least recently used idle one
   * (one with no request in flight). Default 10,000.
   */
  readonly maxKeys?: number
  /** How long an unused key's state is kept. Default the period, at least 1 minute. */
  readonly idleTimeToLive?: DurationInput
  /** Longer keys (and any non-ASCII key) are replaced by a digest. Default 128. */
  readonly maxKeyLength?: number
  /** Load shedding: beyond this many requests at once, answer 503 at once. Default: no limit. */
  readonly maxConcurrentRequests?: number
  /** Beyond this many requests at once from one key, answer 429 at once. Default: no limit. */
  readonly maxConcurrentRequestsPerKey?: number
  /**
   * A request whose body has not fully arrived this long after its headers is answered 408 and its
   * connection closed (Node servers: the request's source must be an `IncomingMessage`). Default: none.
   */
  readonly requestBodyTimeout?: DurationInput
  /** The route label of metrics as a server-wide middleware (keep it bounded). Default `"*"`. */
  readonly routeLabel?: (request: ServerRequest) => string
  /**
   * Most distinct route labels (later ones are `(other)`) and, with server-wide `key: "route"`, learned
   * routes (the most recently served; older ones are forgotten). Default 200.
   */
  readonly maxRoutes?: number
}

/**
 * The running middleware: apply it to an app (it is an `HttpMiddleware`), or to a router's routes
 * with `router` so that route keys and metric labels are the routes' patterns.
 *
 * Each build speaks its Effect's HTTP types. Effect 3 (`@effect/platform`): `limit` is an
 * `HttpMiddleware` (`HttpServer.serve(router, limit)`), and `limit.router(router)` takes and returns
 * an `HttpRouter` value. Effect 4 (`effect/http`): `limit` is an `HttpMiddleware` too
 * (`HttpServer.serve(app, limit)` or `HttpRouter.serve(routes, { middleware: limit })`), and
 * `limit.router(routes)` takes and returns a routes Layer (`HttpRouter.add(…)`/`addAll(…)`), with the
 * middleware provided to those routes (`HttpRouter.middleware(…).layer`), e.g.
 * `HttpRouter.serve(limit.router(HttpRouter.add("GET", "/a", HttpServerResponse.text("a"))))`.
 *
 * @example
 * ```ts
 * // Effect 3
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
 * ```ts
 * // Effect 4
 * import { Effect } from "effect"
 * import { HttpRouter, HttpServerResponse } from "effect/http"
 * import type * as RateLimitMiddleware from "breakwater/RateLimitMiddleware"
 *
 * declare const limit: RateLimitMiddleware.RateLimitMiddleware
 * const A = HttpRouter.add("GET", "/a", Effect.succeed(HttpServerResponse.text("a")))
 * const whole = HttpRouter.serve(A, { middleware: limit }) // one middleware for everything
 * const perRoute = limit.router(A) // per route
 * const keys = Effect.flatMap(limit.liveKeys, (n) => Effect.log(`${n} clients tracked`))
 * ```
 *
 * @since 0.1.0
 */
export interface RateLimitMiddleware extends Middleware {
  readonly policyName: string
  /**
   * Applies the middleware to each route of `router`: an `HttpRouter` value on Effect 3, a routes
   * Layer on Effect 4 (see above).
   */
  readonly router: RoutesMiddleware
  /** Keys with state that has not expired (never more than `maxKeys`). */
  readonly liveKeys: Effect.Effect<number>
  /** Requests being served (until their response body is sent), when load shedding is on. */
  readonly inFlight: Effect.Effect<Option.Option<number>>
  /**
   * The policy as an inbound HTTP edge (latency percentiles of its newest 1,024 requests, responses
   * by code and class, refusals by reason, live keys), for `Snapshot.ofGuards`, `Health.ofGuards` and
   * `Dashboard`'s `http`. `DEGRADED` when it refused a request in the last 10 seconds.
   */
  readonly httpEdges: Effect.Effect<{ readonly inbound: ReadonlyArray<httpEdges.Inbound> }>
}
