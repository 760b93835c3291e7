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
 * | `GET /breakwater/events` | server-sent events: the recent history, then one {@link Document} per `interval` |
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
 * - The routes are not protected: mount them where only operators can reach them.
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
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"
import * as Health from "./Health.js"
import * as figures from "./internal/dashboardFigures.js"
import { renderPage } from "./internal/dashboardPage.js"
import { hubOf } from "./internal/guardInternals.js"
import * as Metrics from "./Metrics.js"
import * as Prometheus from "./Prometheus.js"
import type { Guard } from "./Registry.js"
import type { RetryBudget } from "./RetryBudget.js"
import * as Snapshot from "./Snapshot.js"

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
}

/**
 * Where the dashboard takes what it shows. Every field is optional.
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
 *   interval: "500 millis"
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
  /** How often `/breakwater/events` sends a document. Default 1 second. */
  readonly interval?: Duration.DurationInput
  /**
   * Documents kept (one per `interval`, taken in the background) and sent first to a page that
   * connects, so that its charts start with the recent past. Default 300; 0 keeps none.
   */
  readonly history?: number
}

/**
 * A running dashboard: its current document, and the pace of its event stream.
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
  readonly document: Effect.Effect<Document>
  /** The guards' health (extras left out). */
  readonly health: Effect.Effect<Health.Health>
  readonly interval: Duration.Duration
  /** The documents kept (see {@link Options.history}), oldest first. */
  readonly history: Effect.Effect<ReadonlyArray<Document>>
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
export const make = (options: Options = {}): Effect.Effect<Dashboard, never, Scope.Scope> =>
  Effect.gen(function*() {
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
    const document = Effect.gen(function*() {
      const shown = yield* guards
      yield* Effect.forEach(shown, follow, { discard: true })
      const snapshot = yield* Snapshot.ofGuards(shown)
      const more = yield* extras
      const now = yield* Clock.currentTimeMillis
      const views = states.annotate([...snapshot.guards, ...more], now)
      const failures = options.failures === undefined ? figures.defaultFailures(views) : yield* options.failures
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
        transitions: states.transitions
      }
    })
    const interval = Duration.decode(options.interval ?? "1 second")
    const keep = Math.max(0, Math.floor(options.history ?? 300))
    const kept: Array<Document> = []
    if (keep > 0) {
      yield* Effect.forkIn(
        Effect.repeat(
          Effect.flatMap(document, (taken) =>
            Effect.sync(() => {
              kept.push(taken)
              if (kept.length > keep) kept.shift()
            })),
          Schedule.spaced(interval)
        ),
        scope
      )
    }
    return {
      document,
      health: Effect.flatMap(guards, Health.ofGuards),
      interval,
      history: Effect.sync(() => kept.slice())
    }
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
export const layer = (options: Options = {}): Layer.Layer<Dashboard> => Layer.scoped(Dashboard, make(options))

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

/** The page's own files sit in `src/dashboard/`, beside this module or (built) beside `dist/`. */
const ownFile = (name: string): string => {
  const beside = fileURLToPath(new URL(`./dashboard/${name}`, import.meta.url))
  return fs.existsSync(beside) ? beside : fileURLToPath(new URL(`../src/dashboard/${name}`, import.meta.url))
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

const sse = Effect.map(Dashboard, (dashboard) =>
  HttpServerResponse.stream(
    Stream.concat(
      Stream.flatMap(Stream.fromEffect(dashboard.history), Stream.fromIterable),
      Stream.repeatEffectWithSchedule(dashboard.document, Schedule.spaced(dashboard.interval))
    ).pipe(
      Stream.map((document) => encoder.encode(`data: ${toJson(document)}\n\n`))
    ),
    { contentType: "text/event-stream", headers: { "cache-control": "no-cache", "x-accel-buffering": "no" } }
  ))

const assetRoute = Effect.flatMap(HttpRouter.params, (params) => {
  const name = params["file"] ?? ""
  if (!assetNames.includes(name)) return HttpServerResponse.text("no such asset", { status: 404 })
  return Effect.map(asset(name), (file) =>
    HttpServerResponse.text(file.body, {
      contentType: file.contentType,
      headers: { "cache-control": "max-age=3600" }
    }))
})

const metricsRoute = Effect.flatMap(
  Effect.serviceOption(Prometheus.Prometheus),
  Option.match({
    onNone: () => HttpServerResponse.text("no Prometheus service is provided", { status: 404 }),
    onSome: (prometheus) => Effect.provideService(Prometheus.httpApp, Prometheus.Prometheus, prometheus)
  })
)

/**
 * The dashboard's routes (see the module documentation), reading the {@link Dashboard} service.
 * Mount it beside your own routes with `HttpRouter.concat`.
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
    Effect.flatMap(
      Dashboard,
      (dashboard) => Effect.map(dashboard.document, (document) => HttpServerResponse.html(renderPage(document.title)))
    )
  ),
  HttpRouter.get(
    "/breakwater/snapshot",
    Effect.flatMap(
      Dashboard,
      (dashboard) =>
        Effect.map(dashboard.document, (document) =>
          HttpServerResponse.text(toJson(document), {
            contentType: "application/json",
            headers: { "cache-control": "no-cache" }
          }))
    )
  ),
  HttpRouter.get("/breakwater/events", sse),
  HttpRouter.get(
    "/breakwater/health",
    Effect.flatMap(
      Dashboard,
      (dashboard) =>
        Effect.map(dashboard.health, (health) =>
          HttpServerResponse.text(Health.toJson(health), {
            status: health.status === "DOWN" ? 503 : 200,
            contentType: "application/json"
          }))
    )
  ),
  HttpRouter.get("/breakwater/assets/:file", assetRoute),
  HttpRouter.get("/metrics", metricsRoute)
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
            documents: recording.documents.map((document, i) =>
              i === recording.documents.length - 1 ? document : { ...document, transitions: undefined }
            )
          }))
        }
      })
  )
