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
import * as HttpBody from "@effect/platform/HttpBody"
import type * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { KeyTable, type Slot } from "../core/keyTable.js"
import { type LimiterCore, periodicCore, type PeriodicSettings } from "../core/rateLimiterCore.js"
import type { InvalidConfigError } from "../errors/InvalidConfigError.js"
import * as Bulkhead from "../guards/Bulkhead.js"
import { bulkheadSlots } from "../guards/internal/guardInternals.js"
import * as RateLimiter from "../guards/RateLimiter.js"
import * as httpEdges from "../observability/internal/httpEdges.js"
import * as Metrics from "../observability/Metrics.js"
import { decodeOptions, readFields } from "../port/effect3/validation.js"
import { serverConfigFields } from "./internal/configFields.js"
import { addressKey, boundedKey, clientAddress, normalizePath, secretKey, TrustedProxies } from "./internal/keys.js"
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
  readonly idleTimeToLive?: Duration.DurationInput
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
  readonly requestBodyTimeout?: Duration.DurationInput
  /** The route label of metrics as a server-wide middleware (keep it bounded). Default `"*"`. */
  readonly routeLabel?: (request: HttpServerRequest.HttpServerRequest) => string
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

type Settings = typeof ServerOptionsSchema.Type

/** One key's state: its limiter's core (no shell, no timer) and when its first cycle began. */
interface KeyState {
  readonly core: LimiterCore
  readonly createdAt: number
}

interface Admission {
  readonly remaining: number
  readonly resetSeconds: number
  readonly retryAfterSeconds: number
}

const ANONYMOUS = "anonymous"
/** The route of every path that has never been answered with anything but 404 (server-wide `key: "route"`). */
const UNMATCHED = "(unmatched)"
/** `trustProxy: true`: walk through every listed proxy, up to this many. */
const ALL_HOPS = 32

/** A structured-field string (RFC 8941): quotes and backslashes escaped. */
const sfString = (s: string) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`

const hasBody = (headers: Readonly<Record<string, string | undefined>>): boolean => {
  const length = headers["content-length"]
  return headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0")
}

/** Whether the request has a body that has not fully arrived yet (known on Node only). */
const bodyPending = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const arrived = bodyArrived(request.source)
  return arrived !== undefined && !arrived() && hasBody(request.headers)
}

/** A Node `IncomingMessage` says whether its body has fully arrived; other sources do not. */
const bodyArrived = (source: unknown): (() => boolean) | undefined =>
  typeof source === "object" && source !== null && typeof (source as { complete?: unknown }).complete === "boolean"
    ? () => (source as { complete: boolean }).complete
    : undefined

/** Whether an LRU set (a `Map` in use order) holds `key`; if so it becomes the most recently used. */
const touch = (lru: Map<string, true>, key: string): boolean => {
  if (!lru.delete(key)) return false
  lru.set(key, true)
  return true
}

/** Adds `key` to an LRU set as the most recently used, dropping the least recently used past `max`. */
const remember = (lru: Map<string, true>, key: string, max: number): void => {
  lru.delete(key)
  lru.set(key, true)
  if (lru.size > max) lru.delete(lru.keys().next().value as string)
}

class Middleware {
  readonly periodMillis: number
  readonly windowSeconds: number
  readonly hops: number
  readonly trusted: TrustedProxies | undefined
  readonly policyHeader: string
  readonly quotedName: string
  readonly core: PeriodicSettings
  readonly fresh: (now: number) => KeyState
  readonly slots: ReturnType<typeof bulkheadSlots> | undefined
  /** Server-wide `key: "route"`: paths last answered with something but 404, least recently used first. */
  readonly knownRoutes = new Map<string, true>()
  /** Server-wide `key: "route"`: paths last answered 404 (they share `(unmatched)`), least recently used first. */
  readonly notFound = new Map<string, true>()
  /**
   * `key: "ip"`: the last peer address seen without `X-Forwarded-For` and its key. Requests come in
   * runs from one peer (keep-alive connections), so this spares re-parsing the same address.
   */
  private lastPeer: string | undefined
  private lastPeerKey: readonly [key: string, keyClass: string] = [ANONYMOUS, ANONYMOUS]

  constructor(
    readonly settings: Settings,
    readonly options: Options,
    readonly clock: Clock.Clock,
    readonly keys: KeyTable<string, KeyState>,
    readonly bulkhead: Bulkhead.Bulkhead | undefined,
    readonly metrics: ServerMetrics
  ) {
    this.periodMillis = Duration.toMillis(settings.limitRefreshPeriod)
    this.windowSeconds = Math.max(1, Math.ceil(this.periodMillis / 1000))
    this.trusted = settings.trustedProxies === undefined ? undefined : new TrustedProxies(settings.trustedProxies)
    const trust = settings.trustProxy ?? true
    this.hops = this.trusted === undefined || trust === false ? 0 : trust === true ? ALL_HOPS : trust
    this.quotedName = sfString(settings.name)
    this.policyHeader = `${this.quotedName};q=${settings.limitForPeriod};w=${this.windowSeconds}`
    this.core = {
      algorithm: options.algorithm ?? "fixed-window",
      limitForPeriod: settings.limitForPeriod,
      periodMillis: this.periodMillis,
      capacity: options.capacity
    }
    this.fresh = (now) => ({ core: periodicCore(this.core, now), createdAt: now })
    this.slots = bulkhead === undefined ? undefined : bulkheadSlots(bulkhead)
  }

  /** The client's key and its class (for refusal metrics); never throws, always bounded. */
  keyOf(request: HttpServerRequest.HttpServerRequest, route: string): readonly [key: string, keyClass: string] {
    const kind = this.settings.key
    const max = this.settings.maxKeyLength
    if (kind === "ip") {
      const forwarded = request.headers["x-forwarded-for"]
      const peer = Option.getOrUndefined(request.remoteAddress)
      if (forwarded === undefined && peer !== undefined && peer === this.lastPeer) return this.lastPeerKey
      const address = clientAddress(forwarded, peer, this.trusted, this.hops)
      const keyed = address === undefined
        ? [ANONYMOUS, ANONYMOUS] as const
        : [`ip:${boundedKey(addressKey(address, this.settings.ipv6Prefix), max)}`, "ip"] as const
      if (forwarded === undefined && peer !== undefined) {
        this.lastPeer = peer
        this.lastPeerKey = keyed
      }
      return keyed
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
  private resetSeconds(state: KeyState, available: number, now: number): number {
    const period = this.periodMillis
    switch (this.core.algorithm) {
      case "fixed-window":
        return Math.ceil((period - ((now - state.createdAt) % period)) / 1000)
      case "token-bucket": {
        const capacity = this.core.capacity ?? this.settings.limitForPeriod
        const missing = Math.max(0, capacity - available)
        return Math.ceil((missing * period) / this.settings.limitForPeriod / 1000)
      }
      default:
        return this.windowSeconds
    }
  }

  /** A refused request's figures, once the key's core has refused the permit at `now`. */
  admission(state: KeyState, now: number): Admission {
    const core = state.core
    const available = core.available(now)
    const wait = core.earliest(1, now, now) - now
    return {
      remaining: Math.max(0, Math.floor(available)),
      resetSeconds: Math.max(0, this.resetSeconds(state, available, now)),
      retryAfterSeconds: Math.max(1, Math.ceil((Number.isFinite(wait) ? wait : this.periodMillis) / 1000))
    }
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

  /**
   * A server-wide request's metric label (its normalised path once that path has been served, else
   * `(unmatched)`), its key's route, and its normalised path. A path not yet answered is keyed by
   * itself, so that a flood of unknown paths spending `(unmatched)` cannot refuse a real route's first
   * request (which would then never be learned); only a path last answered 404 shares `(unmatched)`.
   */
  learnedRoute(request: HttpServerRequest.HttpServerRequest): readonly [label: string, route: string, path: string] {
    const path = normalizePath(request.url)
    if (touch(this.knownRoutes, path)) return [path, path, path]
    if (touch(this.notFound, path)) return [UNMATCHED, UNMATCHED, path]
    return [UNMATCHED, path, path]
  }

  /**
   * Remembers how a path was answered: 404 folds it into `(unmatched)` (and drops the key it was
   * charged to, so a flood of 404 paths leaves the key table to real clients); anything else makes it
   * a route of its own. The memories keep the `maxKeys` most recently 404 paths and the `maxRoutes`
   * most recently served ones, so neither can be filled for good.
   */
  learn(path: string, status: number, route: string): void {
    if (status === 404) {
      this.knownRoutes.delete(path)
      remember(this.notFound, path, this.settings.maxKeys)
      if (route === path) this.keys.forget(`route:${boundedKey(path, this.settings.maxKeyLength)}`)
      return
    }
    this.notFound.delete(path)
    remember(this.knownRoutes, path, this.settings.maxRoutes)
  }

  /**
   * The middleware around `app`. `routeOf` is synchronous (it is on every request's path): the server-wide
   * label function, or the matched route read from the request's context. The request and the route
   * are read from the fiber's context in the same step that decides, instead of one Effect step each.
   */
  guard<E, R>(
    app: HttpApp.Default<E, R>,
    routeOf: (request: HttpServerRequest.HttpServerRequest, context: Context.Context<never>) => string,
    learnRoutes: boolean
  ): HttpApp.Default<E, R | HttpServerRequest.HttpServerRequest> {
    return Effect.withFiberRuntime((fiber, status) => {
      const context = fiber.currentContext
      const request = Context.unsafeGet(context, HttpServerRequest.HttpServerRequest)
      const interruptible = RuntimeFlags.interruption(status.runtimeFlags)
      const learned = learnRoutes ? this.learnedRoute(request) : undefined
      if (learned !== undefined) return this.handle(app, request, learned[0], learned[1], learned[2], interruptible)
      const route = routeOf(request, context)
      return this.handle(app, request, route, route, undefined, interruptible)
    })
  }

  private handle<E, R>(
    app: HttpApp.Default<E, R>,
    request: HttpServerRequest.HttpServerRequest,
    label: string,
    route: string,
    path: string | undefined,
    interruptible: boolean
  ): HttpApp.Default<E, R> {
    const start = this.clock.unsafeCurrentTimeMillis()
    const labels = this.metrics.route(label)
    const [key, keyClass] = this.keyOf(request, route)
    const slot = this.keys.entry(key, start, this.fresh)
    this.metrics.keys(this.keys.size)
    // Every key is held by a request in flight: `maxKeys` clients are being served at once.
    if (slot === undefined) return this.refuse(request, atCapacity(), "shed", "overflow", start, labels)
    const perKey = this.settings.maxConcurrentRequestsPerKey
    if (perKey !== undefined && slot.pins >= perKey) {
      return this.refuse(request, tooManyConcurrent(perKey), "concurrency", keyClass, start, labels)
    }
    const state = slot.value
    const now = start
    if (!state.core.tryTake(1, now)) {
      return this.refuse(
        request,
        this.tooManyRequests(this.admission(state, now)),
        "rate_limited",
        keyClass,
        start,
        labels
      )
    }
    if (this.slots !== undefined && !this.slots.tryAcquire()) {
      return this.refuse(request, atCapacity(), "shed", keyClass, start, labels)
    }
    const available = state.core.available(now)
    const rateLimit = `${this.quotedName};r=${Math.max(0, Math.floor(available))};t=${
      Math.max(0, this.resetSeconds(state, available, now))
    }`
    // A server-wide middleware sees the response only after it is sent (the platform's handled app
    // writes it): the fields go on through a pre-response handler, which runs just before that.
    const served = Effect.zipRight(
      HttpApp.appendPreResponseHandler((_request, response) =>
        Effect.succeed(HttpServerResponse.setHeaders(response, {
          "ratelimit-policy": this.policyHeader,
          "ratelimit": rateLimit
        }))
      ),
      this.withBodyDeadline(app, request, keyClass)
    )
    return new InFlight(this, slot, labels, start, path, route).run(served, interruptible)
  }

  private refuse(
    request: HttpServerRequest.HttpServerRequest,
    response: HttpServerResponse.HttpServerResponse,
    reason: serverMetrics.RefusalReason,
    cls: string,
    start: number,
    labels: serverMetrics.RouteMetrics
  ): Effect.Effect<HttpServerResponse.HttpServerResponse> {
    this.metrics.refused(reason, cls, start)
    labels.record(response.status, this.seconds(start))
    // A refused request's body still arriving would keep its connection (the next request waits behind it).
    return Effect.succeed(
      bodyPending(request) ? HttpServerResponse.setHeader(response, "connection", "close") : response
    )
  }

  /** With `requestBodyTimeout`: a body still arriving when it expires gets 408, and the connection closes. */
  private withBodyDeadline<E, R>(
    app: HttpApp.Default<E, R>,
    request: HttpServerRequest.HttpServerRequest,
    keyClass: string
  ): HttpApp.Default<E, R> {
    const limit = this.settings.requestBodyTimeout
    const arrived = bodyArrived(request.source)
    if (limit === undefined || arrived === undefined || arrived() || !hasBody(request.headers)) return app
    const deadline = Effect.zipRight(
      Effect.sleep(limit),
      Effect.suspend(() => {
        if (arrived()) return Effect.never
        this.metrics.refused("body_timeout", keyClass, this.clock.unsafeCurrentTimeMillis())
        return Effect.succeed(
          problem(408, "Request Timeout", "The request body did not arrive in time.", { connection: "close" })
        )
      })
    )
    return Effect.raceFirst(app, deadline)
  }

  seconds(start: number): number {
    return (this.clock.unsafeCurrentTimeMillis() - start) / 1000
  }
}

/**
 * One granted request, from its grant until its response is done: it holds the key (never evicted
 * while in flight) and the shedding slot, and records the outcome. One object per request instead of a
 * closure for each of these. A streamed body is done when its stream ends (sent, failed, or interrupted
 * by a closed connection), with the request's scope closing as a backstop (the platform closes it once
 * the response has been handled, so a body never run, as for HEAD, cannot keep a slot); any other body
 * is written at once, so the slot is given back when the app ends. (As a server-wide middleware, the
 * app ends only once the response has been sent.)
 */
class InFlight {
  private released = false

  constructor(
    readonly owner: Middleware,
    readonly slot: Slot<string, KeyState>,
    readonly labels: serverMetrics.RouteMetrics,
    readonly start: number,
    /** Server-wide `key: "route"`: the normalised path, whose answer is learned. */
    readonly path: string | undefined,
    readonly route: string
  ) {}

  /**
   * Runs `served` holding the key and the slot. The pin and the handler that releases it must not be
   * separated by an interruption: under an interruptible caller (a router's handler) that takes an
   * uninterruptible region; a server-wide middleware already runs uninterruptibly (the platform's
   * handled app does), so there it takes none.
   */
  run<E, R>(
    served: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
    interruptible: boolean
  ): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R> {
    if (!interruptible) {
      this.owner.keys.pin(this.slot)
      // The failure handler re-fails with the cause it got: the error type is `served`'s own.
      return Effect.matchCauseEffect(served, this) as Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
    }
    return Effect.uninterruptibleMask((restore) => {
      this.owner.keys.pin(this.slot)
      return Effect.matchCauseEffect(restore(served), this) as Effect.Effect<
        HttpServerResponse.HttpServerResponse,
        E,
        R
      >
    })
  }

  release(): void {
    if (this.released) return
    this.released = true
    this.owner.keys.unpin(this.slot, this.owner.clock.unsafeCurrentTimeMillis())
    this.owner.slots?.release()
  }

  /** The response is about to go out (synchronous: it is on every request's path). */
  private served(response: HttpServerResponse.HttpServerResponse): void {
    if (this.path !== undefined) this.owner.learn(this.path, response.status, this.route)
    this.labels.record(response.status, this.owner.seconds(this.start))
  }

  // `matchCauseEffect`'s handlers, as arrow properties so that the object itself is the handler record.
  readonly onSuccess = (
    response: HttpServerResponse.HttpServerResponse
  ): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
    const body = response.body
    if (body._tag !== "Stream") {
      this.release()
      this.served(response)
      return Effect.succeed(response)
    }
    this.served(response)
    const release = Effect.sync(() => this.release())
    return Effect.flatMap(
      Effect.serviceOption(Scope.Scope),
      (scope) =>
        Option.isNone(scope) ? Effect.as(release, response) : Effect.as(
          Scope.addFinalizer(scope.value, release),
          HttpServerResponse.setBody(
            response,
            HttpBody.stream(Stream.ensuring(body.stream, release), body.contentType, body.contentLength)
          )
        )
    )
  }

  readonly onFailure = <E>(cause: Cause.Cause<E>): Effect.Effect<never, E> => {
    this.release()
    const seconds = this.owner.seconds(this.start)
    if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
    return Effect.zipRight(
      Effect.map(
        HttpServerError.causeResponse(cause),
        ([response]) => {
          // A router answers an unknown path by failing (`RouteNotFound`): its 404 is learned too.
          if (this.path !== undefined) this.owner.learn(this.path, response.status, this.route)
          this.labels.record(response.status, seconds)
        }
      ),
      Effect.failCause(cause)
    )
  }
}

const problem = (status: number, title: string, detail: string, headers: Record<string, string>) =>
  HttpServerResponse.unsafeJson({ type: "about:blank", title, status, detail }, {
    status,
    contentType: "application/problem+json",
    headers
  })

const atCapacity = () =>
  problem(503, "Service Unavailable", "The service is at capacity; retry shortly.", { "retry-after": "1" })

const tooManyConcurrent = (max: number) =>
  problem(429, "Too Many Requests", `At most ${max} requests at once per client; retry when one has finished.`, {
    "retry-after": "1"
  })

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
    const clock = yield* Effect.clock
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
    const serverRoute = (request: HttpServerRequest.HttpServerRequest): string => {
      if (routeLabel === undefined) return "*"
      try {
        return routeLabel(request)
      } catch {
        return "*"
      }
    }
    // The label of a matched route, made once per route (the platform keeps one route object each).
    const routeLabels = new WeakMap<HttpRouter.Route<unknown, unknown>, string>()
    const routerRoute = (_request: HttpServerRequest.HttpServerRequest, context: Context.Context<never>): string => {
      const matched = Context.getOption(context, HttpRouter.RouteContext)
      if (Option.isNone(matched)) return "*"
      const route = matched.value.route
      let label = routeLabels.get(route)
      if (label === undefined) {
        label = `${route.method} ${route.path}`
        routeLabels.set(route, label)
      }
      return label
    }
    const middleware = (<E, R>(app: HttpApp.Default<E, R>) =>
      impl.guard(app, serverRoute, learnRoutes)) as HttpMiddleware.HttpMiddleware
    const metrics = impl.metrics
    const liveKeys = Effect.sync(() => {
      keys.sweep(clock.unsafeCurrentTimeMillis())
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
        const recentlyRefused = clock.unsafeCurrentTimeMillis() - figures.lastRefusalAt < 10_000
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
      router: <E, R>(router: HttpRouter.HttpRouter<E, R>): HttpRouter.HttpRouter<E, R> =>
        HttpRouter.use(router, (app) => impl.guard(app, routerRoute, false)) as unknown as HttpRouter.HttpRouter<
          E,
          R
        >,
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

/**
 * The inbound metrics, for exporters and tests: `requestDuration` (seconds) and `responses` (`code`)
 * labelled by `policy` and `route`; `refusals` by `policy`, `reason` (rate_limited, shed,
 * concurrency, body_timeout) and `key_class` (ip, api-key, route, custom, anonymous, overflow);
 * `liveKeys` (a gauge, by `policy`): keys with state as of the policy's last request.
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
  refusals: serverMetrics.refusals,
  liveKeys: serverMetrics.liveKeys
} as const
