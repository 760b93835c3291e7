/**
 * The rate-limit middleware at work: per request, the client's key (IP behind trusted proxies, API key,
 * route, or custom), its limiter core's decision, load shedding and per-key concurrency, the
 * `RateLimit` fields and problem+json refusals, the request-body deadline, and the in-flight request
 * that holds its key and slot until its response is done.
 *
 * @internal
 */
import { isInterruptOnly, nowMillis } from "#port"
import {
  type App,
  causeResponse,
  HttpBody,
  HttpServerResponse,
  jsonResponse,
  type ServerRequest,
  type ServerResponse,
  withPreResponseHandler,
  withRequest
} from "#port/httpServer"
import type * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { KeyTable, Slot } from "../../core/keyTable.js"
import { type LimiterCore, periodicCore, type PeriodicSettings } from "../../core/rateLimiterCore.js"
import type * as Bulkhead from "../../guards/Bulkhead.js"
import { bulkheadSlots } from "../../guards/internal/guardInternals.js"
import { addressKey, boundedKey, clientAddress, normalizePath, secretKey, TrustedProxies } from "./keys.js"
import type { Options } from "./rateLimitMiddlewareApi.js"
import type { ServerOptionsSchema } from "./serverConfig.js"
import type * as serverMetrics from "./serverMetrics.js"
import type { ServerMetrics } from "./serverMetrics.js"

type Settings = typeof ServerOptionsSchema.Type

/** One key's state: its limiter's core (no shell, no timer) and when its first cycle began. */
export interface KeyState {
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
const bodyPending = (request: ServerRequest): boolean => {
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

export class Middleware {
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
  keyOf(request: ServerRequest, route: string): readonly [key: string, keyClass: string] {
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
      custom = (kind as (request: ServerRequest) => string | undefined)(request)
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

  tooManyRequests(admission: Admission): ServerResponse {
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
  learnedRoute(request: ServerRequest): readonly [label: string, route: string, path: string] {
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
    app: App<E, R>,
    routeOf: (request: ServerRequest, context: Context.Context<never>) => string,
    learnRoutes: boolean
  ): App<E, R | ServerRequest> {
    return withRequest((request, context, interruptible) => {
      const learned = learnRoutes ? this.learnedRoute(request) : undefined
      if (learned !== undefined) {
        return this.handle(app, request, context, learned[0], learned[1], learned[2], interruptible)
      }
      const route = routeOf(request, context)
      return this.handle(app, request, context, route, route, undefined, interruptible)
    })
  }

  private handle<E, R>(
    app: App<E, R>,
    request: ServerRequest,
    context: Context.Context<never>,
    label: string,
    route: string,
    path: string | undefined,
    interruptible: boolean
  ): App<E, R> {
    const start = nowMillis(this.clock)
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
    const served = withPreResponseHandler(
      context,
      (_request, response) =>
        Effect.succeed(HttpServerResponse.setHeaders(response, {
          "ratelimit-policy": this.policyHeader,
          "ratelimit": rateLimit
        })),
      this.withBodyDeadline(app, request, keyClass)
    )
    return new InFlight(this, slot, labels, start, path, route).run(served, interruptible)
  }

  private refuse(
    request: ServerRequest,
    response: ServerResponse,
    reason: serverMetrics.RefusalReason,
    cls: string,
    start: number,
    labels: serverMetrics.RouteMetrics
  ): Effect.Effect<ServerResponse> {
    this.metrics.refused(reason, cls, start)
    labels.record(response.status, this.seconds(start))
    // A refused request's body still arriving would keep its connection (the next request waits behind it).
    return Effect.succeed(
      bodyPending(request) ? HttpServerResponse.setHeader(response, "connection", "close") : response
    )
  }

  /** With `requestBodyTimeout`: a body still arriving when it expires gets 408, and the connection closes. */
  private withBodyDeadline<E, R>(
    app: App<E, R>,
    request: ServerRequest,
    keyClass: string
  ): App<E, R> {
    const limit = this.settings.requestBodyTimeout
    const arrived = bodyArrived(request.source)
    if (limit === undefined || arrived === undefined || arrived() || !hasBody(request.headers)) return app
    const deadline = Effect.andThen(
      Effect.sleep(limit),
      Effect.suspend(() => {
        if (arrived()) return Effect.never
        this.metrics.refused("body_timeout", keyClass, nowMillis(this.clock))
        return Effect.succeed(
          problem(408, "Request Timeout", "The request body did not arrive in time.", { connection: "close" })
        )
      })
    )
    return Effect.raceFirst(app, deadline)
  }

  seconds(start: number): number {
    return (nowMillis(this.clock) - start) / 1000
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
    served: Effect.Effect<ServerResponse, E, R>,
    interruptible: boolean
  ): Effect.Effect<ServerResponse, E, R> {
    if (!interruptible) {
      this.owner.keys.pin(this.slot)
      // The failure handler re-fails with the cause it got: the error type is `served`'s own.
      return Effect.matchCauseEffect(served, this) as Effect.Effect<ServerResponse, E, R>
    }
    return Effect.uninterruptibleMask((restore) => {
      this.owner.keys.pin(this.slot)
      return Effect.matchCauseEffect(restore(served), this) as Effect.Effect<
        ServerResponse,
        E,
        R
      >
    })
  }

  release(): void {
    if (this.released) return
    this.released = true
    this.owner.keys.unpin(this.slot, nowMillis(this.owner.clock))
    this.owner.slots?.release()
  }

  /** The response is about to go out (synchronous: it is on every request's path). */
  private served(response: ServerResponse): void {
    if (this.path !== undefined) this.owner.learn(this.path, response.status, this.route)
    this.labels.record(response.status, this.owner.seconds(this.start))
  }

  // `matchCauseEffect`'s handlers, as arrow properties so that the object itself is the handler record.
  readonly onSuccess = (
    response: ServerResponse
  ): Effect.Effect<ServerResponse> => {
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
    if (isInterruptOnly(cause)) return Effect.failCause(cause)
    return Effect.andThen(
      Effect.map(
        causeResponse(cause),
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
  jsonResponse({ type: "about:blank", title, status, detail }, {
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
