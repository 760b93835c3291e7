/**
 * A live web dashboard of every guard, for an @effect/platform server: breaker states with their time
 * in state, failure and slow-call rates against their thresholds, limiter permits and waiting fibers,
 * bulkhead use, retry budgets, a breakdown of why calls failed, and time-series charts of offered vs
 * delivered load and of the failure rate. The page and its charting library (uPlot) are served from
 * this package and `node_modules`: no CDN, no network.
 *
 * Routes of {@link router}:
 *
 * | route | what |
 * |---|---|
 * | `GET /breakwater` | the page |
 * | `GET /breakwater/snapshot` | the current {@link Document} as JSON |
 * | `GET /breakwater/timeline` | the charts' long history: {@link TimelinePoint}s, oldest first |
 * | `GET /breakwater/events` | server-sent events: the recent history, then one {@link Document} per `interval` (503 past `maxViewers`) |
 * | `GET /breakwater/health` | `Health` of the guards (503 when `DOWN`) |
 * | `GET /metrics` | Prometheus text, when a `Prometheus` service is provided (404 otherwise) |
 *
 * ## When to use
 * Whenever guards run where someone may need to see why calls are refused: mount the router beside
 * your own routes. The guards shown come from `guards` (by default the `Metrics.Collector`'s, which
 * include an HTTP client's per-target guards) plus `extras`, rendered from their snapshot shape
 * (`kind`, `name`, `state`, `status`, `configuration`, `metrics`): a guard of a kind the page does
 * not know still shows with all its figures.
 *
 * ## Gotchas
 * - Time in state is measured by the dashboard from its first look at a guard, at the pace it is read.
 * - Without `failures`, the breakdown is read from the guards' counters: a breaker's failed calls
 *   count as dependency errors (timeouts it recorded included), its refusals as "circuit open", a
 *   limiter's as "rate limited", a bulkhead's as "bulkhead full", a time limiter's timeouts as
 *   "timeout"; with adaptive guards shown, an `AdaptiveThrottler`'s local refusals (`ThrottledError`)
 *   as "throttled" and an `AdaptiveLimiter`'s refusals (`LimitExceededError`) as "adaptive limit". A
 *   throttler's count of calls the dependency rejected is not added to "dependency error" (a breaker
 *   in front would count them twice), and a `Hedge` refuses nothing. Give `failures` when you know
 *   better (your handler sees each call's real outcome).
 * - Exposing it: serve the router on its own management port (a second `HttpServer` bound to an
 *   internal interface), give `authorize` (every route asks it, `/metrics` included), list the names
 *   it is reached by in `allowedHosts` (other `Host` headers are refused, against DNS rebinding), and
 *   `redact` configuration and names when viewers should not learn them. Every response carries a
 *   Content-Security-Policy, `X-Frame-Options: DENY`, `nosniff` and `no-referrer`; data is `no-store`.
 * - Cost: one document per `interval` whatever the number of viewers (computed while someone watches
 *   or a history is kept), sent to each viewer as the same bytes; at most `maxViewers` (20) viewers,
 *   503 past it; a viewer that does not read skips documents and holds no copy of them.
 *
 * @example
 * ```ts
 * import { HttpRouter, HttpServer } from "@effect/platform"
 * import { NodeHttpServer } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import { Metrics, Registry } from "breakwater"
 * import * as Dashboard from "breakwater/Dashboard"
 * import { createServer } from "node:http"
 *
 * const app = HttpRouter.empty.pipe(HttpRouter.concat(Dashboard.router))
 * const Server = HttpServer.serve(app).pipe(
 *   Layer.provide(Dashboard.layer({ title: "checkout" })),
 *   Layer.provide(Metrics.layer()),
 *   Layer.provide(Registry.layer()),
 *   Layer.provide(NodeHttpServer.layer(createServer, { port: 8080 }))
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"
import type { InvalidConfigError } from "../errors/InvalidConfigError.js"
import { hubOf } from "../guards/internal/guardInternals.js"
import type { RetryBudget } from "../guards/RetryBudget.js"
import * as Health from "../observability/Health.js"
import * as Metrics from "../observability/Metrics.js"
import * as Prometheus from "../observability/Prometheus.js"
import * as Snapshot from "../observability/Snapshot.js"
import { decodeOptions } from "../port/effect3/validation.js"
import type { Guard } from "../registry/Registry.js"
import * as access from "./internal/dashboardAccess.js"
import * as DashboardConfig from "./internal/dashboardConfig.js"
import * as figures from "./internal/dashboardFigures.js"
import { FrameHistory } from "./internal/dashboardFrames.js"
import { renderPage } from "./internal/dashboardPage.js"
import * as timeline from "./internal/dashboardTimeline.js"

/**
 * One guard as the dashboard shows it: the `Snapshot` shape, open to any `kind`. Guards that are not
 * a `Registry.Guard` (a retry budget, your own) are shown by giving their view in `extras`.
 *
 * @example
 * ```ts
 * import type * as Dashboard from "breakwater/Dashboard"
 *
 * const pool: Dashboard.GuardView = {
 *   kind: "ConnectionPool",
 *   name: "db",
 *   status: "UP",
 *   configuration: { maxConnections: 20 },
 *   metrics: { busy: 3, idle: 17 }
 * }
 * ```
 *
 * @since 0.1.0
 */
export interface GuardView {
  readonly kind: string
  readonly name: string
  readonly state?: string | undefined
  readonly status: Health.Status
  readonly configuration: Readonly<Record<string, number | string | boolean>>
  readonly metrics: Readonly<Record<string, number>>
}

/**
 * A guard's change of state (a breaker's `StateTransition` event), at its `Clock` time.
 *
 * @example
 * ```ts
 * import type * as Dashboard from "breakwater/Dashboard"
 *
 * const line = (t: Dashboard.Transition) => `${t.name}: ${t.from} -> ${t.to}`
 * ```
 *
 * @since 0.1.0
 */
export type Transition = figures.Transition

/**
 * What the page shows at one moment. `failures`, `traffic` and `calls` are cumulative counters (the
 * page plots their rates): failures by reason, load by stage (offered first, delivered last), and the
 * calls the failures are out of.
 *
 * @example
 * ```ts
 * import type * as Dashboard from "breakwater/Dashboard"
 *
 * const refusedFast = (d: Dashboard.Document) => (d.failures["circuitOpen"] ?? 0) + (d.failures["rateLimited"] ?? 0)
 * ```
 *
 * @since 0.1.0
 */
export interface Document {
  readonly title: string
  /** `Clock` time, epoch millis. */
  readonly at: number
  readonly status: Health.Status
  readonly guards: ReadonlyArray<GuardView>
  readonly failures: Readonly<Record<string, number>>
  readonly traffic: Readonly<Record<string, number>>
  readonly calls: number
  /** The last state changes seen in the guards' events since the dashboard first showed them. */
  readonly transitions: ReadonlyArray<Transition>
  /** The HTTP edges of {@link Options.http}, when given (see `Snapshot.HttpEdges`). */
  readonly http?: Snapshot.HttpEdges | undefined
  /**
   * In the documents sent to the page (event stream, snapshot route): the figures the charts plot,
   * as kept in the dashboard's long history (see {@link TimelinePoint}).
   */
  readonly point?: TimelinePoint | undefined
}

/**
 * One point of the charts' history: the document's time, its cumulative counters (failures by
 * reason, calls, load, responses by class out and in) and its gauges (worst latency percentiles out
 * and in, pool use, permits per limiter, state per breaker as 0 closed, 1 half-open, 2 open). Served
 * by `GET /breakwater/timeline` for the whole window (2 minutes at full resolution, then 10-second
 * buckets to 15 minutes, then 1-minute buckets to an hour), so a page opened mid-incident sees what
 * happened before.
 *
 * @example
 * ```ts
 * import type * as Dashboard from "breakwater/Dashboard"
 *
 * const open = (p: Dashboard.TimelinePoint) => Object.entries(p.breakers).filter(([, s]) => s === 2).map(([n]) => n)
 * ```
 *
 * @since 0.3.0
 */
export type TimelinePoint = timeline.Point

/**
 * What a request for a dashboard route is told by {@link Options.authorize}: `"allow"` serves it,
 * `"unauthenticated"` answers 401 (with `WWW-Authenticate` from {@link Options.challenge}), `"forbidden"`
 * answers 403.
 *
 * @example
 * ```ts
 * import type * as Dashboard from "breakwater/Dashboard"
 *
 * const decide = (token: string | undefined): Dashboard.Access =>
 *   token === undefined ? "unauthenticated" : token === "s3cret" ? "allow" : "forbidden"
 * ```
 *
 * @since 0.1.0
 */
export type Access = "allow" | "unauthenticated" | "forbidden"

/**
 * Where the dashboard takes what it shows, how often, and who may see it. Every field is optional.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type * as Dashboard from "breakwater/Dashboard"
 *
 * let refused = 0
 * const options: Dashboard.Options = {
 *   title: "checkout → payments",
 *   failures: Effect.sync(() => ({ circuitOpen: refused })),
 *   interval: "500 millis",
 *   authorize: (request) => Effect.succeed(request.headers["authorization"] === "Bearer s3cret" ? "allow" : "unauthenticated"),
 *   allowedHosts: ["ops.example.com"],
 *   redact: { names: true, configuration: true }
 * }
 * ```
 *
 * @since 0.1.0
 */
export interface Options {
  /** The page's title, fixed or read with each document. Default `"breakwater"`. */
  readonly title?: string | Effect.Effect<string>
  /** The guards to show. Default: the `Metrics.Collector`'s guards when there is one, else none. */
  readonly guards?: Effect.Effect<ReadonlyArray<Guard>>
  /** More views to show after the guards (retry budgets with {@link viewOfBudget}, your own). */
  readonly extras?: Effect.Effect<ReadonlyArray<GuardView>>
  /** Failed calls by reason, cumulative. Default: read from the guards (see the module's Gotchas). */
  readonly failures?: Effect.Effect<Readonly<Record<string, number>>>
  /** Load by stage, cumulative, offered first. Default: calls offered to the breakers, and let through. */
  readonly traffic?: Effect.Effect<Readonly<Record<string, number>>>
  /** Calls the failures are out of, cumulative. Default: the first `traffic` figure. */
  readonly calls?: Effect.Effect<number>
  /**
   * What has HTTP edges to show (a `ResilientHttpClient`, a `RateLimitMiddleware`), read with each
   * document: per outbound target latency, responses, refusals and pool; per inbound policy latency,
   * responses, refusals and live keys. Their refusals for an exhausted pool are added to the default
   * breakdown as "pool exhausted". Default none.
   */
  readonly http?: Effect.Effect<ReadonlyArray<Health.HttpSource>>
  /**
   * How often a document is computed and sent on `/breakwater/events`: once per interval for all
   * viewers together (the snapshot route reuses it too). Default 1 second; finite, at least 1 ms.
   */
  readonly interval?: Duration.DurationInput
  /**
   * Documents kept (one per `interval`, taken in the background) and sent first to a page that
   * connects, so that its charts start with the recent past. Default 300; 0 keeps none, and then
   * documents are computed only while someone watches the event stream.
   */
  readonly history?: number
  /**
   * Bytes of encoded documents the history may hold, oldest dropped first. Default 4 MiB (the 300
   * documents of about 50 guards); 0 keeps none.
   */
  readonly maxHistoryBytes?: number
  /**
   * Viewers of `/breakwater/events` at once; past it the route answers 503 with `Retry-After`.
   * Default 20; 0 turns the event stream off. A viewer that reads slower than documents come skips
   * documents (it is sent the newest ones): nothing is buffered per viewer beyond two shared documents.
   */
  readonly maxViewers?: number
  /**
   * Decides, for each request to every route of {@link router} (page, assets, snapshot, events,
   * health, `/metrics`), whether it is served: check a header, a token, a client certificate. A
   * failure or defect refuses (403). Default: every request that passes `allowedHosts` is served.
   */
  readonly authorize?: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<Access, unknown>
  /** The `WWW-Authenticate` header of a 401. Default `Bearer realm="breakwater"`. */
  readonly challenge?: string
  /**
   * Host names answered besides those always answered, against DNS rebinding. Always answered: IP
   * literals (the address the server is bound to among them: Node reports a bound name as its
   * address, and a rebinding page cannot send an IP literal as its `Host`), `localhost` and
   * `*.localhost`. Add a name (`"ops.example.com"`), a domain with its subdomains (`".example.com"`),
   * or `"*"` for any. Other `Host` headers, and none, are answered 403. Default none.
   */
  readonly allowedHosts?: ReadonlyArray<string>
  /**
   * Hides what the snapshot, the events and the health route show: `configuration` sends every
   * guard's configuration as `{}`; `names` replaces guard names (HTTP targets' host names among them)
   * with stable pseudonyms (`guard-<hmac>`, keyed per dashboard); `true` both. Default `false`.
   * `/metrics` is not redacted (its labels are the names): mount it elsewhere when names are secret.
   */
  readonly redact?: boolean | { readonly configuration?: boolean; readonly names?: boolean }
}

/**
 * A running dashboard: its current document, its history, and its viewers.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Dashboard from "breakwater/Dashboard"
 *
 * const open = Effect.map(
 *   Effect.flatMap(Dashboard.Dashboard, (dashboard) => dashboard.document),
 *   (document) => document.guards.filter((g) => g.state === "Open").map((g) => g.name)
 * )
 * ```
 *
 * @since 0.1.0
 */
export interface Dashboard {
  /** A fresh document (computed on each use, never redacted: for the program itself). */
  readonly document: Effect.Effect<Document>
  /** The guards' health (extras left out). */
  readonly health: Effect.Effect<Health.Health>
  readonly interval: Duration.Duration
  /** The documents kept (see {@link Options.history}), oldest first, as sent (redacted if asked). */
  readonly history: Effect.Effect<ReadonlyArray<Document>>
  /** Viewers of the event stream now. */
  readonly viewers: Effect.Effect<number>
  /** The charts' long history (see {@link TimelinePoint}), oldest first; empty without a history. */
  readonly timeline: Effect.Effect<ReadonlyArray<TimelinePoint>>
  /** What the histories hold now: encoded documents (count, bytes) and timeline points. */
  readonly footprint: Effect.Effect<{
    readonly historyFrames: number
    readonly historyBytes: number
    readonly timelinePoints: number
  }>
}

/**
 * The dashboard as a service, read by {@link router}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Dashboard from "breakwater/Dashboard"
 *
 * const title = Effect.flatMap(Dashboard.Dashboard, (d) => Effect.map(d.document, (doc) => doc.title))
 * ```
 *
 * @since 0.1.0
 */
export const Dashboard = Context.GenericTag<Dashboard>("breakwater/Dashboard")

/**
 * A retry budget's view: retries available now, deposits and withdrawals of its ttl, refusals.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RetryBudget } from "breakwater"
 * import * as Dashboard from "breakwater/Dashboard"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* RetryBudget.make({ name: "payments", percentCanRetry: 0.2 })
 *   return yield* Dashboard.viewOfBudget(budget) // { kind: "RetryBudget", name: "payments", ... }
 * })
 * ```
 *
 * @since 0.1.0
 */
export const viewOfBudget = (budget: RetryBudget): Effect.Effect<GuardView> =>
  Effect.map(budget.metrics, (metrics) => ({
    kind: "RetryBudget",
    name: budget.name,
    status: metrics.availableRetries > 0 ? "UP" : "DEGRADED",
    configuration: {},
    metrics: { ...metrics }
  }))

/**
 * Creates a dashboard over `options`' sources (see {@link Options}).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 * import * as Dashboard from "breakwater/Dashboard"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 5 })
 *     const dashboard = yield* Dashboard.make({ guards: Effect.succeed([bulkhead]) })
 *     return yield* dashboard.document // { title: "breakwater", guards: [{ kind: "Bulkhead", ... }], ... }
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<Dashboard, InvalidConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = yield* decodeOptions(DashboardConfig.OptionsSchema, "Dashboard", {
      interval: options.interval,
      history: options.history,
      maxHistoryBytes: options.maxHistoryBytes,
      maxViewers: options.maxViewers,
      allowedHosts: options.allowedHosts,
      redact: options.redact,
      challenge: options.challenge
    })
    const scope = yield* Effect.scope
    const collector = yield* Effect.serviceOption(Metrics.Collector)
    const guards = options.guards ??
      Option.match(collector, { onNone: () => Effect.succeed([]), onSome: (c) => c.guards })
    const extras = options.extras ?? Effect.succeed([])
    const states = new figures.StateClock()
    const followed = new WeakSet<Guard>()
    // Transitions come from each guard's rare events (no per-call event is built for us), followed
    // from the first document that shows the guard until the guard or the dashboard ends.
    const follow = (guard: Guard) =>
      Effect.suspend(() => {
        if (followed.has(guard)) return Effect.void
        followed.add(guard)
        let hub: ReturnType<typeof hubOf>
        try {
          hub = hubOf(guard)
        } catch {
          return Effect.void // a kind without events: time in state from the first look
        }
        // Subscribed before this returns (a transition right after the first document is seen), in
        // a scope of its own, closed when the follower ends: when the guard's hub shuts down (its
        // scope closed), so that a dashboard outliving many guards (runs, a keyed limiter's idle
        // keys) keeps nothing of theirs.
        return Effect.gen(function*() {
          const own = yield* Scope.fork(scope, ExecutionStrategy.sequential)
          const queue = yield* Scope.extend(hub.rareSubscription, own)
          yield* Stream.fromQueue(queue).pipe(
            Stream.runForEach((event) =>
              Effect.sync(() => {
                const e = event as {
                  readonly _tag: string
                  readonly at: number
                  readonly from?: unknown
                  readonly to?: unknown
                }
                if (e._tag === "StateTransition") {
                  states.transition({
                    at: e.at,
                    kind: guard.kind,
                    name: guard.name,
                    from: String(e.from),
                    to: String(e.to)
                  })
                }
              })
            ),
            Effect.ensuring(Scope.close(own, Exit.void)),
            Effect.forkIn(scope)
          )
        })
      })
    const title = typeof options.title === "string" || options.title === undefined
      ? Effect.succeed(options.title ?? "breakwater")
      : options.title
    const httpSources = options.http
    const document = Effect.gen(function*() {
      const shown = yield* guards
      yield* Effect.forEach(shown, follow, { discard: true })
      const snapshot = yield* Snapshot.ofGuards(shown, httpSources === undefined ? [] : yield* httpSources)
      const more = yield* extras
      const now = yield* Clock.currentTimeMillis
      const views = states.annotate([...snapshot.guards, ...more], now)
      const failures = options.failures === undefined
        ? figures.defaultFailures(views, snapshot.http)
        : yield* options.failures
      const traffic = options.traffic === undefined ? figures.defaultTraffic(views) : yield* options.traffic
      const calls = options.calls === undefined ? (Object.values(traffic)[0] ?? 0) : yield* options.calls
      return {
        title: yield* title,
        at: snapshot.at,
        status: snapshot.status,
        guards: views,
        failures,
        traffic,
        calls,
        transitions: states.transitions,
        ...(snapshot.http === undefined ? {} : { http: snapshot.http })
      }
    })
    const interval = Duration.decode(settings.interval)
    const redaction: access.Redaction = typeof settings.redact === "boolean"
      ? { configuration: settings.redact, names: settings.redact }
      : { configuration: settings.redact.configuration ?? false, names: settings.redact.names ?? false }
    const pseudonym = access.pseudonyms()
    const redacted = (document: Document): Document =>
      !redaction.names && !redaction.configuration ? document : {
        ...document,
        guards: document.guards.map((view) => access.redactView(view, redaction, pseudonym)),
        transitions: redaction.names
          ? document.transitions.map((t) => ({ ...t, name: pseudonym(t.name) }))
          : document.transitions
      }

    // One document per interval for everyone: the event stream's viewers, the snapshot route and
    // the history share it, encoded once; viewers are sent the same bytes.
    let sequence = 0
    const frameOf = Effect.map(document, (taken): Frame => {
      const shown = redacted(taken)
      const point = timeline.pointOf(shown)
      const json = toJson({ ...shown, point })
      return { sequence: ++sequence, json, bytes: encoder.encode(`data: ${json}\n\n`), point }
    })
    const latest = yield* Effect.cachedWithTTL(frameOf, interval)
    const history = new FrameHistory(settings.history, settings.maxHistoryBytes)
    const keepsHistory = settings.history > 0 && settings.maxHistoryBytes > 0
    // The charts' long, downsampled history: fed by the same one computation per interval.
    const points = new timeline.Timeline()
    let timelineJson: { readonly sequence: number; readonly json: string } | undefined
    // Sliding: a viewer slower than the documents skips the older ones, and nothing waits for it.
    const frames = yield* PubSub.sliding<Frame>(2)
    const watching = yield* SubscriptionRef.make(0)
    let published: Frame | undefined
    const tick = Effect.flatMap(latest, (frame) =>
      Effect.suspend(() => {
        if (published !== undefined && frame.sequence <= published.sequence) return Effect.void
        published = frame
        history.push(frame.bytes)
        if (keepsHistory) points.push(frame.point)
        return PubSub.publish(frames, frame)
      }))
    const someoneWatches = watching.changes.pipe(Stream.filter((n) => n > 0), Stream.take(1), Stream.runDrain)
    // A source that dies (a user's `extras`) costs one document, not the stream for good.
    const safeTick = Effect.catchAllCause(
      tick,
      (cause) => Effect.logWarning("breakwater dashboard: no document", cause)
    )
    yield* Effect.forkIn(
      Effect.forever(Effect.zipRight(
        keepsHistory ? safeTick : Effect.zipRight(someoneWatches, safeTick),
        Effect.sleep(interval)
      )),
      scope
    )

    const watch: Serving["watch"] = Effect.gen(function*() {
      // Subscribed before counted: the first viewer wakes the computation, whose frame it must see.
      const subscription = yield* PubSub.subscribe(frames)
      const admitted = yield* Effect.acquireRelease(
        SubscriptionRef.modify(watching, (n) => n >= settings.maxViewers ? [false, n] : [true, n + 1]),
        (admitted) => admitted ? SubscriptionRef.update(watching, (n) => n - 1) : Effect.void
      )
      if (!admitted) return Option.none()
      const seen = published?.sequence ?? 0
      const past = keepsHistory ? history.frames() : published === undefined ? [] : [published.bytes]
      return Option.some(
        Stream.concat(
          Stream.fromIterable(past),
          Stream.fromQueue(subscription).pipe(
            Stream.filter((frame) => frame.sequence > seen),
            Stream.map((frame) => frame.bytes)
          )
        ).pipe(Stream.rechunk(1)) // one write per frame: the server waits for each to drain
      )
    })

    const health = Effect.flatMap(
      guards,
      (shown) =>
        httpSources === undefined
          ? Health.ofGuards(shown)
          : Effect.flatMap(httpSources, (sources) => Health.ofGuards(shown, sources))
    )
    const dashboard: Dashboard = {
      document,
      health,
      interval,
      history: Effect.sync(() => history.frames().map((bytes) => JSON.parse(decoder.decode(bytes).slice(6)))),
      viewers: SubscriptionRef.get(watching),
      timeline: Effect.sync(() => points.points()),
      footprint: Effect.sync(() => {
        const frames = history.frames()
        return {
          historyFrames: frames.length,
          historyBytes: frames.reduce((sum, frame) => sum + frame.byteLength, 0),
          timelinePoints: points.size
        }
      })
    }
    // Encoded once per document, whatever the number of pages asking.
    const timelineBody = Effect.sync(() => {
      const at = published?.sequence ?? 0
      if (timelineJson === undefined || timelineJson.sequence !== at) {
        timelineJson = { sequence: at, json: JSON.stringify(points.points()) }
      }
      return timelineJson.json
    })
    serving.set(dashboard, {
      title,
      snapshot: Effect.map(latest, (frame) => frame.json),
      timeline: timelineBody,
      health: Effect.map(health, (report) => access.redactHealth(report, redaction, pseudonym)),
      watch,
      settings,
      authorize: options.authorize
    })
    return dashboard
  })

/**
 * A Layer providing the {@link Dashboard} service, for {@link router}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Registry } from "breakwater"
 * import * as Dashboard from "breakwater/Dashboard"
 *
 * const Live = Effect.map(Registry.make(), (registry) => Dashboard.layer({ title: "checkout", guards: registry.guards }))
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<Dashboard, InvalidConfigError> =>
  Layer.scoped(Dashboard, make(options))

/**
 * A document as JSON.
 *
 * @example
 * ```ts
 * import * as Dashboard from "breakwater/Dashboard"
 *
 * const body = Dashboard.toJson({
 *   title: "t",
 *   at: 0,
 *   status: "UP",
 *   guards: [],
 *   failures: {},
 *   traffic: {},
 *   calls: 0,
 *   transitions: []
 * })
 * ```
 *
 * @since 0.1.0
 */
export const toJson = (document: Document): string => JSON.stringify(document)

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The page's own files sit in `src/dashboard/`, beside this module or (built) beside `dist/`. */
const ownFile = (name: string): string => {
  const beside = fileURLToPath(new URL(`./${name}`, import.meta.url))
  return fs.existsSync(beside) ? beside : fileURLToPath(new URL(`../../src/dashboard/${name}`, import.meta.url))
}

const fromNodeModules = (specifier: string) => () => createRequire(import.meta.url).resolve(specifier)

const assetFiles: Record<string, { readonly contentType: string; readonly path: () => string }> = {
  "dashboard.js": { contentType: "text/javascript; charset=utf-8", path: () => ownFile("dashboard.js") },
  "dashboard.css": { contentType: "text/css; charset=utf-8", path: () => ownFile("dashboard.css") },
  "uPlot.js": { contentType: "text/javascript; charset=utf-8", path: fromNodeModules("uplot/dist/uPlot.iife.min.js") },
  "uPlot.css": { contentType: "text/css; charset=utf-8", path: fromNodeModules("uplot/dist/uPlot.min.css") }
}

const assetNames = Object.keys(assetFiles)

const assetCache = new Map<string, { readonly body: string; readonly contentType: string }>()

/** An asset's text, read once: a missing file (a broken install) is a defect. */
const asset = (name: string) =>
  Effect.sync(() => {
    let file = assetCache.get(name)
    if (file === undefined) {
      const spec = assetFiles[name]!
      assetCache.set(name, file = { body: fs.readFileSync(spec.path(), "utf8"), contentType: spec.contentType })
    }
    return file
  })

/** How a dashboard made by {@link make} serves its routes. */
interface Serving {
  readonly title: Effect.Effect<string>
  /** The JSON of the interval's shared document. */
  readonly snapshot: Effect.Effect<string>
  /** The JSON of the charts' long history. */
  readonly timeline: Effect.Effect<string>
  /** The health report as its readers may see it. */
  readonly health: Effect.Effect<Health.Health>
  /** The event stream of one more viewer, for the request's scope; none past `maxViewers`. */
  readonly watch: Effect.Effect<Option.Option<Stream.Stream<Uint8Array>>, never, Scope.Scope>
  readonly settings: typeof DashboardConfig.OptionsSchema.Type
  readonly authorize: Options["authorize"]
}

interface Frame {
  readonly sequence: number
  readonly json: string
  readonly bytes: Uint8Array
  readonly point: timeline.Point
}

const serving = new WeakMap<Dashboard, Serving>()

const servingOf = (dashboard: Dashboard): Effect.Effect<Serving> => {
  const found = serving.get(dashboard)
  return found === undefined
    ? Effect.dieMessage("Dashboard.router serves a Dashboard made by Dashboard.make or Dashboard.layer")
    : Effect.succeed(found)
}

/**
 * A web `Request` handled in process (`HttpApp.toWebHandler`) may carry no `Host` header: its absolute
 * URL names the host instead. A socket's request always has the header (HTTP/1.1 requires it).
 */
const hostOfUrl = (url: string): string | undefined => {
  if (!/^https?:\/\//i.test(url)) return undefined
  try {
    return new URL(url).host
  } catch {
    return undefined
  }
}

/** The response refusing `request`, if it is refused: a `Host` not allowed first, then `authorize`. */
const admission = (request: HttpServerRequest.HttpServerRequest, own: Serving) =>
  Effect.gen(function*() {
    const host = access.hostnameOf(request.headers["host"] ?? hostOfUrl(request.originalUrl))
    if (!access.hostAllowed(host, own.settings.allowedHosts)) {
      return Option.some(HttpServerResponse.text("host not allowed", { status: 403 }))
    }
    if (own.authorize === undefined) return Option.none()
    // Fails closed: an authorize that fails or dies refuses.
    const decision = yield* Effect.catchAllCause(own.authorize(request), () => Effect.succeed<Access>("forbidden"))
    switch (decision) {
      case "allow":
        return Option.none()
      case "unauthenticated":
        return Option.some(
          HttpServerResponse.text("unauthenticated", {
            status: 401,
            headers: { "www-authenticate": own.settings.challenge }
          })
        )
      default:
        return Option.some(HttpServerResponse.text("forbidden", { status: 403 }))
    }
  })

const secure = <R>(
  handler: (serving: Serving, dashboard: Dashboard) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, R>,
  cacheControl = "no-store"
) =>
  Effect.gen(function*() {
    const dashboard = yield* Dashboard
    const own = yield* servingOf(dashboard)
    const request = yield* HttpServerRequest.HttpServerRequest
    const refusal = yield* admission(request, own)
    return Option.isSome(refusal) ? refusal.value : yield* handler(own, dashboard)
  }).pipe(
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause)
        ? Effect.failCause(cause)
        : Effect.succeed(HttpServerResponse.text("internal error", { status: 500 }))
    ),
    Effect.map((response) =>
      HttpServerResponse.setHeaders(response, {
        ...access.securityHeaders,
        "cache-control": response.status === 200 ? cacheControl : "no-store"
      })
    )
  )

const sse = secure((own) =>
  Effect.map(own.watch, (stream) =>
    Option.isNone(stream)
      ? HttpServerResponse.text("too many viewers", {
        status: 503,
        headers: { "retry-after": "10" }
      })
      : HttpServerResponse.stream(stream.value, {
        contentType: "text/event-stream",
        headers: { "x-accel-buffering": "no" }
      }))
)

const assetRoute = secure(() =>
  Effect.flatMap(HttpRouter.params, (params) => {
    const name = params["file"] ?? ""
    if (!assetNames.includes(name)) return HttpServerResponse.text("no such asset", { status: 404 })
    return Effect.map(asset(name), (file) => HttpServerResponse.text(file.body, { contentType: file.contentType }))
  }), "private, max-age=3600")

const metricsRoute = secure(() =>
  Effect.flatMap(
    Effect.serviceOption(Prometheus.Prometheus),
    Option.match({
      onNone: () => HttpServerResponse.text("no Prometheus service is provided", { status: 404 }),
      onSome: (prometheus) => Effect.provideService(Prometheus.httpApp, Prometheus.Prometheus, prometheus)
    })
  )
)

/**
 * The dashboard's routes (see the module documentation), reading the {@link Dashboard} service.
 * Mount it beside your own routes with `HttpRouter.concat`. Every route checks the `Host` header and
 * `authorize` (see {@link Options}) and answers with security headers (a Content-Security-Policy the
 * page satisfies, `X-Frame-Options: DENY`, `nosniff`, `no-referrer`, `Cache-Control: no-store` for data).
 *
 * @example
 * ```ts
 * import { HttpApp, HttpRouter, HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 * import * as Dashboard from "breakwater/Dashboard"
 *
 * const app = HttpRouter.empty.pipe(HttpRouter.get("/", HttpServerResponse.text("hello")), HttpRouter.concat(Dashboard.router))
 * const handler = HttpApp.toWebHandlerLayer(app, Dashboard.layer({ title: "checkout" }))
 * ```
 *
 * @since 0.1.0
 */
export const router: HttpRouter.HttpRouter<never, Dashboard> = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/breakwater",
    secure((own) => Effect.map(own.title, (title) => HttpServerResponse.html(renderPage(title))))
  ),
  HttpRouter.get(
    "/breakwater/snapshot",
    secure((own) =>
      Effect.map(own.snapshot, (json) => HttpServerResponse.text(json, { contentType: "application/json" }))
    )
  ),
  HttpRouter.get(
    "/breakwater/timeline",
    secure((own) =>
      Effect.map(own.timeline, (json) => HttpServerResponse.text(json, { contentType: "application/json" }))
    )
  ),
  HttpRouter.get("/breakwater/events", sse),
  HttpRouter.get(
    "/breakwater/health",
    secure((own) =>
      Effect.map(own.health, (health) =>
        // The Health Schema encodes to itself: JSON.stringify writes the same text, without the
        // Schema walk that made a 1,000-guard probe several times slower.
        HttpServerResponse.text(JSON.stringify(health), {
          status: health.status === "DOWN" ? 503 : 200,
          contentType: "application/json"
        }))
    )
  ),
  HttpRouter.get("/breakwater/assets/:file", assetRoute),
  HttpRouter.get("/metrics", metricsRoute),
  // Anything else under the dashboard's prefix: refused or 404, with the same headers.
  HttpRouter.all("/breakwater/*", secure(() => HttpServerResponse.text("not found", { status: 404 })))
)

/**
 * One run recorded for {@link report}: its label and the documents taken during it, oldest first.
 *
 * @example
 * ```ts
 * import type * as Dashboard from "breakwater/Dashboard"
 *
 * const empty: Dashboard.Recording = { label: "baseline", documents: [] }
 * ```
 *
 * @since 0.1.0
 */
export interface Recording {
  readonly label: string
  readonly documents: ReadonlyArray<Document>
}

/**
 * A self-contained HTML page (charting library, styles and data inlined) showing recorded runs with
 * the dashboard's charts and cards: for a report file, a CI artifact, an e-mail. `table` is shown
 * first (a header row and data rows).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Dashboard from "breakwater/Dashboard"
 *
 * const html = Dashboard.report({
 *   title: "load test",
 *   table: [["run", "failed"], ["baseline", "0"]],
 *   recordings: [{ label: "baseline", documents: [] }]
 * }) // Effect<string>: "<!doctype html>..."
 * ```
 *
 * @since 0.1.0
 */
export const report = (options: {
  readonly title: string
  readonly table?: ReadonlyArray<ReadonlyArray<string>>
  readonly notes?: ReadonlyArray<string>
  readonly recordings: ReadonlyArray<Recording>
}): Effect.Effect<string> =>
  Effect.map(
    Effect.all([asset("uPlot.css"), asset("dashboard.css"), asset("uPlot.js"), asset("dashboard.js")]),
    ([uplotCss, css, uplotJs, js]) =>
      renderPage(options.title, {
        styles: uplotCss.body + "\n" + css.body,
        scripts: uplotJs.body + "\n" + js.body,
        data: {
          table: options.table ?? [],
          notes: options.notes ?? [],
          // The state-change log reads the last document's transitions: the others' copies only add weight.
          recordings: options.recordings.map((recording) => ({
            label: recording.label,
            points: recording.documents.map(timeline.pointOf),
            documents: recording.documents.map((document, i) =>
              i === recording.documents.length - 1 ? document : { ...document, transitions: undefined }
            )
          }))
        }
      })
  )
