/**
 * A live web dashboard of every guard, for an Effect HTTP server (`@effect/platform` in the Effect 3
 * build, `effect/http` in the Effect 4 build, where {@link router} is a routes Layer): breaker states with their time
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
 * // Effect 3
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
 * ```ts
 * // Effect 4
 * import { NodeHttpServer } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import { HttpRouter } from "effect/http"
 * import { Metrics, Registry } from "breakwater"
 * import * as Dashboard from "breakwater/Dashboard"
 * import { createServer } from "node:http"
 *
 * const Server = HttpRouter.serve(Dashboard.router.pipe(HttpRouter.provideRequest(Dashboard.layer({ title: "checkout" })))).pipe(
 *   Layer.provide(Metrics.layer()),
 *   Layer.provide(Registry.layer()),
 *   Layer.provide(NodeHttpServer.layer(createServer, { port: 8080 }))
 * )
 * ```
 *
 * @since 0.1.0
 */
import { decodeOptions, forkScope, layerScoped, refChanges, scopeProvide, subscriptionStream, toDuration } from "#port"
import { HttpServerResponse, type Routes, routes } from "#port/httpServer"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { InvalidConfigError } from "../errors/InvalidConfigError.js"
import { hubOf } from "../guards/internal/guardInternals.js"
import type { RetryBudget } from "../guards/RetryBudget.js"
import * as Health from "../observability/Health.js"
import * as Metrics from "../observability/Metrics.js"
import * as Snapshot from "../observability/Snapshot.js"
import type { Guard } from "../registry/Registry.js"
import * as access from "./internal/dashboardAccess.js"
import { Dashboard, type Document, type GuardView, type Options, type Recording } from "./internal/dashboardApi.js"
import { asset } from "./internal/dashboardAssets.js"
import * as DashboardConfig from "./internal/dashboardConfig.js"
import * as figures from "./internal/dashboardFigures.js"
import { FrameHistory } from "./internal/dashboardFrames.js"
import { renderPage } from "./internal/dashboardPage.js"
import { assetRoute, type Frame, metricsRoute, secure, type Serving, serving, sse } from "./internal/dashboardRoutes.js"
import * as timeline from "./internal/dashboardTimeline.js"
export {
  type Access,
  Dashboard,
  type Document,
  type GuardView,
  type Options,
  type Recording,
  type TimelinePoint,
  type Transition
} from "./internal/dashboardApi.js"

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
          const own = yield* forkScope(scope)
          const queue = yield* scopeProvide(hub.rareSubscription, own)
          yield* subscriptionStream(queue).pipe(
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
    const interval = toDuration(settings.interval)
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
    const someoneWatches = refChanges(watching).pipe(Stream.filter((n) => n > 0), Stream.take(1), Stream.runDrain)
    // A source that dies (a user's `extras`) costs one document, not the stream for good.
    const safeTick = Effect.matchCauseEffect(tick, {
      onFailure: (cause) => Effect.logWarning("breakwater dashboard: no document", cause),
      onSuccess: () => Effect.void
    })
    yield* Effect.forkIn(
      Effect.forever(Effect.andThen(
        keepsHistory ? safeTick : Effect.andThen(someoneWatches, safeTick),
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
          subscriptionStream(subscription).pipe(
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
  layerScoped(Dashboard, make(options))

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

/**
 * The dashboard's routes (see the module documentation), reading the {@link Dashboard} service.
 * Effect 3 (`@effect/platform`): an `HttpRouter` value; mount it beside your own routes with
 * `HttpRouter.concat`, as below. Effect 4 (`effect/http`): a routes Layer (`HttpRouter.addAll`);
 * merge it with your own route Layers and serve them with `HttpRouter.serve`, giving the
 * {@link Dashboard} service to the requests with `HttpRouter.provideRequest(Dashboard.layer())`, e.g.
 * `HttpRouter.serve(Layer.mergeAll(MyRoutes, Dashboard.router).pipe(HttpRouter.provideRequest(Dashboard.layer())))`. Every route checks the `Host` header and
 * `authorize` (see {@link Options}) and answers with security headers (a Content-Security-Policy the
 * page satisfies, `X-Frame-Options: DENY`, `nosniff`, `no-referrer`, `Cache-Control: no-store` for data).
 *
 * @example
 * ```ts
 * // Effect 3
 * import { HttpApp, HttpRouter, HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 * import * as Dashboard from "breakwater/Dashboard"
 *
 * const app = HttpRouter.empty.pipe(HttpRouter.get("/", HttpServerResponse.text("hello")), HttpRouter.concat(Dashboard.router))
 * const handler = HttpApp.toWebHandlerLayer(app, Dashboard.layer({ title: "checkout" }))
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Effect, Layer } from "effect"
 * import { HttpRouter, HttpServerResponse } from "effect/http"
 * import * as Dashboard from "breakwater/Dashboard"
 *
 * const Hello = HttpRouter.add("GET", "/", Effect.succeed(HttpServerResponse.text("hello")))
 * const routes = Layer.mergeAll(Hello, Dashboard.router).pipe(HttpRouter.provideRequest(Dashboard.layer({ title: "checkout" })))
 * const { handler } = HttpRouter.toWebHandler(routes)
 * ```
 *
 * @since 0.1.0
 */
export const router: Routes<never, Dashboard> = routes([
  [
    "GET",
    "/breakwater",
    secure((own) => Effect.map(own.title, (title) => HttpServerResponse.html(renderPage(title))))
  ],
  [
    "GET",
    "/breakwater/snapshot",
    secure((own) =>
      Effect.map(own.snapshot, (json) => HttpServerResponse.text(json, { contentType: "application/json" }))
    )
  ],
  [
    "GET",
    "/breakwater/timeline",
    secure((own) =>
      Effect.map(own.timeline, (json) => HttpServerResponse.text(json, { contentType: "application/json" }))
    )
  ],
  ["GET", "/breakwater/events", sse],
  [
    "GET",
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
  ],
  ["GET", "/breakwater/assets/:file", assetRoute],
  ["GET", "/metrics", metricsRoute],
  // Anything else under the dashboard's prefix: refused or 404, with the same headers.
  ["*", "/breakwater/*", secure(() => Effect.succeed(HttpServerResponse.text("not found", { status: 404 })))]
])

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
